"""Checks of a question before anything runs: one clear message per kind of bad input."""

from __future__ import annotations

import re
import unicodedata

from core.answer._text import _STOPWORDS, normalise_question
from core.errors import UsageError

# Longest question accepted; a longer text is a pasted document, not a question.
MAX_QUESTION_CHARS = 2000
# A question whose letters are mostly outside the Latin script is in another language.
_MIN_LATIN_SHARE = 0.5
# Common words of the languages people most often type by mistake (transcripts are English).
_FOREIGN_WORDS = (
    frozenset(
        re.findall(
            r"\w+",
            # German, French, Spanish, Italian, Portuguese, Dutch (not English words as well)
            "der die das und ist nicht wie wer warum wann welche welcher ein eine mit auf für von "
            "hat haben sind wurde "
            "le la les est et une des du que qui quoi pourquoi quand où comment avec pour dans "
            "el los las es y qué quién cuándo dónde cómo por para una con del "
            "il lo gli è e che chi perché quando dove come per una con della "
            "o os é que quem porque quando onde como para uma com "
            "de het een en wat wie waarom wanneer waar hoe met voor",
        )
    )
    - _STOPWORDS
)


def check_question(question: str) -> str:
    """The question cleaned of NUL characters and outer space, or a :class:`UsageError`.

    Raises:
        UsageError: Empty, only punctuation, too long, or not in English.
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
    letters = [c for c in question if c.isalpha()]
    latin = sum("LATIN" in unicodedata.name(c, "") for c in letters)
    words = normalise_question(question).split()
    foreign = sum(w in _FOREIGN_WORDS for w in words)
    english = sum(w in _STOPWORDS for w in words)
    if (letters and latin / len(letters) < _MIN_LATIN_SHARE) or (
        foreign >= 2 and foreign > english
    ):
        raise UsageError(
            "The question does not look like English; transcripts are English, so answers are "
            "only found for English questions.",
            fix="Ask the question in English.",
        )
    return question
