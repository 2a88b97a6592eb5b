"""Stopwords: the function words that carry no content, kept in one place.

Search drops :data:`STOPWORDS` from a query's full-text terms; answers, which compare a
question's words with the passages they cite, also ignore the fillers of speech and vaguer
words of :data:`ANSWER_STOPWORDS` (a passage full of "really" and "okay" is not about the
question). Other languages' lists come from the ``stop-words`` package
(:func:`stopwords_for`), and :func:`guess_language` tells which of a few languages a short
text (a question) is written in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache


def _words(text: str) -> frozenset[str]:
    return frozenset(re.findall(r"\w+", text))


STOPWORDS = _words(
    "a an and are as at be but by did do does for from had has have how i if in into is it "
    "its me my no not of on or our so than that the their them then there these they this to "
    "us was we were what when where which who whom why will with would you your about"
)
# The list answers were tuned with: STOPWORDS except "us", plus vaguer words and fillers.
ANSWER_STOPWORDS = (STOPWORDS - {"us"}) | _words(
    "above after again all also am any been before being below between both can could "
    "doing down during each few further having he her here hers him his itself just more "
    "most nor now off once only other ours out over own same she should some such theirs "
    "those through too under until up very while yours yeah yes okay ok um uh mm hmm oh like "
    "well right really gonna wanna got get thing things kind sort lot many much"
)

# Languages people most often write a question in, besides the library's own.
COMMON_LANGUAGES = ("en", "de", "fr", "es", "it", "pt", "nl")


@cache
def stopwords_for(language: str) -> frozenset[str]:
    """Function words of ``language`` (an ISO 639-1 code); empty for a language with no list.

    English gives :data:`ANSWER_STOPWORDS`, the list answers were tuned with.
    """
    if language == "en":
        return ANSWER_STOPWORDS
    return _listed(language)


@cache
def _listed(language: str) -> frozenset[str]:
    from stop_words import LANGUAGE_MAPPING, get_stop_words

    if language not in LANGUAGE_MAPPING:
        return frozenset()
    return frozenset(w.lower() for w in get_stop_words(language))


def guess_language(text: str, candidates: Iterable[str]) -> str | None:
    """Which of ``candidates`` ``text`` is written in, by its function words, or None.

    Questions are short, but nearly every question has function words ("wo", "die", "est",
    "the"); the language whose list holds the most of the text's words wins, English on a tie.
    None when no candidate's list holds any of them.
    """
    # Capitalised words after a sentence's first are names ("Van Gend en Loos"), whose
    # particles would vote for their own language; function words are written in lower case.
    words = [
        w.lower()
        for sentence in re.split(r"[.!?¿¡]+\s*", text)
        for i, w in enumerate(re.findall(r"[^\W\d_]+", sentence))
        if i == 0 or not w[0].isupper()
    ]
    best: tuple[int, int, str] | None = None
    for language in dict.fromkeys(candidates):
        hits = sum(w in _listed(language) for w in words)
        key = (hits, language == "en", language)
        if hits and (best is None or key > best):
            best = key
    return best[2] if best else None
