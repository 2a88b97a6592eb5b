"""Text that is safe to print on a terminal, one record a line."""

from __future__ import annotations

import re

# C0 and C1 controls (newline, escape, ...), DEL, zero-width and bidirectional-override marks,
# line/paragraph separators, and the surrogates that undecodable file-name bytes become.
_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff\ud800-\udfff]"
)
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group(0)
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(text: object) -> str:
    """``text`` with every control or invisible character written as an escape.

    A file name may hold a newline, a terminal escape sequence or a right-to-left override;
    printed raw, it would split a one-line-per-file report or drive the terminal. Everything
    MediaMind prints that contains a name from the outside world goes through here.
    """
    return _UNSAFE.sub(_escape, str(text))
