"""Content safety rating from a lexicon scan of the transcript chunks.

Each reason (profanity, violence, sexual content, drugs, self-harm) has terms at a severity:
the rating a single use suggests (``PG`` .. ``R``), and for frequent mild terms a count at which
the rating goes up one step. The item's rating is the highest any reason reaches; each reason
names the chunks it was found in, so a reviewer can jump to them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from core.taxonomy import RATINGS

# (reason, rating of one occurrence, pattern). Word-boundary regexes over lower-cased text.
_LEXICON: tuple[tuple[str, str, str], ...] = (
    ("profanity", "PG", r"damn|damned|hell|crap|bloody|sucks|piss(?:ed)?"),
    (
        "profanity",
        "PG-13",
        r"shit\w*|bitch\w*|bastard\w*|asshole\w*|arsehole\w*|dick|prick|bullshit",
    ),
    ("profanity", "R", r"fuck\w*|motherfuck\w*|cunt\w*"),
    (
        "violence",
        "PG",
        r"fight\w*|attack(?:ed|s)?|war|weapons?|guns?|soldiers?|bomb\w*|shooting|violen\w+",
    ),
    (
        "violence",
        "PG-13",
        r"kill(?:ed|ing|s)?|murder\w*|shot dead|stabb\w+|blood(?:y|shed)?|massacre\w*|"
        r"assault\w*|beat(?:en)? to death|corpses?|dead bod(?:y|ies)",
    ),
    ("violence", "R", r"behead\w*|tortur\w+|mutilat\w+|dismember\w*|gore|disembowel\w*"),
    ("sexual content", "PG-13", r"sex|sexual\w*|sexy|naked|nude|nudity|rape\w*|prostitut\w+"),
    ("sexual content", "R", r"porn\w*|orgasm\w*|intercourse|masturbat\w+|blowjob\w*|erotic\w*"),
    ("drugs", "PG", r"drunk|alcohol\w*|beer|wine|cigarettes?|smoking"),
    (
        "drugs",
        "PG-13",
        r"cocaine|heroin|cannabis|marijuana|meth(?:amphetamine)?|ecstasy|overdos\w+|"
        r"drug deal\w*|getting high|crack cocaine|lsd",
    ),
    (
        "self-harm",
        "PG-13",
        r"suicid\w+|self[- ]harm\w*|kill (?:myself|himself|herself|themselves)|"
        r"cut(?:ting)? (?:myself|herself|himself)|end (?:my|his|her) life",
    ),
)
_COMPILED = tuple((r, rating, re.compile(rf"\b(?:{p})\b")) for r, rating, p in _LEXICON)
# Uses of a lexicon word that are not what the reason is about: a cooking show beats eggs and
# a bloody good pancake is not bloodshed; a heart attack is not violence. Blanked before the scan.
_BENIGN = re.compile(
    r"\b(?:heart attacks?|panic attacks?|asthma attacks?|attacking (?:midfielder|play|football)|"
    r"(?:on the )?attack (?:line|minded)|fight (?:back|for (?:the )?(?:title|cup|survival))|"
    r"bloody (?:good|great|brilliant|lovely|delicious|hell)|kill(?:ing)? time|killer app\w*|"
    r"shooting (?:star|stars|script|schedule|a (?:film|movie|video|scene))|photo ?shoot\w*|"
    r"shots? (?:at goal|on goal|of (?:espresso|whisky|vodka))|red wine vinegar|"
    r"wine (?:vinegar|sauce)|beer batter\w*|dead heat|dead ball|war of words|price war|"
    r"drug (?:treatment|trial|company|companies|firm|maker|makers))\b"
)
# Mild terms that set no rating on their own: one "wine" in a recipe or a history of the
# printing press (presses "used for wine and paper") is not drug content; two uses are.
_MIN_USES = {("drugs", "PG"): 2}
# An evidence quote: the sentence around a term, at most this many words either side.
_QUOTE_WORDS = 12
_MAX_EVIDENCE = 3
# Mild terms used this often (per item) count one rating higher: a war documentary that says
# "attack" thirty times is more than PG.
_ESCALATE_AT = 6


@dataclass(frozen=True)
class Evidence:
    """One use of a term that set a rating: where it is and the words around it."""

    chunk_id: int
    start: float | None
    term: str
    quote: str

    def to_json(self) -> dict[str, Any]:
        """JSON form (``start`` in seconds, None when the time is unknown)."""
        return {
            "chunk_id": self.chunk_id,
            "start": None if self.start is None else round(self.start, 2),
            "term": self.term,
            "quote": self.quote,
        }


@dataclass
class SafetyReason:
    """One kind of concern found in an item, with the quotes that set its rating."""

    reason: str
    rating: str
    chunk_ids: list[int] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    count: int = 0
    evidence: list[Evidence] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The reason as ``mediamind tags --json`` prints it."""
        return {
            "reason": self.reason,
            "chunk_ids": self.chunk_ids,
            "terms": self.terms,
            "count": self.count,
            "evidence": [e.to_json() for e in self.evidence],
        }


@dataclass(frozen=True)
class SafetyRating:
    """An item's rating, its reasons and a confidence."""

    rating: str
    reasons: tuple[SafetyReason, ...]
    confidence: float

    @property
    def chunk_ids(self) -> list[int]:
        """Every chunk a reason points to, ascending."""
        return sorted({c for r in self.reasons for c in r.chunk_ids})


@dataclass(frozen=True)
class TimedText:
    """A transcript segment for the scan: its chunk, start, text and recognised words.

    ``words`` are ``(start seconds, word, probability)`` as the recogniser gave them, empty for
    subtitles and imported text.
    """

    chunk_id: int
    start: float | None
    text: str
    words: Sequence[tuple[float, str, float]] = ()


# A term the recogniser was less sure of than this is not evidence: "a little butter" heard as
# "a little murder" (p = 0.18) must not make a cooking show PG-13.
MIN_WORD_PROBABILITY = 0.5


def rate(
    chunks: Sequence[tuple[int, str]],
    *,
    segments: Sequence[TimedText] | None = None,
) -> SafetyRating:
    """Scan the transcript and rate the item.

    The confidence is high where the evidence is clear-cut: no term at all (G) or a severe
    term; a rating that rests on one or two borderline words gets less.

    Args:
        chunks: ``(chunk_id, text)`` of the item's chunks (scanned when ``segments`` is None).
        segments: The transcript's segments with their chunk, time and words, when known:
            each term found then carries the second it was said, and a term the recogniser
            was unsure of (``MIN_WORD_PROBABILITY``) is left out.
    """
    units = list(segments) if segments else [TimedText(c, None, t) for c, t in chunks]
    found: dict[str, SafetyReason] = {}
    uses: dict[str, list[tuple[int, Evidence]]] = {}
    for unit in units:
        low = _BENIGN.sub(lambda m: " " * len(m.group(0)), unit.text.lower())
        for reason, rating, pattern in _COMPILED:
            for m in pattern.finditer(low):
                heard = _heard(unit, m.start())
                if heard is not None and heard[1] < MIN_WORD_PROBABILITY:
                    continue
                r = found.setdefault(reason, SafetyReason(reason, "G"))
                if RATINGS.index(rating) > RATINGS.index(r.rating):
                    r.rating = rating
                if unit.chunk_id not in r.chunk_ids:
                    r.chunk_ids.append(unit.chunk_id)
                term = m.group(0)
                if term not in r.terms and len(r.terms) < 8:
                    r.terms.append(term)
                r.count += 1
                start = heard[0] if heard is not None else unit.start
                quote = _quote(unit.text, m.start(), m.end())
                uses.setdefault(reason, []).append(
                    (RATINGS.index(rating), Evidence(unit.chunk_id, start, term, quote))
                )
    for reason, r in list(found.items()):
        if r.count < _MIN_USES.get((reason, r.rating), 1):
            del found[reason]
    for r in found.values():
        if r.count >= _ESCALATE_AT and r.rating in ("PG",):
            r.rating = "PG-13"
        r.chunk_ids.sort()
        # The most severe uses first, one quote per place, at most _MAX_EVIDENCE.
        ordered = sorted(uses.get(r.reason, []), key=lambda x: -x[0])  # stable: text order
        seen: set[tuple[int, float | None]] = set()
        r.evidence = []
        for _, e in ordered:
            if (e.chunk_id, e.start) not in seen and len(r.evidence) < _MAX_EVIDENCE:
                seen.add((e.chunk_id, e.start))
                r.evidence.append(e)
    reasons = tuple(sorted(found.values(), key=lambda r: (-RATINGS.index(r.rating), r.reason)))
    rating = reasons[0].rating if reasons else "G"
    if not reasons:
        confidence = 0.8
    else:
        top = [r for r in reasons if r.rating == rating]
        evidence = sum(r.count for r in top)
        confidence = min(0.95, 0.55 + 0.1 * evidence) if rating != "R" else 0.9
    return SafetyRating(rating, reasons, round(confidence, 3))


def _heard(unit: TimedText, offset: int) -> tuple[float, float] | None:
    """``(start, probability)`` of the recognised word at character ``offset``, if known."""
    if not unit.words:
        return None
    index = len(unit.text[:offset].split())
    tokens = unit.text.split()
    if len(tokens) != len(unit.words) or index >= len(unit.words):
        return None
    start, _word, probability = unit.words[index]
    return start, probability


def _quote(text: str, start: int, end: int) -> str:
    """The words around ``text[start:end]``, within its sentence."""
    left = max(text.rfind(". ", 0, start), text.rfind("? ", 0, start), text.rfind("! ", 0, start))
    sentence_start = left + 2 if left >= 0 else 0
    stops = [
        i for i in (text.find(". ", end), text.find("? ", end), text.find("! ", end)) if i >= 0
    ]
    sentence_end = min(stops) + 1 if stops else len(text)
    before = text[sentence_start:start].split()[-_QUOTE_WORDS:]
    after = text[end:sentence_end].split()[:_QUOTE_WORDS]
    return " ".join([*before, text[start:end], *after]).strip()
