"""Checks of a question before anything runs: one clear message per kind of bad input."""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from core.answer._text import normalise_question
from core.errors import UsageError
from core.stopwords import COMMON_LANGUAGES, guess_language

# Longest question accepted; a longer text is a pasted document, not a question.
MAX_QUESTION_CHARS = 2000
# A question whose letters are mostly outside the Latin script is in another language.
_MIN_LATIN_SHARE = 0.5
# Languages written in the Latin script: a library holding only these cannot answer a question
# in Cyrillic, Greek, Arabic, CJK... letters.
_LATIN_SCRIPT = frozenset(
    "en de fr es it pt nl ca cs da fi hu id ms nb no pl ro sk sl sv tr vi et lv lt hr".split()  # noqa: SIM905
)


def language_name(code: str) -> str:
    """A language's English name from its ISO 639-1 code ("de" -> "German")."""
    from stop_words import LANGUAGE_MAPPING

    return str(LANGUAGE_MAPPING.get(code, code)).capitalize()


def question_language(question: str, languages: Sequence[str] = ("en",)) -> str:
    """The language a question is written in, among common ones and the library's ``languages``.

    English when its words say nothing (a bare name, a number).
    """
    return guess_language(question, (*COMMON_LANGUAGES, *languages)) or "en"


def check_question(question: str, languages: Sequence[str] = ("en",)) -> str:
    """The question cleaned of NUL characters and outer space, or a :class:`UsageError`.

    Args:
        question: As typed.
        languages: The spoken languages of the library's items; a question in one of them
            (or in English) is answered, one in any other language is refused with a message.

    Raises:
        UsageError: Empty, only punctuation, too long, or in a language no item is in.
    """
    question = question.replace("\x00", " ").strip()
    if not question:
        raise UsageError("The question is empty.", fix="Type a question, e.g. 'ask WHAT'.")
    if not normalise_question(question):
        raise UsageError(
            "The question has no words, only punctuation or symbols.",
            fix="Type a question in words, e.g. 'What are the Q4 goals?'.",
        )
    if len(question) > MAX_QUESTION_CHARS:
        raise UsageError(
            f"The question is {len(question):,} characters long; at most "
            f"{MAX_QUESTION_CHARS:,} are accepted.",
            fix="Ask a shorter question; search (mediamind search) takes key words.",
        )
    known = {"en", *languages}
    letters = [c for c in question if c.isalpha()]
    latin = sum("LATIN" in unicodedata.name(c, "") for c in letters)
    if letters and latin / len(letters) < _MIN_LATIN_SHARE and known <= _LATIN_SCRIPT:
        raise UsageError(
            "The question is not written in the Latin alphabet, and the library's transcripts "
            f"are in {_names(known)}.",
            fix="Ask the question in English, or in the language of your recordings.",
        )
    asked = question_language(question, languages)
    if asked not in known:
        raise UsageError(
            f"The question looks {language_name(asked)}, but the library's transcripts are in "
            f"{_names(known)}, so nothing could be found for it.",
            fix="Ask the question in English, or in the language of your recordings.",
        )
    return question


def _names(codes: set[str]) -> str:
    names = sorted(language_name(c) for c in codes)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
