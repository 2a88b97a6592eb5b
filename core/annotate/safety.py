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
# Mild terms used this often (per item) count one rating higher: a war documentary that says
# "attack" thirty times is more than PG.
_ESCALATE_AT = 6


@dataclass
class SafetyReason:
    """One kind of concern found in an item."""

    reason: str
    rating: str
    chunk_ids: list[int] = field(default_factory=list)
    terms: list[str] = field(default_factory=list)
    count: int = 0

    def to_json(self) -> dict[str, Any]:
        """The reason as ``mediamind tags --json`` prints it."""
        return {
            "reason": self.reason,
            "chunk_ids": self.chunk_ids,
            "terms": self.terms,
            "count": self.count,
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


def rate(chunks: Sequence[tuple[int, str]]) -> SafetyRating:
    """Scan ``(chunk_id, text)`` pairs and rate the item.

    The confidence is high where the evidence is clear-cut: no term at all (G) or a severe
    term; a rating that rests on one or two borderline words gets less.
    """
    found: dict[str, SafetyReason] = {}
    for chunk_id, text in chunks:
        low = text.lower()
        for reason, rating, pattern in _COMPILED:
            hits = pattern.findall(low)
            if not hits:
                continue
            r = found.setdefault(reason, SafetyReason(reason, "G"))
            if RATINGS.index(rating) > RATINGS.index(r.rating):
                r.rating = rating
            if chunk_id not in r.chunk_ids:
                r.chunk_ids.append(chunk_id)
            for h in hits:
                if h not in r.terms and len(r.terms) < 8:
                    r.terms.append(h)
            r.count += len(hits)
    for r in found.values():
        if r.count >= _ESCALATE_AT and r.rating in ("PG",):
            r.rating = "PG-13"
        r.chunk_ids.sort()
    reasons = tuple(sorted(found.values(), key=lambda r: (-RATINGS.index(r.rating), r.reason)))
    rating = reasons[0].rating if reasons else "G"
    if not reasons:
        confidence = 0.8
    else:
        top = [r for r in reasons if r.rating == rating]
        evidence = sum(r.count for r in top)
        confidence = min(0.95, 0.55 + 0.1 * evidence) if rating != "R" else 0.9
    return SafetyRating(rating, reasons, round(confidence, 3))
