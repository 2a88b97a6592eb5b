"""Transcripts: segments with timings, ~30 s chunks, and the SRT/VTT/TXT/JSON formats."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import UnsupportedMediaError

CHUNK_TARGET_SECONDS = 30.0


@dataclass(frozen=True)
class Word:
    """One recognised word with its timing and the model's probability."""

    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """A timed span of transcript text (a Whisper segment or a subtitle cue).

    ``speaker`` is the item-local speaker label from diarization (0 = the first voice), or
    ``None`` when the item was not diarized; the library maps labels to speaker profiles.
    """

    start: float
    end: float
    text: str
    words: tuple[Word, ...] | None = None
    speaker: int | None = None


@dataclass(frozen=True)
class ChunkSpan:
    """A ~30 s window of consecutive segments: the unit that search and answers use.

    Attributes:
        idx: Position of the chunk in its item.
        start: Start of the first segment, seconds.
        end: End of the last segment, seconds.
        text: The segments' text joined with spaces.
        first_segment: Index of the first segment in the item.
        last_segment: Index of the last segment in the item (inclusive).
    """

    idx: int
    start: float
    end: float
    text: str
    first_segment: int
    last_segment: int


def format_timestamp(seconds: float) -> str:
    """Display form of a time: ``m:ss`` below an hour, else ``h:mm:ss``."""
    total = max(0, int(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def make_chunks(
    segments: Sequence[Segment], target: float = CHUNK_TARGET_SECONDS
) -> list[ChunkSpan]:
    """Cut segments into windows of about ``target`` seconds, on segment boundaries.

    A segment is added to the open window while the window is shorter than ``target``; the
    segment that would carry it past the target goes in only when that lands closer to the
    target than stopping short does. A single segment longer than the target is a chunk of
    its own. Empty segments are skipped.
    """
    chunks: list[ChunkSpan] = []
    current: list[int] = []

    def close() -> None:
        if not current:
            return
        first, last = current[0], current[-1]
        text = " ".join(segments[i].text.strip() for i in current if segments[i].text.strip())
        chunks.append(
            ChunkSpan(len(chunks), segments[first].start, segments[last].end, text, first, last)
        )
        current.clear()

    for i, seg in enumerate(segments):
        if not seg.text.strip():
            continue
        if current:
            start = segments[current[0]].start
            so_far = segments[current[-1]].end - start
            with_it = seg.end - start
            if so_far >= target or (with_it > target and (with_it - target) > (target - so_far)):
                close()
        current.append(i)
    close()
    return chunks


# -- formats -------------------------------------------------------------------------------


def _srt_time(t: float) -> str:
    ms = max(0, round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _cue_text(text: str) -> str:
    # A blank line ends a cue in both formats, and "-->" would read as a timing line.
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines).replace("-->", "->") or "…"


def _srt_cue_text(text: str) -> str:
    # SubRip has no escapes, but readers (ours included) take <b>, {\an8} and &amp; as markup:
    # a cue whose words merely look like markup is written with character references, so it
    # reads back as the same words instead of losing them.
    cue = _cue_text(text)
    if _TAGS.search(cue) or html.unescape(cue) != cue:
        cue = html.escape(cue, quote=False).replace("{", "&#123;")
    return cue


SpeakerNames = Mapping[int, str]


def _shown_speakers(segments: Sequence[Segment], names: SpeakerNames | None) -> SpeakerNames:
    """Names to print: only when the item has more than one speaker (one voice adds nothing)."""
    if not names:
        return {}
    used = {s.speaker for s in segments if s.speaker is not None and s.text.strip()}
    return names if len({names.get(u, "") for u in used}) > 1 else {}


def to_srt(segments: Iterable[Segment], speakers: SpeakerNames | None = None) -> str:
    """Render segments as SubRip (.srt), with a ``Name:`` prefix when speakers differ."""
    segs = [s for s in segments if s.text.strip()]
    shown = _shown_speakers(segs, speakers)
    out = []
    for n, seg in enumerate(segs, start=1):
        end = max(seg.end, seg.start + 0.001)
        name = shown.get(seg.speaker) if seg.speaker is not None else None
        text = f"{name}: {_srt_cue_text(seg.text)}" if name else _srt_cue_text(seg.text)
        out.append(f"{n}\n{_srt_time(seg.start)} --> {_srt_time(end)}\n{text}\n")
    return "\n".join(out)


def to_vtt(segments: Iterable[Segment], speakers: SpeakerNames | None = None) -> str:
    """Render segments as WebVTT (.vtt), with ``<v Name>`` voice spans when speakers differ."""
    segs = [s for s in segments if s.text.strip()]
    shown = _shown_speakers(segs, speakers)
    out = ["WEBVTT\n"]
    for seg in segs:
        end = max(seg.end, seg.start + 0.001)
        start_s, end_s = _srt_time(seg.start).replace(",", "."), _srt_time(end).replace(",", ".")
        # "<", ">" and "&" are markup in WebVTT cue text.
        text = html.escape(_cue_text(seg.text), quote=False).replace("{", "&#123;")
        name = shown.get(seg.speaker) if seg.speaker is not None else None
        if name:
            voice = html.escape(name, quote=False).replace(">", "&gt;")
            text = f"<v {voice}>{text}"
        out.append(f"{start_s} --> {end_s}\n{text}\n")
    return "\n".join(out)


def to_txt(segments: Iterable[Segment], speakers: SpeakerNames | None = None) -> str:
    """Render segments as plain text, one line per segment with its start time."""
    segs = list(segments)
    shown = _shown_speakers(segs, speakers)
    lines = []
    for s in segs:
        name = shown.get(s.speaker) if s.speaker is not None else None
        prefix = f"{name}: " if name else ""
        lines.append(f"[{format_timestamp(s.start)}] {prefix}{s.text.strip()}\n")
    return "".join(lines)


def to_json(segments: Iterable[Segment], speakers: SpeakerNames | None = None) -> str:
    """Render segments (with word timings where known) as a JSON list.

    ``speaker`` is the speaker's library-wide name (a profile's name, or ``Speaker N``), or
    ``null`` for an item that was not diarized.
    """
    rows = []
    for s in segments:
        row = asdict(s)
        row["speaker"] = (speakers or {}).get(s.speaker) if s.speaker is not None else None
        rows.append(row)
    return json.dumps(rows, ensure_ascii=False, indent=2)


_TIME = re.compile(
    r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
)
# Styling markup a subtitle file may carry: SubRip's <b>/<i>/<u>/<s>/<font>, WebVTT's class, voice,
# language and ruby spans and inline timestamps, and SSA override blocks ({\an8}). Anything else
# in angle brackets ("a <x> b") is the cue's own text.
_TAGS = re.compile(
    r"</?(?:[biusc]|font|v|lang|ruby|rt)(?:[.\s][^>]*)?>|<\d+:\d{2}[:.][^>]*>|\{\\[^}]*\}",
    re.IGNORECASE,
)


def _seconds(h: str | None, m: str, s: str, frac: str) -> float | None:
    """The time of a cue timestamp, or None when it cannot be a time (minutes or seconds > 59)."""
    if int(m) > 59 or int(s) > 59:
        return None
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


@dataclass(frozen=True)
class ParsedSubtitles:
    """Cues read from a subtitle file, and where cues had to be skipped.

    Attributes:
        segments: The cues, sorted by start time.
        skipped_lines: 1-based line number of each cue that was skipped (no timing line, a
            malformed timing line, or an impossible time such as ``99:99:99,999``).
        encoding: The text encoding the file was read with ('' when given text).
    """

    segments: list[Segment]
    skipped_lines: list[int]
    encoding: str = ""

    def skipped_note(self) -> str:
        """One phrase for the user about skipped cues ('' when none were)."""
        if not self.skipped_lines:
            return ""
        n = len(self.skipped_lines)
        return (
            f"skipped {n} malformed cue{'s' if n > 1 else ''} "
            f"(the first at line {self.skipped_lines[0]})"
        )


_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_NON_CUE_BLOCKS = ("WEBVTT", "NOTE", "STYLE", "REGION")


def parse_subtitles_checked(text: str) -> ParsedSubtitles:
    """Parse SRT or WebVTT text, recording the cues that had to be skipped.

    Cue numbers, VTT headers, NOTE/STYLE/REGION blocks and cue settings are ignored; styling
    tags are removed and entities decoded. A block that is not one of those and has no valid
    timing line is skipped and its line number recorded.
    """
    lines = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n").split("\n")
    segments: list[Segment] = []
    skipped: list[int] = []
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    first = 0
    for number, line in enumerate(lines, start=1):
        if line.strip():
            if not current:
                first = number
            current.append(line)
        elif current:
            blocks.append((first, current))
            current = []
    if current:
        blocks.append((first, current))
    for first, block in blocks:
        if block[0].lstrip().startswith(_NON_CUE_BLOCKS):
            continue
        timing = next((i for i, ln in enumerate(block) if "-->" in ln), None)
        if timing is None:
            skipped.append(first)
            continue
        m = _TIME.match(block[timing])
        start = _seconds(*m.group(1, 2, 3, 4)) if m else None
        end = _seconds(*m.group(5, 6, 7, 8)) if m else None
        if start is None or end is None or end < start:
            skipped.append(first + timing)
            continue
        body = " ".join(
            html.unescape(_TAGS.sub("", ln)).strip() for ln in block[timing + 1 :] if ln.strip()
        )
        # Control characters (a terminal escape sequence, a bell) are never cue text.
        body = _CONTROL.sub("", re.sub(r"\s+", " ", body)).strip()
        if body:
            segments.append(Segment(start, end, body))
    segments.sort(key=lambda s: (s.start, s.end))
    return ParsedSubtitles(segments, skipped)


def parse_subtitles(text: str) -> list[Segment]:
    """Parse SRT or WebVTT text into segments (see :func:`parse_subtitles_checked`)."""
    return parse_subtitles_checked(text).segments


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32-le"),
    (b"\x00\x00\xfe\xff", "utf-32-be"),
    (b"\xff\xfe", "utf-16-le"),
    (b"\xfe\xff", "utf-16-be"),
)


# Up to this many bytes outside ASCII, charset detection is a guess: Windows-1252 is taken.
_FEW_HIGH_BYTES = 4


def detect_encoding(raw: bytes) -> str | None:
    """The text encoding of subtitle bytes: from a BOM, the byte pattern, or charset detection.

    UTF-16 without a BOM shows as a NUL byte beside nearly every ASCII character (at odd
    offsets for little-endian, even ones for big-endian).

    Returns:
        A Python codec name, or None when no encoding decodes the bytes.
    """
    for bom, name in _BOMS:
        if raw.startswith(bom):
            return name
    sample = raw[:4096]
    if len(sample) >= 4:
        even, odd = sample[0::2], sample[1::2]
        if odd.count(0) > 0.4 * len(odd) and even.count(0) < 0.1 * len(even):
            return "utf-16-le"
        if even.count(0) > 0.4 * len(even) and odd.count(0) < 0.1 * len(odd):
            return "utf-16-be"
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    if sum(b >= 0x80 for b in raw) <= _FEW_HIGH_BYTES:
        # A couple of accented letters carry no evidence of a multi-byte encoding (one 0xB4
        # byte was read as Shift-JIS), and Windows-1252 is by far the most common 8-bit one.
        try:
            raw.decode("cp1252")
            return "cp1252"
        except UnicodeDecodeError:
            pass
    from charset_normalizer import from_bytes

    matches = from_bytes(raw)
    best = matches.best()
    if best is None:
        return None
    # Short Western text fits several 8-bit code pages equally well; among those tied with
    # the best guess, Windows-1252 is by far the most common for subtitle files.
    tied = [m.encoding for m in matches if m.chaos <= best.chaos and m.coherence >= best.coherence]
    return "cp1252" if "cp1252" in tied else str(best.encoding)


def read_subtitles(path: Path) -> ParsedSubtitles:
    """Read an .srt or .vtt file in whatever encoding it was saved in.

    Raises:
        UnsupportedMediaError: The bytes are in no encoding that can be read, or the text
            holds no cue that parses (the message names the encoding tried).
    """
    raw = path.read_bytes()
    encoding = detect_encoding(raw)
    if encoding is None:
        raise UnsupportedMediaError(
            f"{path}: the text encoding could not be recognised (not UTF-8, UTF-16 or a "
            "known 8-bit encoding).",
            fix="Save it as UTF-8 in a subtitle or text editor.",
        )
    try:
        text = raw.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        raise UnsupportedMediaError(
            f"{path}: cannot be read as {encoding} ({exc}).",
            fix="Save it as UTF-8 in a subtitle or text editor.",
        ) from exc
    parsed = parse_subtitles_checked(text)
    if not parsed.segments:
        note = f"; {parsed.skipped_note()}" if parsed.skipped_lines else ""
        raise UnsupportedMediaError(
            f"{path}: no subtitle cues could be read (decoded as {encoding}{note}); it is not "
            "a valid SRT/WebVTT file.",
            fix="Check the file in a subtitle editor.",
        )
    return ParsedSubtitles(parsed.segments, parsed.skipped_lines, encoding)


def read_subtitle_file(path: Path) -> list[Segment]:
    """Read an .srt or .vtt file's cues (see :func:`read_subtitles`).

    Raises:
        UnsupportedMediaError: The file holds no cue that parses.
    """
    return read_subtitles(path).segments
