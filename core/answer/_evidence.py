"""Retrieval for answers: passages around the retrieved chunks, split into timed sentences.

A passage is a retrieved chunk widened with its neighbours. Its text is split into sentence
units, and every unit carries its own time span: the first and last of its words in the
stored word timestamps (subtitle cues and transcripts without word times: the times of the
cues it spans). A citation of a unit therefore points at the sentence, not at the start of
the ~30 s chunk it sits in.
"""

from __future__ import annotations

import difflib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.answer._settings import AnswerSettings
from core.answer._text import _WORD, content_stems, overlap, sanitize, split_sentences
from core.answer._types import Citation, _Unit
from core.search import Searcher, SearchResult
from core.store import Chunk, Library

if TYPE_CHECKING:
    from core.llm import LocalLLM

# A unit shorter than this many words ("Right.", "Okay, thanks.") rarely answers anything...
_SHORT_UNIT_WORDS = 4
# ... so it is pushed below every real sentence.
_SHORT_UNIT_PENALTY = -1.0
# Tokens a passage header ("[S1] ") and a unit separator cost in the prompt.
_HEADER_TOKENS = 2
_UNIT_SEPARATOR_TOKENS = 1


@dataclass
class _Passage:
    label: str
    media_id: int
    title: str
    chunks: list[Chunk]
    core_ids: set[int]
    units: list[_Unit] = field(default_factory=list)

    @property
    def selected(self) -> list[_Unit]:
        return [u for u in self.units if u.selected]

    def prompt_text(self) -> str:
        """``[S1] sentence sentence … sentence`` (titles are left out: small models copy them)."""
        parts: list[str] = []
        last = -2
        for i, u in enumerate(self.units):
            if not u.selected:
                continue
            if parts and i != last + 1:
                parts.append("…")
            parts.append(u.text)
            last = i
        return f"[{self.label}] " + " ".join(parts)

    def span(self) -> Citation:
        """The passage as a :class:`Sources` entry: the chunks' whole time span."""
        units = self.selected or self.units
        text = " ".join(u.text for u in units)
        return Citation(
            self.media_id,
            self.title,
            units[0].chunk.start,
            units[-1].chunk.end,
            text,
            self.label,
            units[0].chunk.id,
        )


# -- sentence times ----------------------------------------------------------------------------


def _timed_tokens(library: Library, chunk: Chunk) -> list[tuple[str, float, float]]:
    """The chunk's words in order, each with its time span.

    With word timestamps each word has its own; a segment without them (a subtitle cue, an
    imported transcript) gives all its words the segment's times.
    """
    rows = library.db.query(
        "SELECT start, end, text, words FROM segments WHERE media_id = ? AND idx BETWEEN ? AND ? "
        "ORDER BY idx",
        (chunk.media_id, chunk.first_segment, chunk.last_segment),
    )
    out: list[tuple[str, float, float]] = []
    for row in rows:
        words = json.loads(row["words"]) if row["words"] else None
        if words:
            for start, end, word, _prob in words:
                out.extend((t, float(start), float(end)) for t in _WORD.findall(str(word).lower()))
        else:
            start, end = float(row["start"]), float(row["end"])
            out.extend((t, start, end) for t in _WORD.findall(str(row["text"]).lower()))
    return out


def timed_sentences(
    library: Library, chunk: Chunk, *, join: bool = True
) -> list[tuple[str, float, float]]:
    """The chunk's sentences (sanitised) with the start and end of their own words.

    The chunk text's words are aligned to the timed words with a sequence match (the two can
    differ where a word timestamp carries punctuation or a segment was edited); a sentence
    spans its first to last aligned word, clamped to the chunk. A sentence with no aligned
    word gets the chunk's span. With ``join``, fragments shorter than a sentence are joined
    to their neighbour (:func:`_join_fragments`).
    """
    sentences = split_sentences(sanitize(chunk.text))
    timed = _timed_tokens(library, chunk)
    tokens: list[str] = []
    bounds: list[tuple[int, int]] = []
    for s in sentences:
        words = _WORD.findall(s.lower())
        bounds.append((len(tokens), len(tokens) + len(words)))
        tokens.extend(words)
    at: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(None, tokens, [t for t, _, _ in timed], autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        for i in range(size):
            at[a + i] = b + i
    out: list[tuple[str, float, float]] = []
    for s, (lo, hi) in zip(sentences, bounds, strict=True):
        hits = [at[i] for i in range(lo, hi) if i in at]
        if hits:
            start = max(chunk.start, min(timed[j][1] for j in hits))
            end = min(chunk.end, max(timed[j][2] for j in hits))
            out.append((s, start, max(start, end)))
        else:
            out.append((s, chunk.start, chunk.end))
    return _join_fragments(out) if join else out


def _join_fragments(sentences: list[tuple[str, float, float]]) -> list[tuple[str, float, float]]:
    """Join a too-short "sentence" to the next one (the last: to the one before).

    Speech recognition often ends a sentence early: "Ask not! What your country can do for
    you." A quote of the second half alone reverses the meaning, so the two stay one unit.
    """
    out: list[tuple[str, float, float]] = []
    carry: tuple[str, float, float] | None = None
    for sentence in sentences:
        text, start, end = sentence
        if carry is not None:
            text, start = f"{carry[0]} {text}", carry[1]
            carry = None
        if len(text.split()) < _SHORT_UNIT_WORDS:
            carry = (text, start, end)
            continue
        out.append((text, start, end))
    if carry is not None:
        if out:
            text, start, _ = out.pop()
            out.append((f"{text} {carry[0]}", start, carry[2]))
        else:
            out.append(carry)
    return out


def _continues(before: str, text: str) -> bool:
    """Whether ``text``, first in its chunk, goes on with ``before``, last in the chunk before.

    A sentence that starts in lower case continues the one before when the transcript writes
    capitals at all ("…can do for you. ask what you can do…", Whisper) or when the one before
    has no sentence end. In a transcript without capitals (lower-cased speech recognition),
    lower case after a full stop says nothing: those are two sentences.
    """
    if not text[:1].islower():
        return False
    ended = before.rstrip().endswith((".", "!", "?"))
    return not ended or any(ch.isupper() for ch in before + text)


# -- passages ----------------------------------------------------------------------------------


def gather_passages(
    library: Library,
    searcher: Searcher,
    settings: AnswerSettings,
    *,
    question: str,
    results: Sequence[SearchResult],
    llm: LocalLLM,
    timing: dict[str, float] | None = None,
    speakers: tuple[int, ...] = (),
) -> list[_Passage]:
    """Widen the top chunks with their neighbours, merge overlaps, fit the token budget.

    ``timing["rank_ms"]`` receives the time spent scoring sentences. With ``speakers``
    (profile ids), only sentences those voices speak are evidence.
    """
    passages = candidate_passages(
        library, searcher, settings, question=question, results=results, timing=timing
    )
    if speakers:
        from core.speakers.profiles import speaker_spans, spoken_by

        spans = speaker_spans(library.db, (p.media_id for p in passages), speakers)
        for p in passages:
            own = spans.get(p.media_id, [])
            p.units = [u for u in p.units if spoken_by(own, u.start, u.end)]
        passages = [p for p in passages if p.units]
    return pack_passages(passages, settings, llm)


def candidate_passages(
    library: Library,
    searcher: Searcher,
    settings: AnswerSettings,
    *,
    question: str,
    results: Sequence[SearchResult],
    timing: dict[str, float] | None = None,
) -> list[_Passage]:
    """The passages around ``results``, their sentences scored for ``question``.

    Scores come from the learned evidence ranker (``models/reranker``) when
    ``settings.ranker`` is ``learned``, else from MiniLM cosine plus shared words. The
    passages of the first ``settings.rank_passages`` retrieved chunks are scored, and the
    ``settings.max_passages`` holding the best-scored sentences are kept (labelled in that
    order).
    """
    s = settings
    passages: list[_Passage] = []
    for rank, r in enumerate(results):
        chunk = library.get_chunk(r.chunk_id)
        window = [chunk]
        # The first max_passages chunks are widened with their neighbours; the rest, scored
        # only to find a better passage (rank_passages), are not: their neighbours would more
        # than double the sentences to embed.
        if rank < s.max_passages and chunk.prev_id is not None:
            window.insert(0, library.get_chunk(chunk.prev_id))
        if rank < s.max_passages and chunk.next_id is not None:
            window.append(library.get_chunk(chunk.next_id))
        lo, hi = window[0].idx, window[-1].idx
        for p in passages:
            if (
                p.media_id == chunk.media_id
                and lo <= p.chunks[-1].idx + 1
                and hi >= p.chunks[0].idx - 1
            ):
                have = {c.id for c in p.chunks}
                p.chunks = sorted(
                    p.chunks + [c for c in window if c.id not in have],
                    key=lambda c: c.idx,
                )
                p.core_ids.add(chunk.id)
                break
        else:
            if len(passages) < max(s.max_passages, s.rank_passages):
                label = f"S{len(passages) + 1}"
                passages.append(_Passage(label, r.media_id, r.title, window, {chunk.id}))
    # Sentence units, scored by similarity to the question (MiniLM, cached per text in the
    # library's embedding cache) plus shared words; retrieved chunks get a small bonus.
    q = content_stems(question, generic=False) or content_stems(question)
    for p in passages:
        for c in p.chunks:
            core = c.id in p.core_ids
            for text, start, end in timed_sentences(library, c, join=s.whole_sentences):
                span = (start, end) if s.sentence_times else (c.start, c.end)
                last = p.units[-1] if p.units else None
                if (
                    s.whole_sentences
                    and last is not None
                    and last.chunk.idx == c.idx - 1
                    and _continues(last.text, text)
                ):
                    # The sentence began in the chunk before: one unit, cited from its start.
                    last.text = f"{last.text} {text}"
                    last.end = span[1]
                    last.core = last.core or core
                    continue
                p.units.append(_Unit(c, text, core, *span))
    units = [u for p in passages for u in p.units]
    t0 = time.perf_counter()
    if units:
        qv = searcher.query_vector(question)
        cosines = searcher.store.embed([u.text for u in units]) @ qv
        for u, cos in zip(units, cosines, strict=True):
            u.question_cosine = float(cos)
            u.score = (
                float(cos)
                + s.lexical_weight * overlap(q, u.text)
                + (s.core_bonus if u.core else 0.0)
                + (0.0 if len(u.text.split()) >= _SHORT_UNIT_WORDS else _SHORT_UNIT_PENALTY)
            )
        if s.ranker == "learned":
            from core.answer._rank import default_ranker, unit_features

            features = unit_features(question, units, searcher)
            for u, score in zip(units, default_ranker().score(features), strict=True):
                u.score = float(score)
    if timing is not None:
        timing["rank_ms"] = (time.perf_counter() - t0) * 1000
    if len(passages) > s.max_passages:
        # More passages were scored than the model reads: keep those holding the best sentences.
        best = {id(p): max((u.score for u in p.units), default=-math.inf) for p in passages}
        passages = sorted(passages, key=lambda p: -best[id(p)])[: s.max_passages]
        for i, p in enumerate(passages, start=1):
            p.label = f"S{i}"
    return passages


def pack_passages(
    passages: list[_Passage], settings: AnswerSettings, llm: LocalLLM
) -> list[_Passage]:
    """Select the best sentences of ``passages`` within the prompt's token budget."""
    s = settings
    for u in (u for p in passages for u in p.units):
        u.tokens = llm.count_tokens(u.text) + _UNIT_SEPARATOR_TOKENS
    budget = s.context_tokens
    # Every passage first gets its best unit (so every label has something to cite)...
    for p in passages:
        header = llm.count_tokens(p.prompt_text()) + _HEADER_TOKENS
        best = max(p.units, key=lambda u: u.score, default=None)
        if best is None or header + best.tokens > budget:
            continue
        best.selected = True
        budget -= header + best.tokens
    # ... then the remaining budget goes to the best units overall.
    for u in sorted((u for p in passages for u in p.units), key=lambda u: -u.score):
        if u.selected or u.score < 0:
            continue
        if u.tokens <= budget:
            u.selected = True
            budget -= u.tokens
    kept = [p for p in passages if p.selected]
    for i, p in enumerate(kept, start=1):  # relabel densely if a passage did not fit
        p.label = f"S{i}"
    return kept
