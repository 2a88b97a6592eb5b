"""Stopwords: the English function words that carry no content, kept in one place.

Search drops :data:`STOPWORDS` from a query's full-text terms; answers, which compare a
question's words with the passages they cite, also ignore the fillers of speech and vaguer
words of :data:`ANSWER_STOPWORDS` (a passage full of "really" and "okay" is not about the
question).
"""

from __future__ import annotations

import re


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
