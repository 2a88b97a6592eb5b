"""Find the moment: hybrid search over transcript chunks.

Vector KNN (all-MiniLM-L6-v2 int8 in sqlite-vec) finds chunks by meaning, BM25 (SQLite FTS5)
by words; reciprocal rank fusion merges the two rankings. Embeddings are cached by
(model, text sha256), query vectors and whole result lists in small LRU caches.

Small libraries use sqlite-vec's exact scan. From :data:`QUANTIZED_MIN_VECTORS` chunks on, the
vector ranking runs in stages over quantized copies of the vectors (``docs/search_scale.md``):
the sign bits of every vector, held in memory, are scanned by a weighted Hamming distance with
the search filters applied; the survivors are re-scored against the float query through their
bits, then through their int8 copies, and the head is re-ranked exactly with the float vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
import unicodedata
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from core.stopwords import STOPWORDS
from core.store import Database, Library, write_vectors
from core.transcript import format_timestamp

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]


class TextEncoder(Protocol):
    """What search needs of an embedding model (``core.search.embedding.Embedder`` is one)."""

    @property
    def model_id(self) -> str:
        """Identifies the model and precision; stored with cached vectors."""
        ...

    @property
    def dim(self) -> int:
        """Vector length."""
        ...

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> Vector:
        """Return unit vectors ``[len(texts), dim]``."""
        ...


_encoders: dict[str, TextEncoder] = {}
_encoder_lock = threading.Lock()


def default_encoder() -> TextEncoder:
    """The process-wide int8 MiniLM encoder, built on first use."""
    with _encoder_lock:
        if "default" not in _encoders:
            from core.search.embedding import Embedder

            _encoders["default"] = Embedder()
        return _encoders["default"]


def text_sha256(text: str) -> str:
    """Key of a text in the embedding cache."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingStore:
    """Embeds chunk texts through a persistent cache and writes them to the vector index."""

    def __init__(self, library: Library, encoder: TextEncoder | Callable[[], TextEncoder]) -> None:
        """Bind to a library; ``encoder`` may be a factory so the model loads only if needed."""
        self.library = library
        self._encoder = encoder
        self.encoded_texts = 0  # how many texts actually went through the model

    @property
    def encoder(self) -> TextEncoder:
        """The encoder, created on first use."""
        if callable(self._encoder) and not hasattr(self._encoder, "encode"):
            self._encoder = self._encoder()
        return self._encoder  # type: ignore[return-value]

    def embed(self, texts: Sequence[str]) -> Vector:
        """Return vectors for ``texts``, computing (and caching) only those never seen."""
        enc = self.encoder
        out = np.zeros((len(texts), enc.dim), dtype=np.float32)
        if not texts:
            return out
        keys = [text_sha256(t) for t in texts]
        cached: dict[str, bytes] = {}
        db = self.library.db
        unique = sorted(set(keys))
        for i in range(0, len(unique), 500):
            part = unique[i : i + 500]
            rows = db.query(
                "SELECT text_sha256, vector FROM embedding_cache WHERE model_id = ? "
                f"AND text_sha256 IN ({','.join('?' * len(part))})",
                (enc.model_id, *part),
            )
            cached.update((r["text_sha256"], r["vector"]) for r in rows)
        missing = [i for i, k in enumerate(keys) if k not in cached]
        todo = list(dict.fromkeys(keys[i] for i in missing))
        if todo:
            first = {keys[i]: i for i in reversed(missing)}
            vectors = enc.encode([texts[first[k]] for k in todo])
            self.encoded_texts += len(todo)
            with db.atomic():
                db.executemany(
                    "INSERT OR REPLACE INTO embedding_cache (model_id, text_sha256, vector) "
                    "VALUES (?, ?, ?)",
                    [
                        (enc.model_id, k, v.astype(np.float32).tobytes())
                        for k, v in zip(todo, vectors, strict=True)
                    ],
                )
            cached.update(
                (k, v.astype(np.float32).tobytes()) for k, v in zip(todo, vectors, strict=True)
            )
        for i, k in enumerate(keys):
            out[i] = np.frombuffer(cached[k], dtype=np.float32)
        return out

    def backfill(self) -> int:
        """Index chunks that have no vector yet (older libraries, interrupted runs)."""
        db = self.library.db
        # Vectors are written with their chunk and deleted with it (triggers), so equal counts
        # mean none is missing; counting reads two small indexes, not every chunk's text.
        if db.scalar("SELECT count(*) FROM chunks") == db.scalar(
            "SELECT count(*) FROM chunk_vec_bits"
        ):
            return 0
        rows = self.library.db.query(
            "SELECT c.id, c.text, c.media_id, m.kind, m.added_at FROM chunks c "
            "JOIN media_items m ON m.id = c.media_id "
            "WHERE c.id NOT IN (SELECT chunk_id FROM chunk_vec)"
        )
        if not rows:
            return 0
        log.info("indexing %d chunks without vectors", len(rows))
        vectors = self.embed([r["text"] for r in rows])
        return write_vectors(
            self.library.db,
            [
                (r["id"], v, r["media_id"], r["kind"], r["added_at"])
                for r, v in zip(rows, vectors, strict=True)
            ],
        )


# -- queries ----------------------------------------------------------------------------------


_MAX_TERMS = 32


def query_terms(query: str) -> list[str]:
    """The searchable words of a query: lower-cased, de-duplicated, stopwords dropped.

    Only word characters survive, so FTS5 syntax typed by the user (quotes, parentheses,
    ``NEAR``, ``*``, ``-``, ``:``, ``AND``) is never interpreted.
    """
    words = re.findall(r"\w+", query.lower())
    terms = [
        w
        for w in dict.fromkeys(words)
        if w not in STOPWORDS and w.upper() not in ("AND", "OR", "NOT", "NEAR")
    ]
    return terms[:_MAX_TERMS] or [w for w in dict.fromkeys(words)][:_MAX_TERMS]


def fts_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression that ORs the terms, each quoted as a literal string."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def _match_key(word: str, stemmer: Any) -> str:
    """What the full-text index compares: the Porter stem of the word without diacritics."""
    plain = "".join(
        c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c)
    )
    return str(stemmer.stemWord(plain))


def mark_terms(text: str, terms: Sequence[str], left: str = "**", right: str = "**") -> str:
    """Wrap the words of ``text`` that match a query term in markers.

    A word matches when its Porter stem equals a term's, as in the full-text index's
    ``porter`` tokenizer: "budgets" marks for "budget", "a" does not mark "against".
    """
    import Stemmer

    stemmer = Stemmer.Stemmer("porter")
    keys = {_match_key(t, stemmer) for t in terms if t}
    if not keys:
        return text
    return re.sub(
        r"\w+",
        lambda m: (
            f"{left}{m.group(0)}{right}" if _match_key(m.group(0), stemmer) in keys else m.group(0)
        ),
        text,
    )


@dataclass(frozen=True)
class SearchFilters:
    """Restrict results to some items, kinds of media, or a date-added range (ISO dates).

    The facets ``topics``, ``moods`` and ``max_rating`` read the annotation tags (reviewed or
    machine, never rejected ones): an item matches a topic or mood it is tagged with, and
    ``max_rating`` keeps only items rated at most that (items not rated yet are left out, so a
    family filter never lets an unchecked item through).
    """

    media_ids: tuple[int, ...] = ()
    kinds: tuple[str, ...] = ()
    added_after: str | None = None
    added_before: str | None = None
    topics: tuple[str, ...] = ()
    moods: tuple[str, ...] = ()
    max_rating: str | None = None
    # Speaker profile ids: items where one of them speaks, then only chunks where they do.
    speakers: tuple[int, ...] = ()

    def sql(self, media: str = "m") -> tuple[str, list[Any]]:
        """A WHERE fragment over ``media_items`` (aliased ``media``) and its parameters."""
        parts: list[str] = []
        params: list[Any] = []
        if self.media_ids:
            parts.append(f"{media}.id IN ({','.join('?' * len(self.media_ids))})")
            params.extend(self.media_ids)
        if self.kinds:
            parts.append(f"{media}.kind IN ({','.join('?' * len(self.kinds))})")
            params.extend(self.kinds)
        if self.added_after:
            parts.append(f"{media}.added_at >= ?")
            params.append(self.added_after)
        if self.added_before:
            parts.append(f"{media}.added_at < ?")
            params.append(self.added_before)
        from core.taxonomy import RATINGS

        facets: list[tuple[str, tuple[str, ...]]] = [
            ("topic", self.topics),
            ("mood", self.moods),
            ("safety", RATINGS[: RATINGS.index(self.max_rating) + 1] if self.max_rating else ()),
        ]
        for kind, values in facets:
            if values:
                parts.append(
                    f"{media}.id IN (SELECT t.media_id FROM tags t WHERE t.type = ? AND "
                    f"t.status != 'rejected' AND t.value IN ({','.join('?' * len(values))}))"
                )
                params.extend((kind, *values))
        if self.speakers:
            parts.append(
                f"{media}.id IN (SELECT s.media_id FROM item_speakers s WHERE s.profile_id "
                f"IN ({','.join('?' * len(self.speakers))}))"
            )
            params.extend(self.speakers)
        return (" AND ".join(parts) or "1"), params

    def vec_sql(self) -> tuple[str, list[Any]]:
        """The same filters as sqlite-vec metadata constraints (applied during the scan)."""
        where, params = self.sql(media="__m")
        where = where.replace("__m.id", "media_id").replace("__m.", "")
        return ("" if where == "1" else " AND " + where), params


@dataclass(frozen=True)
class SearchResult:
    """One hit: a chunk of an item with its time span, text and fused score."""

    chunk_id: int
    media_id: int
    title: str
    kind: str
    start: float
    end: float
    text: str
    marked: str
    score: float
    vector_rank: int | None
    bm25_rank: int | None
    speakers: tuple[str, ...] = ()  # who speaks in the chunk, most speech first
    # How closely the chunk matches the query, 0..1: the cosine of their MiniLM vectors plus
    # SearchSettings.lexical_weight x the chunk's IDF-weighted coverage of the query's words
    # (Searcher.relevance_parts). Unlike the fused rank score it is comparable across queries,
    # so a floor on it can say "nothing here". None: not measured (no floor asked) or the
    # chunk has no vector.
    relevance: float | None = None

    @property
    def start_display(self) -> str:
        """``m:ss`` or ``h:mm:ss``."""
        return format_timestamp(self.start)

    @property
    def end_display(self) -> str:
        """``m:ss`` or ``h:mm:ss``."""
        return format_timestamp(self.end)

    def to_json(self) -> dict[str, Any]:
        """The fields of ``mediamind search --json``."""
        return {
            "media_id": self.media_id,
            "title": self.title,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "start_display": self.start_display,
            "end_display": self.end_display,
            "text": self.text,
            "marked": self.marked,
            "score": round(self.score, 6),
            "chunk_id": self.chunk_id,
            "speaker": self.speakers[0] if self.speakers else None,
            "speakers": list(self.speakers),
            "relevance": None if self.relevance is None else round(self.relevance, 4),
        }


@dataclass(frozen=True)
class SearchSettings:
    """Fusion settings; the defaults were chosen on qmsum with ``python -m bench.search``.

    Attributes:
        rrf_k: The k of reciprocal rank fusion, 1 / (k + rank).
        vector_weight: Weight of the vector ranking in the fusion.
        bm25_weight: Weight of the BM25 ranking in the fusion.
        candidates: How many hits each ranking contributes before fusion.
    """

    rrf_k: int = 60
    vector_weight: float = 1.0
    bm25_weight: float = 1.0
    candidates: int = 50
    # Weight of a hit's coverage of the query's words in its relevance (see
    # Searcher.relevance_parts); chosen with the floor by ``python -m bench.search_floor``.
    lexical_weight: float = 1.0


# The relevance (SearchResult.relevance) below which a hit is not shown by ``mediamind search``
# and the app's Search: chosen with SearchSettings.lexical_weight by ``python -m
# bench.search_floor`` on the calibration half of qmsum (keep 95 % of the hits on gold answer
# spans) and reported on the other half; see docs/benchmarks.md. The fused RRF score cannot
# serve: it depends only on ranks, so the best hit of any query, however unrelated, scores the
# same.
RELEVANCE_FLOOR = 0.5


class LRUCache:
    """A thread-safe least-recently-used map of at most ``size`` entries."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The value for ``key`` (now the most recently used), or None."""
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
            return None

    def put(self, key: Any, value: Any) -> None:
        """Store ``value``, dropping the least recently used entry when full."""
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)

    def clear(self) -> None:
        """Forget everything."""
        with self.lock:
            self.data.clear()


# -- quantized vector search -------------------------------------------------------------------

# From this many stored vectors on, the vector ranking uses the quantized stages; below it,
# sqlite-vec's exact scan is exact and cheap. At 10k the quantized path took half the time of
# the exact scan (20.5 against 40.0 ms p50, same run) at recall@10 1.000 (docs/search_scale.md).
QUANTIZED_MIN_VECTORS = 10_000
# The Hamming scan keeps this share of the eligible vectors, but at least PREFILTER_MIN ...
PREFILTER_SHARE = 0.01
PREFILTER_MIN = 2_000
# ... their bits are scored against the float query and RERANK_FACTOR * n go on to the int8
# stage; of its best n, the first EXACT_RERANK are re-ranked exactly with the float vectors
# (int8 rounding moves the true top 10 at most to int8 rank 15 on the 1M benchmark).
RERANK_FACTOR = 20
EXACT_RERANK = 20
# Weight levels of the Hamming scan (1 = plain Hamming distance); see _weighted_hamming.
HAMMING_LEVELS = 2

# BM25 at scale (Searcher._bm25): from this many chunks (and postings of the query) on, the
# ranking is computed by a MaxScore split; the rare phrases' postings are scored instead of all
# when they are at most BM25_SPLIT_MAX_SHARE of them. k1 is FTS5's bm25() constant.
BM25_SPLIT_MIN_POSTINGS = 20_000
BM25_SPLIT_MAX_SHARE = 0.5
_BM25_K1 = 1.2

_WORDS = 6  # 384 sign bits = 6 x 64-bit words
_BLOCK = 1 << 16
# _BYTE_BITS[v, b] is bit b of byte v, in vec_quantize_binary's order (least significant first).
_BYTE_BITS = ((np.arange(256)[:, None] >> np.arange(8)[None, :]) & 1).astype(np.float32)


class _BitIndex:
    """The sign bits of every chunk vector of one database, held in memory for Hamming scans.

    Rows added since the last look are read incrementally (by ``chunk_vec_bits.id``); when rows
    were deleted (a trigger counts them) the whole table is read again.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deleted: str | None = None
        self.max_id = 0
        self.chunk_ids = np.zeros(0, dtype=np.int64)
        self.media_ids = np.zeros(0, dtype=np.int64)
        self.words = np.zeros((_WORDS, 0), dtype=np.uint64)  # word-major: words[j] is column j

    def refresh(self, db: Database) -> _BitIndex:
        """Bring the copy up to date with ``db``; return it."""
        with self.lock, db.atomic():  # one read transaction: a consistent snapshot
            deleted, max_id = db.conn.execute(
                "SELECT (SELECT value FROM library_meta WHERE key = 'vector_bits_deleted'), "
                "(SELECT coalesce(max(id), 0) FROM chunk_vec_bits)"
            ).fetchone() or (None, 0)
            if deleted != self.deleted or max_id < self.max_id:
                self._read(db, after=0, append=False)
            elif max_id > self.max_id:
                self._read(db, after=self.max_id, append=True)
            self.deleted, self.max_id = deleted, max_id
        return self

    def _read(self, db: Database, after: int, append: bool) -> None:
        rows = cast(
            "list[tuple[int, int, bytes]]",
            db.conn.execute(
                "SELECT chunk_id, media_id, bits FROM chunk_vec_bits WHERE id > ? ORDER BY id",
                (after,),
            ).fetchall(),
        )
        chunk_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        media_ids = np.fromiter((r[1] for r in rows), dtype=np.int64, count=len(rows))
        words = np.frombuffer(b"".join(r[2] for r in rows), dtype=np.uint64)
        words = words.reshape(len(rows), _WORDS).T
        if append:
            chunk_ids = np.concatenate([self.chunk_ids, chunk_ids])
            media_ids = np.concatenate([self.media_ids, media_ids])
            words = np.concatenate([self.words, words], axis=1)
        # New arrays, never changed in place: a scan running meanwhile keeps its snapshot.
        self.chunk_ids, self.media_ids = chunk_ids, media_ids
        self.words = np.ascontiguousarray(words)


_bit_indexes: weakref.WeakKeyDictionary[Database, _BitIndex] = weakref.WeakKeyDictionary()
_bit_indexes_lock = threading.Lock()


def _bit_index(db: Database) -> _BitIndex:
    with _bit_indexes_lock:
        index = _bit_indexes.get(db)
        if index is None:
            index = _bit_indexes[db] = _BitIndex()
    return index.refresh(db)


def _weighted_hamming(words: npt.NDArray[np.uint64], query: Vector) -> npt.NDArray[np.uint16]:
    """Distances between the query's sign bits and ``words``, mismatches weighted by ``|q_i|``.

    Plain Hamming distance counts every differing bit alike. Here the dimensions are split into
    HAMMING_LEVELS groups by the query's magnitude and a mismatch in a group costs the group's
    mean ``|q_i|`` (as small integers): this ranks far more like ``q . sign(x)`` (on the
    benchmark, two levels need over 10x fewer candidates for the same recall) for one more
    popcount pass per level.
    """
    qwords = np.packbits(query > 0, bitorder="little").view(np.uint64)
    magnitude = np.abs(query)
    groups = np.array_split(np.argsort(-magnitude), HAMMING_LEVELS)
    means = np.array([magnitude[g].mean() for g in groups])
    weights = np.maximum(1, np.round(8 * means / (means.max() or 1.0))).astype(np.uint16)
    masks = []
    for g in groups:
        mask = np.zeros(len(query), dtype=bool)
        mask[g] = True
        masks.append(np.packbits(mask, bitorder="little").view(np.uint64))
    size = words.shape[1]
    out = np.empty(size, dtype=np.uint16)
    block = min(size, _BLOCK)  # work in blocks that stay in the CPU cache
    diff = np.empty(block, dtype=np.uint64)
    part = np.empty(block, dtype=np.uint64)
    bits = np.empty(block, dtype=np.uint8)
    counts = [np.empty(block, dtype=np.uint8 if len(g) < 256 else np.uint16) for g in groups]
    for lo in range(0, size, block):
        k = min(block, size - lo)
        for c in counts:
            c[:k] = 0
        for j in range(_WORDS):
            np.bitwise_xor(words[j, lo : lo + k], qwords[j], out=diff[:k])
            for mask, c in zip(masks, counts, strict=True):
                np.bitwise_and(diff[:k], mask[j], out=part[:k])
                np.bitwise_count(part[:k], out=bits[:k])
                np.add(c[:k], bits[:k], out=c[:k])
        dest = out[lo : lo + k]
        np.multiply(counts[0][:k], weights[0], out=dest, dtype=np.uint16)
        for c, w in zip(counts[1:], weights[1:], strict=True):
            dest += c[:k].astype(np.uint16) * w
    return out


def _smallest(values: npt.NDArray[np.uint16], count: int) -> npt.NDArray[np.intp]:
    """Positions of the ``count`` smallest small integers (a counting select, ties by position)."""
    if count >= len(values):
        return np.arange(len(values))
    cumulative = np.cumsum(np.bincount(values))
    cut = int(np.searchsorted(cumulative, count))  # the value at which ``count`` is reached
    below = np.flatnonzero(values < cut)
    at = np.flatnonzero(values == cut)[: count - len(below)]
    return np.concatenate([below, at])


def _top(scores: npt.NDArray[np.float32], count: int) -> npt.NDArray[np.intp]:
    """Positions of the ``count`` highest scores, best first."""
    if count < len(scores):
        part = np.argpartition(-scores, count - 1)[:count]
    else:
        part = np.arange(len(scores))
    return part[np.argsort(-scores[part], kind="stable")]


@dataclass
class Searcher:
    """Hybrid search over one library."""

    library: Library
    encoder: TextEncoder | Callable[[], TextEncoder] = field(default=default_encoder)
    settings: SearchSettings = field(default_factory=SearchSettings)

    def __post_init__(self) -> None:
        self.store = EmbeddingStore(self.library, self.encoder)
        self._query_vectors = LRUCache(512)
        self._results = LRUCache(256)
        self._doc_freq_cache = LRUCache(4096)
        self._backfilled = False

    def query_vector(self, text: str) -> Vector:
        """The query's embedding, from an LRU cache when it was asked before."""
        key = text.strip()
        vec: Vector | None = self._query_vectors.get(key)
        if vec is None:
            vec = self.store.encoder.encode([key])[0]
            self._query_vectors.put(key, vec)
        return vec

    def search(
        self,
        query: str,
        k: int = 10,
        filters: SearchFilters | None = None,
        mode: str = "hybrid",
        *,
        floor: float | None = None,
    ) -> list[SearchResult]:
        """Return the best ``k`` chunks for ``query``.

        Never raises on odd input: any text is a valid query; an empty one finds nothing.

        Args:
            query: What the user typed.
            k: Number of results.
            filters: Restrictions on items, kinds or dates.
            mode: ``hybrid``, ``vector`` or ``bm25`` (the last two for evaluation).
            floor: Leave out hits whose :attr:`SearchResult.relevance` is below this (hits
                without a vector stay); :data:`RELEVANCE_FLOOR` is the calibrated one. With
                nothing relevant in the library, nothing is returned. Relevance is measured
                only when a floor is given (0.0 measures it and keeps every hit).
        """
        filters = filters or SearchFilters()
        query = query.replace("\x00", " ")[:10_000]
        k = max(1, min(int(k), 1000))
        if not re.search(r"\w", query):
            # Nothing to search for (only spaces or punctuation such as a lone quote): the
            # vector side would still return its nearest chunks, which match nothing typed.
            return []
        key = (query, k, filters, mode, floor, self.settings, self.library.content_version)
        hit: list[SearchResult] | None = self._results.get(key)
        if hit is not None:
            return hit
        if not self._backfilled:
            self.store.backfill()
            self._backfilled = True
        terms = query_terms(query)
        n = max(self.settings.candidates, k)
        with self.library.db.errors():
            vec_ranks = self._vector(query, n, filters) if mode in ("hybrid", "vector") else []
            bm25_ranks = (
                self._bm25(terms, n, filters) if mode in ("hybrid", "bm25") and terms else []
            )
        fused: dict[int, float] = {}
        s = self.settings
        for rank, cid in enumerate(vec_ranks, start=1):
            fused[cid] = fused.get(cid, 0.0) + s.vector_weight / (s.rrf_k + rank)
        for rank, cid in enumerate(bm25_ranks, start=1):
            fused[cid] = fused.get(cid, 0.0) + s.bm25_weight / (s.rrf_k + rank)
        ranked = sorted(fused, key=lambda c: -fused[c])
        if filters.speakers:
            from core.speakers.profiles import chunk_has_speaker

            spoken = chunk_has_speaker(self.library.db, ranked, filters.speakers)
            ranked = [c for c in ranked if c in spoken]
        relevance: dict[int, float] = {}
        if floor is not None:  # (0.0 measures relevance and keeps every hit)
            # Measured a batch of k at a time, best first, until k hits clear the floor: a
            # vector read costs ~2 ms in a library of a million chunks.
            kept: list[int] = []
            with self.library.db.errors():
                for at in range(0, len(ranked), k):
                    batch = ranked[at : at + k]
                    relevance.update(self._relevance(query, batch))
                    kept += [c for c in batch if relevance.get(c, floor) >= floor]
                    if len(kept) >= k:
                        break
            ranked = kept
        best = ranked[:k]
        results = self._materialise(best, fused, vec_ranks, bm25_ranks, terms, relevance=relevance)
        self._results.put(key, results)
        return results

    def _relevance(self, query: str, ids: Sequence[int]) -> dict[int, float]:
        """Each chunk's relevance: cosine + ``lexical_weight`` x coverage, clipped to 0..1."""
        w = self.settings.lexical_weight
        return {
            c: min(1.0, max(0.0, cos + w * cov))
            for c, (cos, cov) in self.relevance_parts(query, ids).items()
        }

    def relevance_parts(self, query: str, ids: Sequence[int]) -> dict[int, tuple[float, float]]:
        """The two signals of a hit's relevance, per chunk that has a vector.

        * the cosine between the query and the chunk's stored vector (MiniLM, from its int8
          copy): meaning;
        * the chunk's coverage of the query: the IDF-weighted share of the query's words it
          holds (compared as the full-text index does, by Porter stem). A word no chunk holds
          weighs most, so a query about something the library never mentions covers little.
        """
        if not ids:
            return {}
        vec = np.asarray(self.query_vector(query), dtype=np.float32)
        # The int8 copies (one indexed read for all, not a point read of each float vector in
        # sqlite-vec's blobs): vec_quantize_int8(x, 'unit') keeps 127.5 x - 0.5 truncated, so
        # (q + 0.5) / 127.5 gives x back within 1/127.5 a component; cosines agree to ~0.01.
        rows = self.library.db.conn.execute(
            "SELECT chunk_id, vector FROM chunk_vec_int8 "
            "WHERE chunk_id IN (SELECT value FROM json_each(?))",
            (json.dumps(list(ids)),),
        ).fetchall()
        cosines: dict[int, float] = {}
        for cid, blob in cast("list[tuple[int, bytes]]", rows):
            approx = (np.frombuffer(blob, dtype=np.int8).astype(np.float32) + 0.5) / 127.5
            norm = float(np.linalg.norm(approx))
            if norm > 0:
                cosines[int(cid)] = float(approx @ vec) / norm
        coverage = self._coverage(query, list(cosines))
        return {c: (cos, coverage.get(c, 0.0)) for c, cos in cosines.items()}

    def _coverage(self, query: str, ids: Sequence[int]) -> dict[int, float]:
        terms = query_terms(query)
        if not terms or not ids:
            return {}
        db = self.library.db
        n = int(db.scalar("SELECT coalesce(max(id), 0) FROM chunks"))  # ~ the chunk count
        wanted = json.dumps(list(ids))
        weight: dict[int, float] = dict.fromkeys(ids, 0.0)
        total = 0.0
        for t in terms:
            df = self.doc_freq(t)
            idf = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
            total += idf
            if not df:
                continue
            # The full-text index says which of the chunks hold the word (its porter stem).
            rows = db.conn.execute(
                "SELECT rowid FROM chunk_fts WHERE chunk_fts MATCH ? "
                "AND rowid IN (SELECT value FROM json_each(?))",
                (fts_query([t]), wanted),
            ).fetchall()
            for (cid,) in rows:
                weight[int(cid)] += idf
        return {c: w / (total or 1.0) for c, w in weight.items()}

    def _vector(self, query: str, n: int, filters: SearchFilters) -> list[int]:
        vec = self.query_vector(query)
        db = self.library.db
        size = int(db.scalar("SELECT coalesce(max(id), 0) FROM chunk_vec_bits"))
        # Inside an open transaction the in-memory bits could see rows that are rolled back.
        if size < QUANTIZED_MIN_VECTORS or not db.conn.getautocommit():
            return self._vector_exact(vec, n, filters)
        return self._vector_quantized(vec, n, filters)

    def _vector_exact(self, vec: Vector, n: int, filters: SearchFilters) -> list[int]:
        """The ``n`` nearest chunks by sqlite-vec's exact scan of the float vectors."""
        where, params = filters.vec_sql()
        rows = self.library.db.query(
            f"SELECT chunk_id FROM chunk_vec WHERE embedding MATCH ? AND k = ?{where} "
            "ORDER BY distance",
            (np.asarray(vec, dtype=np.float32).tobytes(), n, *params),
        )
        return [int(r["chunk_id"]) for r in rows]

    def _vector_quantized(self, vec: Vector, n: int, filters: SearchFilters) -> list[int]:
        """The ``n`` nearest chunks: Hamming prefilter, bit and int8 re-scores, exact re-rank."""
        db = self.library.db
        query = np.asarray(vec, dtype=np.float32)
        index = _bit_index(db)
        chunk_ids, media_ids, words = index.chunk_ids, index.media_ids, index.words
        # The filters become a mask over the stored vectors, applied during the scan.
        eligible: npt.NDArray[np.intp] | None = None
        where, params = filters.sql()
        if where != "1":
            rows = db.query(f"SELECT id FROM media_items m WHERE {where}", params)
            allowed = [int(r["id"]) for r in rows]
            if not allowed or not len(media_ids):
                return []
            lookup = np.zeros(max(int(media_ids.max()), *allowed) + 1, dtype=bool)
            lookup[allowed] = True
            eligible = np.flatnonzero(lookup[media_ids])
        total = len(chunk_ids) if eligible is None else len(eligible)
        if total == 0:
            return []
        n_int8 = RERANK_FACTOR * n
        n_bits = max(PREFILTER_MIN, int(PREFILTER_SHARE * total), n_int8)
        # Stage 1: weighted Hamming distance between sign bits (vec_quantize_binary's order).
        if total > n_bits:
            scan = words if eligible is None else words[:, eligible]
            cand = _smallest(_weighted_hamming(scan, query), n_bits)
            if eligible is not None:
                cand = eligible[cand]
        else:
            cand = np.arange(len(chunk_ids)) if eligible is None else eligible
        # Stage 2: the float query against the candidates' sign bits (each bit read as +-1).
        if len(cand) > n_int8:
            code_bytes = np.ascontiguousarray(words[:, cand].T).view(np.uint8)
            table = query.reshape(-1, 8) @ _BYTE_BITS.T  # [byte position, byte value]
            scores = table[np.arange(table.shape[0]), code_bytes].sum(axis=1)
            cand = cand[_top(scores, n_int8)]
        # Stage 3: int8 copies of the survivors, then stage 4: the exact cosine of the best
        # EXACT_RERANK of them from their float vectors (int8 rounding swaps near-ties).
        ids = json.dumps([int(c) for c in chunk_ids[cand]])
        with db.atomic():  # holds the connection lock; rows as tuples, no per-row dicts
            stored = cast(
                "list[tuple[int, bytes]]",
                db.conn.execute(
                    "SELECT chunk_id, vector FROM chunk_vec_int8 "
                    "WHERE chunk_id IN (SELECT value FROM json_each(?))",
                    (ids,),
                ).fetchall(),
            )
            if not stored:
                return []
            found = np.fromiter((r[0] for r in stored), dtype=np.int64, count=len(stored))
            int8 = np.frombuffer(b"".join(r[1] for r in stored), dtype=np.int8)
            int8 = int8.reshape(len(stored), -1)
            # einsum, not @: a 1,000 x 384 matmul wakes OpenBLAS's threads, which then spin
            # for a while and take the other core from the BM25 query that follows.
            order = _top(np.einsum("ij,j->i", int8.astype(np.float32), query), n)
            best = [int(c) for c in found[order]]
            head = best[:EXACT_RERANK]
            floats = self._float_vectors(
                head, dict(zip(head, int8[order[:EXACT_RERANK]], strict=True))
            )
        exact = {
            cid: float(v @ query) / (float(np.linalg.norm(v)) or 1.0) for cid, v in floats.items()
        }
        return sorted(exact, key=lambda c: -exact[c]) + [c for c in best if c not in exact]

    def _float_vectors(
        self, ids: Sequence[int], int8: dict[int, npt.NDArray[np.int8]]
    ) -> dict[int, Vector]:
        """The float vectors of some chunks, given their int8 copies; call under the db lock.

        sqlite-vec keeps 1,024 vectors per 1.5 MB blob, so a point read walks the blob's
        overflow pages: 0.45 ms at 100k chunks, 1.5-2 ms at 1M. Every indexed chunk text went
        through the embedding cache (by model and text sha256), where a vector is one
        primary-key read away; a cached vector is used only if it is the one stored (it rounds
        to the chunk's int8 copy), else the chunk is read from ``chunk_vec``.
        """
        db = self.library.db
        texts = cast(
            "list[tuple[int, str]]",
            db.conn.execute(
                "SELECT id, text FROM chunks WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(list(ids)),),
            ).fetchall(),
        )
        keys = {int(cid): text_sha256(text) for cid, text in texts}
        cached = dict(
            cast(
                "list[tuple[str, bytes]]",
                db.conn.execute(
                    "SELECT text_sha256, vector FROM embedding_cache WHERE model_id = ? "
                    "AND text_sha256 IN (SELECT value FROM json_each(?))",
                    (self.store.encoder.model_id, json.dumps(sorted(set(keys.values())))),
                ).fetchall(),
            )
        )
        out: dict[int, Vector] = {}
        for cid in ids:
            blob = cached.get(keys.get(cid, ""))
            vec: Vector | None = None
            if blob is not None and len(blob) == 4 * len(int8[cid]):
                vec = np.frombuffer(blob, dtype=np.float32)
                # vec_quantize_int8(x, 'unit') truncates 127.5 x - 0.5 towards zero.
                if np.abs(127.5 * vec - 0.5 - int8[cid]).max() > 1.5:
                    vec = None
            if vec is None:
                row = db.conn.execute(
                    "SELECT embedding FROM chunk_vec WHERE chunk_id = ?", (cid,)
                ).fetchone()
                if row is not None:
                    vec = np.frombuffer(cast(bytes, row[0]), dtype=np.float32)
            if vec is not None:
                out[cid] = vec
        return out

    def _bm25(self, terms: Sequence[str], n: int, filters: SearchFilters) -> list[int]:
        """The ``n`` best chunks by FTS5's BM25 for the OR of ``terms`` (exactly its ranking).

        FTS5 scores every chunk that holds any query word, so a common word makes a query cost
        a scan of its whole posting list (a fifth of a large library for "think"). From
        :data:`BM25_SPLIT_MIN_POSTINGS` matches on, the ranking is computed by a MaxScore split
        (Turtle & Flood 1995) that FTS5 can run: :meth:`_bm25_split`.
        """
        db = self.library.db
        where, params = filters.sql()
        phrases = [fts_query([t]) for t in terms]
        if int(db.scalar("SELECT coalesce(max(id), 0) FROM chunks")) < BM25_SPLIT_MIN_POSTINGS:
            return [cid for cid, _ in self._bm25_query(" OR ".join(phrases), n, where, params)]
        dfs = self._doc_freqs(phrases)
        # Rarest first: the split below needs its essential phrases to come first in every query
        # so that FTS5 adds the per-phrase scores in the same order (identical floats).
        live = sorted((p for p in phrases if dfs[p] > 0), key=lambda p: dfs[p])
        if not live:
            return []
        if len(live) == 1 or sum(dfs[p] for p in live) < BM25_SPLIT_MIN_POSTINGS:
            return [cid for cid, _ in self._bm25_query(" OR ".join(live), n, where, params)]
        return self._bm25_split(live, [dfs[p] for p in live], n, where, params)

    def _bm25_split(
        self, phrases: list[str], dfs: list[int], n: int, where: str, params: list[Any]
    ) -> list[int]:
        """BM25 top ``n`` of the OR of ``phrases`` (rarest first) without scoring most matches.

        FTS5's ``bm25()`` is a sum over phrases of ``idf * tf * (k1 + 1) / (tf + k1 * (...))``,
        so a phrase adds less than ``idf * (k1 + 1)`` to any chunk. Split the phrases into
        rare ones E and common ones C: a chunk holding only C phrases scores below
        ``U = sum of those bounds over C``. Two cheap queries give the exact score of every
        chunk holding an E phrase that can reach the top ``n``: ``(E) AND (C)`` (all phrases
        present once, so FTS5 scores them exactly as the full query) and ``E`` alone (exact for
        chunks without C phrases; a chunk with C phrases missing from the first list scores
        below its ``n``-th). If the ``n``-th best of the merge beats ``U``, no C-only chunk can
        enter and the list is exactly the full query's (ties by chunk id in both). Otherwise
        that ``n``-th score is a lower bound of the true one, which picks the split that will
        succeed; when none is cheaper than the plain query, the plain query runs.
        """
        db = self.library.db
        total = int(db.scalar("SELECT coalesce(max(id), 0) FROM chunks"))  # >= FTS5's row count
        # A larger row count only raises the bound (idf grows with it), so it stays valid.
        bound = [
            (_BM25_K1 + 1.0) * max(1e-6, math.log((total - df + 0.5) / (df + 0.5))) for df in dfs
        ]
        beyond = [sum(bound[s:]) for s in range(len(phrases) + 1)]  # U when E = phrases[:s]
        budget = BM25_SPLIT_MAX_SHARE * sum(dfs)  # postings of E worth scoring instead of all
        split = 1 if dfs[0] <= budget else 0
        while 0 < split < len(phrases):
            rare, common = " OR ".join(phrases[:split]), " OR ".join(phrases[split:])
            scores = {cid: s for cid, s in self._bm25_query(rare, n, where, params)}
            # Scores of chunks holding common phrases too: exact, replacing the partial ones.
            scores.update(self._bm25_query(f"({rare}) AND ({common})", n, where, params))
            best = sorted(scores, key=lambda c: (scores[c], c))[:n]  # bm25() < 0, best first
            if len(best) < n:  # too few chunks hold a rare phrase: C-only ones count too
                break
            threshold = -scores[best[-1]]
            if threshold > beyond[split]:
                return best
            split = next(
                (
                    s
                    for s in range(split + 1, len(phrases))
                    if beyond[s] < threshold and sum(dfs[:s]) <= budget
                ),
                0,
            )
        return [cid for cid, _ in self._bm25_query(" OR ".join(phrases), n, where, params)]

    def _bm25_query(
        self, expression: str, n: int, where: str, params: list[Any]
    ) -> list[tuple[int, float]]:
        """``(chunk id, bm25)`` of the best ``n`` matches of an FTS5 expression, best first.

        ``ORDER BY bm25(...)`` rather than ``ORDER BY rank``: the same order, but FTS5 sorts
        every match for ``rank`` while SQLite keeps only the best ``n`` here (~1.6x faster on a
        common word). Ties go by chunk id, so every way of computing a ranking agrees.
        """
        if where == "1":
            # Without filters the joins only cost time: a common word matches tens of
            # thousands of chunks in a large library, and each match was joined before sorting.
            sql = (
                "SELECT rowid, bm25(chunk_fts) FROM chunk_fts WHERE chunk_fts MATCH ? "
                "ORDER BY 2, 1 LIMIT ?"
            )
            args: list[Any] = [expression, n]
        else:
            sql = (
                "SELECT chunk_fts.rowid, bm25(chunk_fts) FROM chunk_fts "
                "JOIN chunks c ON c.id = chunk_fts.rowid JOIN media_items m ON m.id = c.media_id "
                f"WHERE chunk_fts MATCH ? AND {where} ORDER BY 2, 1 LIMIT ?"
            )
            args = [expression, *params, n]
        db = self.library.db
        with db.atomic():  # rows as tuples, no per-row dicts
            rows = cast("list[tuple[int, float]]", db.conn.execute(sql, args).fetchall())
        return [(int(cid), float(score)) for cid, score in rows]

    def doc_freq(self, term: str) -> int:
        """How many chunks hold ``term`` (a word or phrase, matched as a literal by FTS5)."""
        phrase = fts_query([term])
        return self._doc_freqs([phrase])[phrase]

    def _doc_freqs(self, phrases: Sequence[str]) -> dict[str, int]:
        """How many chunks hold each phrase (FTS5's own count for its idf), cached per content."""
        db = self.library.db
        version = self.library.content_version
        out: dict[str, int] = {}
        for phrase in phrases:
            key = (version, phrase)
            df: int | None = self._doc_freq_cache.get(key)
            if df is None:
                df = int(
                    db.scalar("SELECT count(*) FROM chunk_fts WHERE chunk_fts MATCH ?", (phrase,))
                )
                self._doc_freq_cache.put(key, df)
            out[phrase] = df
        return out

    def _materialise(
        self,
        ids: list[int],
        fused: dict[int, float],
        vec: list[int],
        bm25: list[int],
        terms: Sequence[str],
        *,
        relevance: dict[int, float] | None = None,
    ) -> list[SearchResult]:
        if not ids:
            return []
        rows = self.library.db.query(
            "SELECT c.id, c.media_id, c.start, c.end, c.text, m.title, m.kind FROM chunks c "
            f"JOIN media_items m ON m.id = c.media_id WHERE c.id IN ({','.join('?' * len(ids))})",
            ids,
        )
        by_id = {r["id"]: r for r in rows}
        from core.speakers.profiles import chunk_speakers

        voices = chunk_speakers(self.library.db, ids)
        vrank = {c: i for i, c in enumerate(vec, start=1)}
        brank = {c: i for i, c in enumerate(bm25, start=1)}
        return [
            SearchResult(
                chunk_id=c,
                media_id=by_id[c]["media_id"],
                title=by_id[c]["title"],
                kind=by_id[c]["kind"],
                start=by_id[c]["start"],
                end=by_id[c]["end"],
                text=by_id[c]["text"],
                marked=mark_terms(by_id[c]["text"], terms),
                score=fused[c],
                vector_rank=vrank.get(c),
                bm25_rank=brank.get(c),
                speakers=tuple(voices.get(c, ())),
                relevance=(relevance or {}).get(c),
            )
            for c in ids
            if c in by_id
        ]
