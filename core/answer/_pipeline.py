"""The answer pipeline: :class:`Answerer` (see the package docstring)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from core.answer._cache import AnswerCache
from core.answer._evidence import _Passage, gather_passages
from core.answer._grammar import (
    _render,
    build_copy_grammar,
    build_grammar,
    number_citations,
    only_quote,
    parse_answer,
)
from core.answer._input import check_question, question_language
from core.answer._settings import SYSTEM_PROMPT, USER_PREFIX, AnswerSettings
from core.answer._text import (
    _EXPANSIONS,
    _GENERIC,
    _STOPWORDS,
    _WORD,
    _name_words,
    content_stems,
    normalise_question,
    overlap,
    sanitize,
    sounds_like,
    split_sentences,
    stem,
)
from core.answer._types import (
    Answer,
    AskEvent,
    Citation,
    Relevance,
    SentenceCheck,
    Sources,
    Timings,
    Token,
    _Unit,
)
from core.answer._verify import extractive, verify_sentence
from core.errors import UsageError
from core.llm import LLMHandle
from core.search import (
    Searcher,
    SearchFilters,
    SearchResult,
    TextEncoder,
    default_encoder,
    query_terms,
)
from core.stopwords import stopwords_for
from core.store import Library
from core.transcript import format_timestamp

if TYPE_CHECKING:
    from core.llm import LocalLLM, Prompt

log = logging.getLogger(__name__)


def answerable(settings: AnswerSettings, cosine: float, coverage: float, missing: bool) -> bool:
    """The refusal rule: whether retrieval signals say the library can answer.

    Answer when the best chunk's cosine reaches ``refuse_cosine``; or, with no topic word
    missing from the library, when cosine and topic-word coverage both reach their lower
    thresholds, or every topic word is in the top chunks and cosine reaches the floor.
    ``bench/calibrate_refusal.py`` sets the thresholds on one half of the qmsum questions.
    """
    s = settings
    return cosine >= s.refuse_cosine or (
        not missing
        and (
            (cosine >= s.refuse_cosine_low and coverage >= s.refuse_coverage)
            or (cosine >= s.refuse_cosine_floor and coverage >= 1.0)
        )
    )


class Answerer:
    """Answers questions about one library with a local model; see the module docstring."""

    def __init__(
        self,
        library: Library,
        *,
        llm: str | Path | None = None,
        settings: AnswerSettings | None = None,
        searcher: Searcher | None = None,
        encoder: TextEncoder | Callable[[], TextEncoder] | None = None,
        cache: bool = True,
    ) -> None:
        """Bind to a library; nothing heavy loads until the first question needs it.

        Args:
            library: The library to answer from.
            llm: A GGUF path; default ``$MEDIAMIND_LLM`` or the registry's SmolLM2.
            settings: Pipeline settings.
            searcher: A searcher to reuse (the GUI's); default a new one.
            encoder: The MiniLM encoder (default: the process-wide one).
            cache: Use the answer cache (memory and database).
        """
        self.library = library
        self.llm_path = llm
        self.settings = settings or AnswerSettings()
        self.searcher = searcher or Searcher(library, encoder or default_encoder)
        self.use_cache = cache
        self.cache = AnswerCache(library, enabled=cache)
        self._handle = LLMHandle(llm)
        self._titles: tuple[int, dict[int, frozenset[str]]] | None = None
        self._languages: tuple[int, tuple[str, ...]] | None = None

    # -- model ----------------------------------------------------------------------------------

    @property
    def llm(self) -> LocalLLM:
        """The model, loaded on first use (once per process and path)."""
        return self._handle.model

    @property
    def model_id(self) -> str:
        """Identity of the model file, without loading it."""
        return self._handle.identity

    def warm(self) -> None:
        """Load the model and evaluate the fixed prompt prefix now (e.g. when the GUI opens)."""
        self.llm.warm(self.llm.chat_prompt(SYSTEM_PROMPT, USER_PREFIX, ""))

    # -- public API -----------------------------------------------------------------------------

    def answer(
        self, question: str, *, k: int | None = None, filters: SearchFilters | None = None
    ) -> Answer:
        """Run :meth:`ask` to the end and return its :class:`Answer`."""
        final: Answer | None = None
        for ev in self.ask(question, k=k, filters=filters):
            if isinstance(ev, Answer):
                final = ev
        if final is None:  # pragma: no cover - ask always ends with an Answer
            raise UsageError("The question produced no answer.")
        return final

    def ask(
        self, question: str, *, k: int | None = None, filters: SearchFilters | None = None
    ) -> Iterator[AskEvent]:
        """Answer ``question``, yielding Sources, then Token events, then the Answer.

        Token events are the model's raw output; sentences that fail verification are not in
        the final answer, which the GUI shows in their place.

        Raises:
            UsageError: The question is empty, only punctuation, too long or not in English,
                or the library has nothing to answer from.
            ModelError: The model is missing or damaged.
            LLMError: The model failed while generating.
        """
        t0 = time.perf_counter()
        question = check_question(question, self.library_languages())
        if not self.library.db.scalar("SELECT 1 FROM chunks LIMIT 1"):
            raise UsageError(
                "The library has no transcribed items to answer from.",
                fix="Add media first: mediamind ingest PATH",
            )
        s = self.settings
        k = max(1, min(int(k or s.k), 50))
        filters = filters or SearchFilters()
        if not filters.speakers:
            from core.speakers.profiles import speakers_in_question

            asked_of = speakers_in_question(self.library.db, question)
            if asked_of:  # "What did Dana say about...": Dana's own words only
                filters = replace(filters, speakers=asked_of)
        version = self.library.content_version
        key = AnswerCache.key(
            question, k, filters, model_id=self.model_id, settings=self.settings, version=version
        )
        if self.use_cache:
            hit = self.cache.get(key, version)
            if hit is not None:
                ms = (time.perf_counter() - t0) * 1000
                hit = replace(hit, timings=replace(hit.timings, cached=True, ttft_ms=ms))
                yield Token(hit.answer)
                final = replace(hit, timings=replace(hit.timings, total_ms=ms))
                yield final
                return

        topic = question
        if filters.speakers:
            from core.speakers.profiles import without_speaker_names

            # "Dana" in "What did Dana say about the budget?" says whose words, not what they
            # are about: a name nobody says would count as a topic word the library lacks.
            topic = without_speaker_names(self.library.db, question, filters.speakers)
        results = self.searcher.search(topic, k=k, filters=filters)
        relevance, closest = self._relevance(topic, results)
        llm: LocalLLM | None = None
        passages: list[_Passage] = []
        timing: dict[str, float] = {}
        if relevance.answerable:
            llm = self.llm
            passages = gather_passages(
                self.library,
                self.searcher,
                s,
                question=question,
                results=results,
                llm=llm,
                timing=timing,
                speakers=filters.speakers,
            )
        if llm is None or not passages:
            text = self._refusal_text(closest)
            retrieve_ms = (time.perf_counter() - t0) * 1000
            yield Token(text)
            answer = Answer(
                question,
                text,
                True,
                [],
                [],
                Timings(retrieve_ms=retrieve_ms, ttft_ms=retrieve_ms, total_ms=retrieve_ms),
                "refused",
                closest,
                self.model_id,
            )
            self.cache.put(key, version, answer)
            yield answer
            return
        retrieve_ms = (time.perf_counter() - t0) * 1000
        yield Sources([p.span() for p in passages])

        from core.llm import GenerationStats

        labels = [p.label for p in passages]
        stats = GenerationStats()
        pieces: list[str] = []
        ttft = 0.0
        only = self._only_answer(passages)
        grammar = None if only is not None else self._grammar(passages)
        if only is not None:
            # Whole sentences chosen by the ranker: decoding them token by token would only
            # cost time (and a 135M model choosing among them lost answers, docs/answers.md).
            ttft = (time.perf_counter() - t0) * 1000
            pieces.append(only)
            yield Token(only)
        elif grammar is not None:
            prompt = self._prompt(question, passages, llm)
            max_tokens = s.max_sentences * (self._quote_chars // 2 + 12)
            for piece in llm.stream(
                prompt,
                grammar=grammar,
                max_tokens=max_tokens,
                repeat_penalty=s.repeat_penalty,
                stats=stats,
            ):
                if not pieces:
                    ttft = (time.perf_counter() - t0) * 1000
                pieces.append(piece)
                yield Token(piece)
        raw = "".join(pieces)

        by_label = {p.label: p for p in passages}
        checks: list[SentenceCheck] = []
        kept: list[tuple[str, list[Citation]]] = []
        kept_at: list[int] = []
        seen: set[str] = set()
        qv = self.searcher.query_vector(question)
        # MiniLM is an English model: a German question scores 0.30-0.42 against every German
        # sentence of a library, the answering one included, so its cosine cannot tell whether
        # a sentence addresses the question. In another language the sentence must share a
        # topic word with the question instead.
        foreign = question_language(question, self.library_languages()) != "en"
        topic_stems = content_stems(question, generic=False) if foreign else []
        for body, cited in parse_answer(raw, labels):
            check, cites = verify_sentence(
                s, self._embed, qv, body=body, cited=cited, by_label=by_label
            )
            if check.supported and topic_stems and overlap(topic_stems, body) == 0:
                check = replace(check, supported=False, reason="shares no word with the question")
            norm = normalise_question(body)
            if check.supported and any(norm in prev or prev in norm for prev in seen):
                check = replace(check, supported=False, reason="repeats an earlier sentence")
            checks.append(check)
            if check.supported:
                seen.add(norm)
                kept.append((body, cites))
                kept_at.append(len(checks) - 1)
        if kept:
            mode = "generated"
            citations, marks = number_citations([c for _, c in kept])
            text = _render([body for body, _ in kept], marks)
            for at, labels_of in zip(kept_at, marks, strict=True):
                checks[at] = replace(checks[at], labels=labels_of)
        else:
            mode = "extractive"
            text, citations, quote_checks = extractive(s, passages)
            checks.extend(quote_checks)
        total = (time.perf_counter() - t0) * 1000
        answer = Answer(
            question,
            text,
            False,
            citations,
            checks,
            Timings(
                retrieve_ms=retrieve_ms,
                prompt_tokens=stats.prompt_tokens,
                evaluated_tokens=stats.evaluated_tokens,
                ttft_ms=ttft or total,
                generate_ms=stats.total_ms,
                total_ms=total,
                rank_ms=timing.get("rank_ms", 0.0),
            ),
            mode,
            [],
            self.model_id,
        )
        self.cache.put(key, version, answer)
        yield answer

    # -- steps ----------------------------------------------------------------------------------

    @property
    def _quote_chars(self) -> int:
        """The longest sentence the grammar lets the model write or quote."""
        s = self.settings
        if s.grammar == "copy" and s.quote == "sentences":
            return max(s.max_sentence_chars, s.max_quote_chars)
        return s.max_sentence_chars

    def _quotable(self, passages: list[_Passage]) -> dict[str, Sequence[str]]:
        """With the copy grammar: each label's sentences the model may quote (best first)."""
        s = self.settings
        units = sorted((u for p in passages for u in p.selected), key=lambda u: -u.score)
        top = {id(u) for u in units[: s.copy_top or len(units)]}
        return {p.label: [u.text for u in p.selected if id(u) in top] for p in passages}

    def _only_answer(self, passages: list[_Passage]) -> str | None:
        """The answer of whole-sentence quotes, chosen by the ranker, not decoded.

        The best-scored sentence, then up to ``quotes - 1`` more from other chunks that score
        at least ``quote_ratio`` of it (the choice of the quote fallback). Each is a
        sentence the copy grammar admits whole (``only_quote``); when one is longer than a
        quote may be (pieces to choose from), ``None``: the model chooses.
        """
        s = self.settings
        if s.grammar != "copy" or s.quote != "sentences" or s.decode_quotes or not passages:
            return None
        units = sorted(((p, u) for p in passages for u in p.selected), key=lambda pu: -pu[1].score)
        chosen: list[tuple[_Passage, _Unit]] = []
        for p, u in units:
            if chosen and (
                len(chosen) >= max(1, s.quotes) or u.score < s.quote_ratio * chosen[0][1].score
            ):
                break
            if any(u.chunk.id == c.chunk.id for _, c in chosen):
                continue
            if len(u.text.split()) >= s.min_content_words:
                chosen.append((p, u))
        parts = [
            only_quote(
                {p.label: [u.text]}, min_words=s.min_content_words, max_chars=self._quote_chars
            )
            for p, u in chosen
        ]
        if not parts or any(x is None for x in parts):
            return None
        return " ".join(x for x in parts if x is not None)

    def _grammar(self, passages: list[_Passage]) -> str | None:
        """This question's grammar; ``None`` when nothing can be quoted (then: quotes)."""
        s = self.settings
        if not passages:
            return None
        if s.grammar != "copy":
            return build_grammar(
                [p.label for p in passages],
                max_sentences=s.max_sentences,
                min_chars=s.min_sentence_chars,
                max_chars=s.max_sentence_chars,
                max_citations=s.max_citations,
            )
        try:
            return build_copy_grammar(
                self._quotable(passages),
                max_sentences=s.max_sentences,
                min_words=s.min_content_words,
                max_chars=self._quote_chars,
                whole=s.quote == "sentences",
            )
        except UsageError:  # only sentences too short to quote
            return None

    def _relevance(
        self, question: str, results: list[SearchResult]
    ) -> tuple[Relevance, list[Citation]]:
        """How relevant retrieval is, and the closest items either way."""
        closest: list[Citation] = []
        for r in results:
            if all(c.media_id != r.media_id for c in closest):
                quote = split_sentences(r.text)[0] if r.text else ""
                closest.append(Citation(r.media_id, r.title, r.start, r.end, quote, "", r.chunk_id))
            if len(closest) >= self.settings.closest:
                break
        rel = self.relevance(question, results)
        log.debug("relevance %s", rel)
        return rel, closest

    def relevance(self, question: str, results: list[SearchResult]) -> Relevance:
        """Measure whether ``results`` (from search) can answer ``question``.

        Three signals, thresholds in :class:`AnswerSettings`: the best MiniLM cosine between
        the question and a retrieved chunk; the IDF-weighted share of the question's topic
        words (question words like "discuss" left out) found in the top five chunks; and topic
        words that occur nowhere in the library (matched with the full-text index's stemmer).
        """
        s = self.settings
        if not results:
            return Relevance(0.0, 0.0, (), False)
        qv = self.searcher.query_vector(question)
        vectors = self.searcher.store.embed([r.text for r in results])
        cos = float(np.max(vectors @ qv))
        asked = question_language(question, self.library_languages())
        coverage, absent = self._topic_words(question, results[:5], stopwords_for(asked))
        # Names (capitalised mid-sentence, acronyms, words with digits) are what speech
        # recognition garbles most ("de Maiziere" heard as "mays year"), so a name absent from
        # the transcripts does not by itself mean the library lacks the subject; an ordinary
        # word absent from every item ("sourdough", "layoffs") does.
        names = _name_words(question)
        missing = tuple(w for w in absent if w not in names)
        ok = answerable(s, cos, coverage, bool(missing))
        return Relevance(
            round(cos, 4),
            round(coverage, 4),
            missing,
            ok,
            tuple(w for w in absent if w in names),
        )

    def _topic_words(
        self,
        question: str,
        top: Sequence[SearchResult],
        function_words: frozenset[str] = frozenset(),
    ) -> tuple[float, tuple[str, ...]]:
        """IDF-weighted share of the question's topic words in the ``top`` chunks, and the absent.

        A word counts as present in the library when the full-text index or an item title has
        it (titles are what the user sees, e.g. "Q4 All-Hands"); for a known abbreviation,
        when one of its spelled-out words does; and as present in the top chunks when one of
        their words sounds like it (:func:`sounds_like`: ASR spells by sound).
        """
        from core.search import fts_query

        terms = [
            t
            for t in query_terms(question)
            if t not in _GENERIC and t not in _STOPWORDS and t not in function_words
        ]
        chunk_ids = [r.chunk_id for r in top]
        if not terms or not chunk_ids:
            return (1.0 if not terms else 0.0), ()
        db = self.library.db
        n = int(db.scalar("SELECT count(*) FROM chunks") or 0)
        marks = ",".join("?" * len(chunk_ids))
        titles = self._title_stems()
        top_media = {r.media_id for r in top}

        def in_top(word: str) -> bool:
            if any(stem(word) in titles.get(m, ()) for m in top_media):
                return True
            return bool(
                db.scalar(
                    f"SELECT 1 FROM chunk_fts WHERE chunk_fts MATCH ? AND rowid IN ({marks}) "
                    "LIMIT 1",
                    (fts_query([word]), *chunk_ids),
                )
            )

        df_of = self.searcher.doc_freq
        top_words = {w for r in top for w in _WORD.findall(r.text.lower())}
        all_titles = set().union(*titles.values()) if titles else set()
        found = total = 0.0
        missing: list[str] = []
        for term in terms:
            df = df_of(term)
            idf = math.log((n + 1) / (df + 1)) + 1.0
            total += idf
            words = [term]
            if not df and stem(term) not in all_titles:
                words = [w for w in _EXPANSIONS.get(term, ()) if df_of(w) or stem(w) in all_titles]
                if not words and any(sounds_like(term, w) for w in top_words):
                    found += idf  # heard differently, but in the top chunks
                    continue
                if not words:
                    missing.append(term)
                    continue
            if any(in_top(w) for w in words):
                found += idf
        return (found / total if total else 0.0), tuple(missing)

    def library_languages(self) -> tuple[str, ...]:
        """The spoken languages of the library's items, cached per content version."""
        version = self.library.content_version
        if self._languages is None or self._languages[0] != version:
            rows = self.library.db.query(
                "SELECT DISTINCT language FROM media_items WHERE language IS NOT NULL"
            )
            self._languages = (version, tuple(sorted(str(r["language"]) for r in rows)))
        return self._languages[1]

    def _title_stems(self) -> dict[int, frozenset[str]]:
        """Stems of each item's title words, cached per library content version."""
        version = self.library.content_version
        if self._titles is None or self._titles[0] != version:
            stems = {
                int(row["id"]): frozenset(stem(w) for w in _WORD.findall(str(row["title"]).lower()))
                for row in self.library.db.query("SELECT id, title FROM media_items")
            }
            self._titles = (version, stems)
        return self._titles[1]

    @staticmethod
    def _refusal_text(closest: list[Citation]) -> str:
        text = "I could not find this in your library, so I will not guess."
        if closest:
            text += " The closest items are: " + "; ".join(
                f"{c.title} @ {format_timestamp(c.start)}" for c in closest
            )
            text += "."
        return text

    def _prompt(self, question: str, passages: list[_Passage], llm: LocalLLM) -> Prompt:
        ordered = list(reversed(passages)) if self.settings.best_last else passages
        body = "\n".join(p.prompt_text() for p in ordered)
        user = f"{body}\nQuestion: {sanitize(question)}"
        return llm.chat_prompt(SYSTEM_PROMPT, USER_PREFIX, user)

    def _embed(self, texts: Sequence[str]) -> Any:
        return self.searcher.store.embed(list(texts))
