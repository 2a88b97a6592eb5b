"""Find the moment: hybrid search over transcript chunks.

Vector KNN (all-MiniLM-L6-v2 int8 in sqlite-vec) finds chunks by meaning, BM25 (SQLite FTS5)
by words; reciprocal rank fusion merges the two rankings. Embeddings are cached by
(model, text sha256), query vectors and whole result lists in small LRU caches.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from core.library import Library
from core.transcript import format_timestamp

log = logging.getLogger(__name__)

Vector = npt.NDArray[np.float32]


class TextEncoder(Protocol):
    """What search needs of an embedding model (``core.embedding.Embedder`` is one)."""

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
            from core.embedding import Embedder

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
        rows = self.library.db.query(
            "SELECT c.id, c.text, c.media_id, m.kind, m.added_at FROM chunks c "
            "JOIN media_items m ON m.id = c.media_id "
            "WHERE c.id NOT IN (SELECT chunk_id FROM chunk_vec)"
        )
        if not rows:
            return 0
        log.info("indexing %d chunks without vectors", len(rows))
        vectors = self.embed([r["text"] for r in rows])
        with self.library.db.atomic():
            self.library.db.executemany(
                "INSERT INTO chunk_vec (chunk_id, embedding, media_id, kind, added_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (r["id"], v.tobytes(), r["media_id"], r["kind"], r["added_at"])
                    for r, v in zip(rows, vectors, strict=True)
                ],
            )
        return len(rows)


# -- queries ----------------------------------------------------------------------------------

_STOPWORDS = frozenset(
    re.findall(
        r"\w+",
        "a an and are as at be but by did do does for from had has have how i if in into is it "
        "its me my no not of on or our so than that the their them then there these they this "
        "to us was we were what when where which who whom why will with would you your about",
    )
)
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
        if w not in _STOPWORDS and w.upper() not in ("AND", "OR", "NOT", "NEAR")
    ]
    return terms[:_MAX_TERMS] or [w for w in dict.fromkeys(words)][:_MAX_TERMS]


def fts_query(terms: Sequence[str]) -> str:
    """An FTS5 MATCH expression that ORs the terms, each quoted as a literal string."""
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in terms)


def mark_terms(text: str, terms: Sequence[str], left: str = "**", right: str = "**") -> str:
    """Wrap words of ``text`` that start like a query term (a cheap stem) in markers."""
    stems = sorted(
        {t[: max(4, len(t) - 2)] if len(t) > 4 else t for t in terms}, key=len, reverse=True
    )
    if not stems:
        return text
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(s) for s in stems) + r")\w*", re.I)
    return pattern.sub(lambda m: f"{left}{m.group(0)}{right}", text)


@dataclass(frozen=True)
class SearchFilters:
    """Restrict results to some items, kinds of media, or a date-added range (ISO dates)."""

    media_ids: tuple[int, ...] = ()
    kinds: tuple[str, ...] = ()
    added_after: str | None = None
    added_before: str | None = None

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


class _LRU:
    def __init__(self, size: int) -> None:
        self.size = size
        self.data: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self.lock:
            if key in self.data:
                self.data.move_to_end(key)
                return self.data[key]
            return None

    def put(self, key: Any, value: Any) -> None:
        with self.lock:
            self.data[key] = value
            self.data.move_to_end(key)
            while len(self.data) > self.size:
                self.data.popitem(last=False)


@dataclass
class Searcher:
    """Hybrid search over one library."""

    library: Library
    encoder: TextEncoder | Callable[[], TextEncoder] = field(default=default_encoder)
    settings: SearchSettings = field(default_factory=SearchSettings)

    def __post_init__(self) -> None:
        self.store = EmbeddingStore(self.library, self.encoder)
        self._query_vectors = _LRU(512)
        self._results = _LRU(256)
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
    ) -> list[SearchResult]:
        """Return the best ``k`` chunks for ``query``.

        Never raises on odd input: any text is a valid query; an empty one finds nothing.

        Args:
            query: What the user typed.
            k: Number of results.
            filters: Restrictions on items, kinds or dates.
            mode: ``hybrid``, ``vector`` or ``bm25`` (the last two for evaluation).
        """
        filters = filters or SearchFilters()
        query = query.replace("\x00", " ")[:10_000]
        k = max(1, min(int(k), 1000))
        if not query.strip():
            return []
        key = (query, k, filters, mode, self.settings, self.library.content_version)
        hit: list[SearchResult] | None = self._results.get(key)
        if hit is not None:
            return hit
        if not self._backfilled:
            self.store.backfill()
            self._backfilled = True
        terms = query_terms(query)
        n = max(self.settings.candidates, k)
        vec_ranks = self._vector(query, n, filters) if mode in ("hybrid", "vector") else []
        bm25_ranks = self._bm25(terms, n, filters) if mode in ("hybrid", "bm25") and terms else []
        fused: dict[int, float] = {}
        s = self.settings
        for rank, cid in enumerate(vec_ranks, start=1):
            fused[cid] = fused.get(cid, 0.0) + s.vector_weight / (s.rrf_k + rank)
        for rank, cid in enumerate(bm25_ranks, start=1):
            fused[cid] = fused.get(cid, 0.0) + s.bm25_weight / (s.rrf_k + rank)
        best = sorted(fused, key=lambda c: -fused[c])[:k]
        results = self._materialise(best, fused, vec_ranks, bm25_ranks, terms)
        self._results.put(key, results)
        return results

    def _vector(self, query: str, n: int, filters: SearchFilters) -> list[int]:
        where, params = filters.vec_sql()
        rows = self.library.db.query(
            f"SELECT chunk_id FROM chunk_vec WHERE embedding MATCH ? AND k = ?{where} "
            "ORDER BY distance",
            (self.query_vector(query).tobytes(), n, *params),
        )
        return [int(r["chunk_id"]) for r in rows]

    def _bm25(self, terms: Sequence[str], n: int, filters: SearchFilters) -> list[int]:
        where, params = filters.sql()
        rows = self.library.db.query(
            "SELECT chunk_fts.rowid AS id FROM chunk_fts "
            "JOIN chunks c ON c.id = chunk_fts.rowid JOIN media_items m ON m.id = c.media_id "
            f"WHERE chunk_fts MATCH ? AND {where} ORDER BY bm25(chunk_fts) LIMIT ?",
            (fts_query(terms), *params, n),
        )
        return [int(r["id"]) for r in rows]

    def _materialise(
        self,
        ids: list[int],
        fused: dict[int, float],
        vec: list[int],
        bm25: list[int],
        terms: Sequence[str],
    ) -> list[SearchResult]:
        if not ids:
            return []
        rows = self.library.db.query(
            "SELECT c.id, c.media_id, c.start, c.end, c.text, m.title, m.kind FROM chunks c "
            f"JOIN media_items m ON m.id = c.media_id WHERE c.id IN ({','.join('?' * len(ids))})",
            ids,
        )
        by_id = {r["id"]: r for r in rows}
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
            )
            for c in ids
            if c in by_id
        ]
