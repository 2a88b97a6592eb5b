"""Annotate items: map over chunk windows, reduce to item tags, store them with provenance.

Per item:

* **Embeddings** (every chunk, from the search index's cache): the item vector is the mean of
  its chunk vectors. Topics and mood are scored against the taxonomy's label descriptions; the
  supporting chunk ids of a topic are the chunks whose best label it is.
* **Language model** (a bounded number of windows of consecutive chunks, spread over the item):
  each window yields a topic vote, a mood vote and typed entities under a grammar
  (``llm_tags``). Votes are added to the embedding logits with a weight fitted on data.
* **Safety**: a lexicon scan of every chunk (``safety``).
* **Summary**: the 2-3 transcript sentences most central to the item (embedding similarity to
  the item vector with a redundancy penalty), so it cannot say anything the item does not.
* **Reviews**: a head trained on reviewed topic labels corrects the topic logits.

An item is annotated again only when its content hash, the model or the prompt version changed;
tags a person reviewed are never replaced.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core.annotate import classify, entities, llm_tags, safety
from core.annotate.store import NewTag, replace_machine_tags, tags_of
from core.errors import MediaMindError
from core.llm import LLMHandle, LocalLLM
from core.search import EmbeddingStore, TextEncoder, default_encoder
from core.store import Chunk, Library, utcnow
from core.taxonomy import MOOD_DESCRIPTIONS, MOODS, TOPIC_DESCRIPTIONS, TOPICS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnnotateSettings:
    """Knobs of the annotation pipeline (part of the prompt version).

    Attributes:
        use_llm: Run the language model (entities, votes); off = embeddings and lexicon only.
        max_windows: Language-model calls per item at most (the 60 s budget of a 30 min item).
        window_tokens: Transcript tokens per call.
        max_topics: Topics kept per item.
        topic_min_probability: A second or third topic needs at least this probability.
        summary_sentences: Sentences of the summary.
    """

    use_llm: bool = True
    max_windows: int = 4
    window_tokens: int = 300
    max_topics: int = 3
    topic_min_probability: float = 0.25
    summary_sentences: int = 3

    def fingerprint(self) -> str:
        """What of these settings changes the output (all of it)."""
        return json.dumps(self.__dict__, sort_keys=True)


def prompt_version(settings: AnnotateSettings | None = None) -> str:
    """The version of everything besides the models that shapes a tag.

    Covers prompts, grammar shape, label descriptions, calibration, the safety lexicon and the
    settings; it changes when any of them does.
    """
    parts = [
        llm_tags.SYSTEM_PROMPT,
        llm_tags.USER_PREFIX,
        json.dumps(TOPIC_DESCRIPTIONS, sort_keys=True),
        json.dumps(MOOD_DESCRIPTIONS, sort_keys=True),
        repr(classify.TOPIC_CALIBRATION),
        repr(classify.MOOD_CALIBRATION),
        repr(safety._LEXICON),
        safety._BENIGN.pattern,
        repr((safety._MIN_USES, safety.MIN_WORD_PROBABILITY)),
        entities.TYPING_VERSION,
        (settings or AnnotateSettings()).fingerprint(),
    ]
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:8]
    return f"v1-{digest}"


@dataclass(frozen=True)
class AnnotateEvent:
    """Progress of :func:`annotate`, one event at a time.

    Attributes:
        kind: ``started`` (an item begins), ``progress`` (a window done), ``done``,
            ``skipped`` (unchanged since its last annotation), ``failed`` or ``finished``.
        index: 1-based position of the item in the batch.
        total: Items in the batch.
        media_id: The item (0 for ``finished``).
        title: Its title.
        fraction: Progress of the whole batch in [0, 1].
        message: Error text for ``failed``; a summary for ``finished``.
        seconds: Time the item took (``done``).
    """

    kind: str
    index: int
    total: int
    media_id: int
    title: str
    fraction: float
    message: str = ""
    seconds: float = 0.0


@dataclass
class _Features:
    """What the classifiers saw for one item; stored so topics can be re-scored later."""

    llm_topic_votes: list[float] = field(default_factory=lambda: [0.0] * len(TOPICS))
    llm_mood_votes: list[float] = field(default_factory=lambda: [0.0] * len(MOODS))
    windows: int = 0


def content_hash(chunks: Sequence[Chunk]) -> str:
    """Hash of an item's transcript as annotation sees it (chunk texts in order)."""
    return hashlib.sha256("\n".join(c.text for c in chunks).encode("utf-8")).hexdigest()


_SENTENCE = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][\"”’']))\s+(?=[A-Z0-9\"“'])")


_SPEAKER = re.compile(r"^\s*[A-Z][\w .'-]{0,30}:\s+")
_FILLERS = frozenset(["uh", "um", "er", "erm", "mm", "hmm", "mm-hmm", "yeah", "okay", "like"])

# Chunks cited as a tag's support: a mood's best-scoring ones; at most this many places an
# entity occurs, and at most this many chunks behind a safety rating.
MOOD_SUPPORT_CHUNKS = 3
ENTITY_MAX_CHUNKS = 20
SAFETY_MAX_CHUNKS = 50
# An entity's confidence: a base, plus a share for the language-model windows that named it,
# plus a share for its mentions in the transcript (full at ENTITY_FULL_MENTIONS).
ENTITY_BASE_CONFIDENCE = 0.35
ENTITY_VOTE_WEIGHT = 0.35
ENTITY_MENTION_WEIGHT = 0.25
ENTITY_FULL_MENTIONS = 3
# Summary: sentences come from the chunks closest to the item's mean vector; a sentence of
# SUMMARY_SENTENCE_WORDS words with at most SUMMARY_MAX_FILLER_SHARE fillers is a candidate.
# Without one, the central chunk's first SUMMARY_FALLBACK_WORDS words are the summary.
SUMMARY_CENTRAL_CHUNKS = 4
SUMMARY_SENTENCE_WORDS = (6, 50)
SUMMARY_MAX_FILLER_SHARE = 0.1
SUMMARY_FALLBACK_WORDS = 60
# Sentences are picked by maximal marginal relevance: similarity to the item, weighed against
# similarity to the sentences already picked.
SUMMARY_RELEVANCE_WEIGHT = 0.7
SUMMARY_REDUNDANCY_WEIGHT = 0.3
# Summary confidence: the chosen sentences' mean similarity to the item, mapped linearly from
# [FLOOR, FLOOR + SPAN] onto [0, 1] and clipped to SUMMARY_CONFIDENCE_RANGE.
SUMMARY_SIMILARITY_FLOOR = 0.3
SUMMARY_SIMILARITY_SPAN = 0.5
SUMMARY_CONFIDENCE_RANGE = (0.05, 0.95)


def split_sentences(text: str) -> list[str]:
    """Sentences of a chunk (a simple punctuation split; transcripts are punctuated)."""
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


class Annotator:
    """Annotates items of one library; loads models on first use and keeps them."""

    def __init__(
        self,
        library: Library,
        *,
        llm: str | Path | None = None,
        encoder: TextEncoder | None = None,
        settings: AnnotateSettings | None = None,
        use_reviews: bool = True,
    ) -> None:
        """Bind to a library.

        Args:
            library: The library.
            llm: A GGUF path (default ``$MEDIAMIND_LLM`` or the built-in SmolLM2).
            encoder: The MiniLM encoder (default: the process-wide one).
            settings: Pipeline settings.
            use_reviews: Train the topic head on this library's reviews.
        """
        self.library = library
        self.llm_path = llm
        self.settings = settings or AnnotateSettings()
        self._encoder = encoder
        self._handle = LLMHandle(llm)
        self._store: EmbeddingStore | None = None
        self.use_reviews = use_reviews
        self._head: classify.ReviewHead | None = None
        self._head_loaded = False
        self.prompt_version = prompt_version(self.settings)

    # -- models -----------------------------------------------------------------------------------

    @property
    def encoder(self) -> TextEncoder:
        """The MiniLM encoder."""
        if self._encoder is None:
            self._encoder = default_encoder()
        return self._encoder

    @property
    def store(self) -> EmbeddingStore:
        """Chunk vectors through the search index's embedding cache."""
        if self._store is None:
            self._store = EmbeddingStore(self.library, self.encoder)
        return self._store

    @property
    def llm(self) -> LocalLLM:
        """The language model, loaded on first use."""
        return self._handle.model

    @property
    def model_id(self) -> str:
        """The models an annotation depends on: LLM file identity | embedding model."""
        llm_id = self._handle.identity if self.settings.use_llm else "no-llm"
        return f"{llm_id}|{self.encoder.model_id}"

    @property
    def head(self) -> classify.ReviewHead | None:
        """The topic head trained on this library's reviewed topics (None without reviews)."""
        if not self._head_loaded:
            self._head = train_head(self.library, self.encoder) if self.use_reviews else None
            self._head_loaded = True
        return self._head

    # -- one item ---------------------------------------------------------------------------------

    def needs_annotation(self, media_id: int, digest: str, model_id: str) -> bool:
        """Whether the stored annotation is missing, failed or made from something else."""
        row = self.library.db.query_one(
            "SELECT content_sha256, model_id, prompt_version, status FROM annotations "
            "WHERE media_id=?",
            (media_id,),
        )
        return not (
            row
            and row["status"] == "done"
            and row["content_sha256"] == digest
            and row["model_id"] == model_id
            and row["prompt_version"] == self.prompt_version
        )

    def annotate_item(
        self,
        media_id: int,
        *,
        run_id: int | None = None,
        model_id: str | None = None,
        votes: LLMVotes | None = None,
    ) -> list[NewTag]:
        """Compute and store the tags of one item (whatever its stored state).

        ``votes`` are the language model's, computed elsewhere (a Ray worker) by
        :func:`llm_votes` on this item's chunks; without them the model runs here.

        Raises:
            MediaMindError: The item has no transcript, or a model failed.
        """
        lib = self.library
        item = lib.get_item(media_id)
        chunks = lib.chunks(media_id)
        if not chunks:
            from core.errors import UsageError

            raise UsageError(
                f"Item {media_id} ({item.title}) has no transcript to annotate "
                f"(status {item.status}).",
                fix=f"Run 'mediamind ingest {item.path}' first.",
            )
        model_id = model_id or self.model_id
        digest = content_hash(chunks)
        vectors = self.store.embed([c.text for c in chunks])
        item_vec = classify.unit(vectors.mean(axis=0))
        if votes is None:
            votes = (
                llm_votes(self.llm, self.settings, chunks)
                if self.settings.use_llm
                else (_Features(), Counter())
            )
        features, entity_votes = votes
        tags = self._tags(
            chunks, vectors, item_vec, features, entity_votes=entity_votes, model_id=model_id
        )
        now = utcnow()
        with lib.db.atomic():
            replace_machine_tags(
                lib,
                media_id,
                tags,
                prompt_version=self.prompt_version,
                run_id=run_id,
                annotated_at=now,
            )
            lib.db.execute(
                "INSERT OR REPLACE INTO annotations (media_id, content_sha256, model_id, "
                "prompt_version, run_id, annotated_at, status, error, embedding, features) "
                "VALUES (?, ?, ?, ?, ?, ?, 'done', NULL, ?, ?)",
                (
                    media_id,
                    digest,
                    model_id,
                    self.prompt_version,
                    run_id,
                    now,
                    item_vec.astype(np.float32).tobytes(),
                    json.dumps(features.__dict__),
                ),
            )
        return tags

    def windows(self, chunks: Sequence[Chunk]) -> list[str]:
        """Texts for the language model (see :func:`windows`)."""
        return windows(self.llm, self.settings, chunks)

    def _tags(
        self,
        chunks: Sequence[Chunk],
        vectors: np.ndarray,
        item_vec: np.ndarray,
        features: _Features,
        *,
        entity_votes: Counter[tuple[str, str]],
        model_id: str,
    ) -> list[NewTag]:
        chunk_ids = [c.id for c in chunks]
        tags: list[NewTag] = []
        # Topics.
        tags.extend(
            self.topic_tags(item_vec, vectors, chunk_ids, features.llm_topic_votes, model_id)
        )
        # Mood: embeddings plus the model's votes; the best value a reviewer did not rule out.
        space = classify.label_space("mood", self.encoder)
        votes = np.asarray(features.llm_mood_votes, dtype=np.float32)
        votes = votes / votes.sum() if votes.sum() else votes
        cal = classify.MOOD_CALIBRATION
        probs = classify.softmax(
            space.scores(item_vec)[0] / cal.temperature + cal.llm_weight * votes
        )
        # Only reviewed moods rule a value out (the item's previous machine mood must not, or
        # each re-annotation would pick the next-best mood).
        ruled = {
            t.value
            for t in tags_of(self.library, chunks[0].media_id)
            if t.type == "mood" and t.gold
        }
        for j in np.argsort(-probs):
            if MOODS[j] not in ruled:
                scores = space.scores(vectors)[:, j]
                support = [chunk_ids[i] for i in np.argsort(-scores)[:MOOD_SUPPORT_CHUNKS]]
                tags.append(
                    NewTag("mood", MOODS[j], float(probs[j]), sorted(support), {}, model_id)
                )
                break
        # Entities: chosen by the model among names found in the text, checked again here,
        # and typed from their context in the whole transcript (the model's type is not used:
        # a name no cue types is dropped rather than guessed).
        texts = [c.text for c in chunks]
        full_text = "\n".join(texts)
        windows = max(1, features.windows)
        by_name: Counter[str] = Counter()
        for (name, _etype), n in entity_votes.items():
            by_name[name] += n
        types = entities.type_entities(list(by_name), full_text)
        for name, n in by_name.most_common():
            typing = types[name]
            if typing is None:
                log.info("entity %r has no type cue in the transcript; dropped", name)
                continue
            where = [
                cid for cid, t in zip(chunk_ids, texts, strict=True) if llm_tags.occurs_in(name, t)
            ]
            if not where:
                log.warning("entity %r is not in the transcript; dropped", name)
                continue
            mentions = len(where)
            conf = (
                ENTITY_BASE_CONFIDENCE
                + ENTITY_VOTE_WEIGHT * min(1.0, n / windows)
                + ENTITY_MENTION_WEIGHT * min(1.0, mentions / ENTITY_FULL_MENTIONS)
            )
            tags.append(
                NewTag(
                    "entity",
                    name,
                    conf,
                    where[:ENTITY_MAX_CHUNKS],
                    {"type": typing.type, "type_cue": typing.cue},
                    model_id,
                )
            )
        # Safety.
        segments = self.library.segments(chunks[0].media_id)
        timed: list[safety.TimedText] = []
        taken: set[int] = set()
        for c in chunks:
            for k in range(c.first_segment, min(c.last_segment + 1, len(segments))):
                if k in taken:  # a segment shared by two chunks is scanned once
                    continue
                taken.add(k)
                seg = segments[k]
                words = tuple((w.start, w.word, w.probability) for w in seg.words or ())
                timed.append(safety.TimedText(c.id, seg.start, seg.text, words))
        rating = safety.rate(list(zip(chunk_ids, texts, strict=True)), segments=timed or None)
        tags.append(
            NewTag(
                "safety",
                rating.rating,
                rating.confidence,
                rating.chunk_ids[:SAFETY_MAX_CHUNKS],
                {"reasons": [r.to_json() for r in rating.reasons]},
                model_id,
            )
        )
        # Summary.
        summary = self.summary(chunks, vectors, item_vec)
        if summary is not None:
            tags.append(NewTag("summary", summary[0], summary[2], summary[1], {}, model_id))
        return tags

    def topic_tags(
        self,
        item_vec: np.ndarray,
        vectors: np.ndarray,
        chunk_ids: Sequence[int],
        llm_topic_votes: Sequence[float],
        model_id: str,
    ) -> list[NewTag]:
        """The topic tags of an item from its vectors and the language model's votes."""
        votes = np.asarray(llm_topic_votes, dtype=np.float32)
        share = votes / votes.sum() if votes.sum() else None
        head = self.head
        scores = classify.score_topics(
            classify.label_space("topic", self.encoder), item_vec, vectors, share, head=head
        )
        tag_model = model_id + (f"+head{head.n_examples}" if head is not None else "")
        order = np.argsort(-scores.probabilities)
        out = []
        for rank, j in enumerate(order[: self.settings.max_topics]):
            p = float(scores.probabilities[j])
            if rank and p < self.settings.topic_min_probability:
                break
            support = classify.supporting_chunks(scores, int(j), chunk_ids)
            out.append(NewTag("topic", TOPICS[j], p, support, {}, tag_model))
        return out

    def summary(
        self, chunks: Sequence[Chunk], vectors: np.ndarray, item_vec: np.ndarray
    ) -> tuple[str, list[int], float] | None:
        """2-3 central, non-redundant transcript sentences, in order.

        Returns:
            The text, its chunk ids and a confidence (mean similarity to the item, rescaled).
        """
        central = np.argsort(-(vectors @ item_vec))[:SUMMARY_CENTRAL_CHUNKS]
        segments = self.library.segments(chunks[0].media_id)
        cands: list[tuple[int, int, str]] = []  # (chunk position, order, sentence)
        for pos in sorted(int(i) for i in central):
            c = chunks[pos]
            # Sentences of the chunk's own segments (a speaker label is not part of them).
            texts = [
                _SPEAKER.sub("", seg.text) for seg in segments[c.first_segment : c.last_segment + 1]
            ]
            for k, sentence in enumerate(
                s for t in (texts or [c.text]) for s in split_sentences(t)
            ):
                words = sentence.split()
                fillers = sum(w.strip(",.?!").lower() in _FILLERS for w in words)
                shortest, longest = SUMMARY_SENTENCE_WORDS
                max_fillers = SUMMARY_MAX_FILLER_SHARE * len(words)
                if shortest <= len(words) <= longest and fillers <= max_fillers:
                    cands.append((pos, k, sentence))
        if not cands:
            text = chunks[int(central[0])].text.strip()
            if not text:
                return None
            cands = [(int(central[0]), 0, " ".join(text.split()[:SUMMARY_FALLBACK_WORDS]))]
        sv = self.encoder.encode([s for _, _, s in cands])
        rel = sv @ item_vec
        chosen: list[int] = []
        while len(chosen) < min(self.settings.summary_sentences, len(cands)):
            best, best_score = -1, -1e9
            for i in range(len(cands)):
                if i in chosen:
                    continue
                redundancy = max((float(sv[i] @ sv[j]) for j in chosen), default=0.0)
                score = (
                    SUMMARY_RELEVANCE_WEIGHT * float(rel[i])
                    - SUMMARY_REDUNDANCY_WEIGHT * redundancy
                )
                if score > best_score:
                    best, best_score = i, score
            chosen.append(best)
        chosen.sort(key=lambda i: (cands[i][0], cands[i][1]))
        text = " ".join(cands[i][2] for i in chosen)
        ids = sorted({chunks[cands[i][0]].id for i in chosen})
        mean = float(np.mean(rel[chosen]))
        conf = float(
            np.clip(
                (mean - SUMMARY_SIMILARITY_FLOOR) / SUMMARY_SIMILARITY_SPAN,
                *SUMMARY_CONFIDENCE_RANGE,
            )
        )
        return text, ids, conf


LLMVotes = tuple[_Features, Counter[tuple[str, str]]]


def windows(llm: LocalLLM, settings: AnnotateSettings, chunks: Sequence[Chunk]) -> list[str]:
    """Texts for the language model, at most ``max_windows``, spread over the item.

    Each window is consecutive chunks up to the token budget.
    """
    budget = settings.window_tokens
    groups: list[list[Chunk]] = []
    size = 0
    for c in chunks:
        n = llm.count_tokens(c.text)
        if groups and size + n <= budget:
            groups[-1].append(c)
            size += n
        else:
            groups.append([c])
            size = n
    k = min(settings.max_windows, len(groups))
    if k <= 0:
        return []
    picks = sorted({round(i * (len(groups) - 1) / max(1, k - 1)) for i in range(k)})
    return [llm_tags.fit_text(llm, " ".join(c.text for c in groups[i]), budget) for i in picks]


def llm_votes(llm: LocalLLM, settings: AnnotateSettings, chunks: Sequence[Chunk]) -> LLMVotes:
    """The language model's topic and mood votes and entities over an item's windows.

    Needs no library, so a Ray worker can run it (``core.cluster``).
    """
    features = _Features()
    entity_votes: Counter[tuple[str, str]] = Counter()
    for window in windows(llm, settings, chunks):
        out = llm_tags.tag_window(llm, window)
        features.windows += 1
        if out.topic:
            features.llm_topic_votes[TOPICS.index(out.topic)] += 1
        if out.mood:
            features.llm_mood_votes[MOODS.index(out.mood)] += 1
        for name, etype in out.entities:
            entity_votes[(name, etype)] += 1
    return features, entity_votes


def train_head(lib: Library, encoder: TextEncoder | None = None) -> classify.ReviewHead | None:
    """Train the topic head on every item with reviewed topics and a stored embedding."""
    rows = lib.db.query(
        "SELECT t.media_id, t.value, a.embedding, a.features FROM tags t "
        "JOIN annotations a ON a.media_id = t.media_id "
        "WHERE t.type='topic' AND t.status IN ('accepted', 'edited') AND a.embedding IS NOT NULL "
        "ORDER BY t.media_id"
    )
    if not rows:
        return None
    by_item: dict[int, tuple[np.ndarray, list[float], list[str]]] = {}
    for r in rows:
        entry = by_item.setdefault(
            int(r["media_id"]),
            (
                np.frombuffer(r["embedding"], dtype=np.float32),
                json.loads(r["features"] or "{}").get("llm_topic_votes", [0.0] * len(TOPICS)),
                [],
            ),
        )
        entry[2].append(str(r["value"]))
    return fit_head([(v, votes, gold) for v, votes, gold in by_item.values()], encoder)


def fit_head(
    examples: Sequence[tuple[np.ndarray, Sequence[float], Sequence[str]]],
    encoder: TextEncoder | None = None,
) -> classify.ReviewHead | None:
    """Train a topic head on ``(item vector, LLM topic votes, gold labels)`` examples."""
    if not examples:
        return None
    space = classify.label_space("topic", encoder or default_encoder())
    cal = classify.TOPIC_CALIBRATION
    x = np.stack([e[0] for e in examples]).astype(np.float32)
    votes = np.asarray([e[1] for e in examples], dtype=np.float32)
    sums = votes.sum(axis=1, keepdims=True)
    share = np.divide(votes, sums, out=np.zeros_like(votes), where=sums > 0)
    prior = space.scores(x) / cal.temperature + cal.llm_weight * share
    return classify.ReviewHead.train(TOPICS, x, [e[2] for e in examples], prior)


def rescore_topics(annotator: Annotator) -> int:
    """Re-score the machine topic tags of every annotated item with the current review head.

    No language model runs: the item vectors and the model's votes were stored at annotation.
    Returns the number of items whose topics were rewritten.
    """
    lib = annotator.library
    head = annotator.head
    if head is None:
        return 0
    suffix = f"+head{head.n_examples}"
    rows = lib.db.query(
        "SELECT a.media_id, a.model_id, a.embedding, a.features FROM annotations a "
        "WHERE a.status='done' AND a.embedding IS NOT NULL"
    )
    done = 0
    for r in rows:
        mid = int(r["media_id"])
        current = [t for t in tags_of(lib, mid) if t.type == "topic" and not t.gold]
        if current and all(t.model_id.endswith(suffix) for t in current):
            continue
        chunks = lib.chunks(mid)
        vectors = annotator.store.embed([c.text for c in chunks])
        item_vec = np.frombuffer(r["embedding"], dtype=np.float32)
        votes = json.loads(r["features"] or "{}").get("llm_topic_votes", [0.0] * len(TOPICS))
        topics = annotator.topic_tags(
            item_vec, vectors, [c.id for c in chunks], votes, r["model_id"]
        )
        others = [
            NewTag(t.type, t.value, t.confidence, t.chunk_ids, t.detail, t.model_id)
            for t in tags_of(lib, mid)
            if not t.gold and t.type != "topic"
        ]
        with lib.db.atomic():
            replace_machine_tags(
                lib, mid, [*topics, *others], prompt_version=annotator.prompt_version, run_id=None
            )
        done += 1
    return done


def annotate(
    library: Library,
    ids: Sequence[int] | None = None,
    *,
    annotator: Annotator | None = None,
    force: bool = False,
    votes: Callable[[int, list[Chunk]], LLMVotes] | None = None,
) -> Iterator[AnnotateEvent]:
    """Annotate items (all ready items when ``ids`` is None), yielding progress.

    Resumable: items whose stored annotation matches their content, the model and the prompt
    version are skipped, so running it again after an interruption continues where it stopped.
    A failing item is recorded with its error and the batch goes on.

    Args:
        library: The library.
        ids: Items to annotate; None for every ready item.
        annotator: A configured annotator (default: LLM and embeddings with default settings).
        force: Annotate even unchanged items.
        votes: Gets an item's language-model votes from elsewhere (``core.cluster`` runs
            them on Ray); by default the annotator's model runs here.

    Raises:
        NotFoundError: An id in ``ids`` does not exist (before anything runs).
    """
    ann = annotator or Annotator(library)
    items = [library.get_item(i) for i in ids] if ids else library.items(status="ready")
    total = len(items)
    model_id = ann.model_id
    with library.db.atomic():
        library.db.execute(
            "INSERT INTO annotation_runs (started_at, model_id, prompt_version, items_total) "
            "VALUES (?, ?, ?, ?)",
            (utcnow(), model_id, ann.prompt_version, total),
        )
        run_id = library.db.last_insert_rowid()
    counts = Counter[str]()
    for index, item in enumerate(items, start=1):
        base = (index - 1) / max(1, total)
        try:
            chunks = library.chunks(item.id)
            if (
                not force
                and chunks
                and not ann.needs_annotation(item.id, content_hash(chunks), model_id)
            ):
                counts["skipped"] += 1
                yield AnnotateEvent("skipped", index, total, item.id, item.title, index / total)
                continue
            yield AnnotateEvent("started", index, total, item.id, item.title, base)
            t0 = time.perf_counter()
            item_votes = votes(item.id, chunks) if votes and ann.settings.use_llm else None
            ann.annotate_item(item.id, run_id=run_id, model_id=model_id, votes=item_votes)
            counts["done"] += 1
            yield AnnotateEvent(
                "done",
                index,
                total,
                item.id,
                item.title,
                index / total,
                seconds=time.perf_counter() - t0,
            )
        except MediaMindError as exc:
            counts["failed"] += 1
            _record_failure(
                library, item.id, model_id, ann.prompt_version, run_id=run_id, message=str(exc)
            )
            yield AnnotateEvent(
                "failed", index, total, item.id, item.title, index / total, str(exc)
            )
        except (ValueError, RuntimeError, OSError) as exc:  # a broken item must not stop the batch
            log.exception("annotating item %d failed", item.id)
            counts["failed"] += 1
            message = f"Annotating item {item.id} ({item.title}) failed: {exc}"
            _record_failure(
                library, item.id, model_id, ann.prompt_version, run_id=run_id, message=message
            )
            yield AnnotateEvent("failed", index, total, item.id, item.title, index / total, message)
        finally:
            library.db.execute(
                "UPDATE annotation_runs SET items_done=?, items_skipped=?, items_failed=? "
                "WHERE id=?",
                (counts["done"], counts["skipped"], counts["failed"], run_id),
            )
    library.db.execute("UPDATE annotation_runs SET finished_at=? WHERE id=?", (utcnow(), run_id))
    message = (
        f"{counts['done']} annotated, {counts['skipped']} unchanged, {counts['failed']} failed"
    )
    yield AnnotateEvent("finished", total, total, 0, "", 1.0, message)


def _record_failure(
    lib: Library, media_id: int, model_id: str, version: str, *, run_id: int, message: str
) -> None:
    with lib.db.atomic():
        lib.db.execute(
            "INSERT INTO annotations (media_id, content_sha256, model_id, prompt_version, run_id, "
            "annotated_at, status, error) VALUES (?, '', ?, ?, ?, ?, 'error', ?) "
            "ON CONFLICT(media_id) DO UPDATE SET status='error', error=excluded.error, "
            "run_id=excluded.run_id, annotated_at=excluded.annotated_at",
            (media_id, model_id, version, run_id, utcnow(), message),
        )
