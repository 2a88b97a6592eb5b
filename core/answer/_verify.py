"""Verification of generated sentences against their cited passages, and the quote fallback."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from core.answer._evidence import _SHORT_UNIT_WORDS, _Passage
from core.answer._facts import unsupported_facts
from core.answer._grammar import _echoes_instructions, number_citations
from core.answer._settings import QUOTE_PREAMBLE, AnswerSettings
from core.answer._text import _WORD, content_stems, overlap
from core.answer._types import Citation, SentenceCheck, _Unit

# A sentence of this many words or more whose distinct words are fewer than this share of
# them repeats itself ("I think, I think, I think ...").
_REPEAT_MIN_WORDS = 8
_REPEAT_DISTINCT_SHARE = 0.6

Embed = Callable[[Sequence[str]], Any]


def verify_sentence(
    settings: AnswerSettings,
    embed: Embed,
    question_vector: Any,
    *,
    body: str,
    cited: Sequence[str],
    by_label: dict[str, _Passage],
) -> tuple[SentenceCheck, list[Citation]]:
    """Score a sentence against the passages it cites; keep the citations that support it."""
    s = settings
    words = content_stems(body)
    units = {label: by_label[label].selected for label in cited}
    flat = [u for label in cited for u in units[label]]
    vectors = embed([body] + [u.text for u in flat])
    sent_v, unit_v = vectors[0], vectors[1:]
    cos_all = unit_v @ sent_v if flat else np.zeros(0)
    kept_labels: list[str] = []
    cites: list[Citation] = []
    i = 0
    per_label: list[tuple[str, float, float, _Unit | None]] = []
    for label in cited:
        n = len(units[label])
        cs = cos_all[i : i + n]
        i += n
        text = " ".join(u.text for u in units[label])
        lex = overlap(words, text) if words else 1.0
        if n:
            j = int(np.argmax(cs))
            per_label.append((label, lex, float(cs[j]), units[label][j]))
        else:
            per_label.append((label, lex, 0.0, None))
    all_text = " ".join(u.text for u in flat)
    lexical = overlap(words, all_text) if words else 1.0
    best_cos = max((c for _, _, c, _ in per_label), default=0.0)
    for label, lex, c, unit in per_label:
        if unit is not None and (c >= s.min_cosine or lex >= s.min_lexical):
            kept_labels.append(label)
            p = by_label[label]
            cites.append(unit.citation(p.media_id, p.title, label))
    q_cos = float(sent_v @ question_vector)
    supporting = [(c, u) for _, _, c, u in per_label if u is not None]
    best_unit = max(supporting, key=lambda cu: cu[0])[1] if supporting else None
    top_score = max((u.score for p in by_label.values() for u in p.selected), default=0.0)
    tokens = _WORD.findall(body.lower())
    reason = ""
    if len(words) < s.min_content_words:
        reason = "too short to say anything"
    elif len(tokens) >= _REPEAT_MIN_WORDS and len(set(tokens)) < _REPEAT_DISTINCT_SHARE * len(
        tokens
    ):
        reason = "repeats itself"
    elif q_cos < s.min_question_cosine:
        reason = f"does not address the question (cosine {q_cos:.2f})"
    elif lexical < s.min_lexical:
        reason = f"only {lexical:.0%} of its words are in the cited passages"
    elif best_cos < s.min_cosine:
        reason = f"too far in meaning from the cited passages (cosine {best_cos:.2f})"
    elif not kept_labels:
        reason = "no cited passage supports it"
    elif best_unit is not None and best_unit.score < s.min_relative_relevance * top_score:
        reason = "rests on a passage sentence that does not answer the question"
    elif _echoes_instructions(body, all_text):
        reason = "repeats the instructions instead of the passages"
    elif s.strict_facts and (missing := unsupported_facts(body, all_text)):
        reason = "states what its evidence does not: " + ", ".join(missing)
    supported = not reason
    check = SentenceCheck(
        body,
        tuple(kept_labels) if supported else tuple(cited),
        round(lexical, 4),
        round(best_cos, 4),
        round((lexical + best_cos) / 2, 4),
        supported,
        reason,
    )
    return check, cites if supported else []


def extractive(
    settings: AnswerSettings, passages: list[_Passage]
) -> tuple[str, list[Citation], list[SentenceCheck]]:
    """Quote the passage sentences most similar to the question, with their citations."""
    s = settings
    units = [
        (p, u) for p in passages for u in p.selected if len(u.text.split()) >= _SHORT_UNIT_WORDS
    ] or [(p, u) for p in passages for u in p.selected]
    if not units:
        return "", [], []
    chosen: list[tuple[_Passage, _Unit]] = []
    for p, u in sorted(units, key=lambda pu: -pu[1].score):
        if any(u.chunk.id == c.chunk.id for _, c in chosen):
            continue
        if chosen and u.score < s.quote_ratio * chosen[0][1].score:
            break
        chosen.append((p, u))
        if len(chosen) >= s.quotes:
            break
    chosen.sort(key=lambda pu: (pu[0].label, pu[1].start))
    quoted = [u.citation(p.media_id, p.title, p.label, u.text.rstrip()) for p, u in chosen]
    cites, marks = number_citations([[c] for c in quoted])
    parts = [f"“{c.quote}” [{m[0]}]" for c, m in zip(quoted, marks, strict=True)]
    checks = [SentenceCheck(c.quote, (c.label,), 1.0, 1.0, 1.0, True, "quoted") for c in cites]
    text = QUOTE_PREAMBLE + " " + " ".join(parts)
    return text, cites, checks
