"""Search at scale: the quantized vector path on 20k synthetic chunks, the BM25 split.

No embedding model: vectors are synthetic unit vectors shaped like MiniLM ones (a shared mean
direction, topics, small leaves, noise), written through the real schema and vector writer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import core.search.hybrid
from core.search.hybrid import Searcher, SearchFilters, fts_query, text_sha256, write_vectors
from core.store import ItemMetadata, Library
from core.store.db import MIGRATIONS, Database, utcnow
from core.transcript import Segment

DIM = 384
N = 20_000
PER_ITEM = 500
KINDS = ("audio", "video", "subtitle", "transcript")


def sample(n: int, seed: int, leaves: int = N // 15) -> np.ndarray:
    base = np.random.default_rng(0)
    mean = base.standard_normal(DIM)
    topics = base.standard_normal((100, DIM))
    leaf_vecs = np.random.default_rng(1).standard_normal((leaves, DIM))
    mean /= np.linalg.norm(mean)
    topics /= np.linalg.norm(topics, axis=1, keepdims=True)
    leaf_vecs /= np.linalg.norm(leaf_vecs, axis=1, keepdims=True)
    rng = np.random.default_rng(seed)
    leaf = rng.integers(0, leaves, n)
    v = 0.45 * mean + 0.3 * topics[leaf % 100] + 0.4 * leaf_vecs[leaf]
    v += 0.74 * rng.standard_normal((n, DIM)) / np.sqrt(DIM)
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


class FixedEncoder:
    """Returns the vector registered for each text (no model)."""

    model_id = "test-fixed"
    dim = DIM

    def __init__(self) -> None:
        self.vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def fill(lib: Library, vectors: np.ndarray) -> None:
    db, now = lib.db, utcnow()
    items = len(vectors) // PER_ITEM
    with db.atomic():
        db.executemany(
            "INSERT INTO media_items (id, path, kind, title, status, added_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'ready', ?, ?)",
            [(m + 1, f"/m{m + 1}", KINDS[m % 4], f"m{m + 1}", now, now) for m in range(items)],
        )
        db.executemany(
            "INSERT INTO chunks (id, media_id, idx, start, end, text, first_segment, "
            "last_segment) VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
            [
                (i + 1, i // PER_ITEM + 1, i % PER_ITEM, 30.0 * i, 30.0 * i + 30, f"chunk {i}")
                for i in range(len(vectors))
            ],
        )
        write_vectors(
            db,
            [
                (i + 1, v, i // PER_ITEM + 1, KINDS[(i // PER_ITEM) % 4], now)
                for i, v in enumerate(vectors)
            ],
        )


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Library, np.ndarray]]:
    lib = Library(tmp_path_factory.mktemp("scale"))
    vectors = sample(N, seed=2)
    fill(lib, vectors)
    yield lib, vectors
    lib.close()


def exact_top(matrix: np.ndarray, q: np.ndarray, rows: np.ndarray | None = None) -> list[int]:
    """Chunk ids of the 10 nearest vectors (numpy brute force), optionally among ``rows``."""
    if rows is None:
        return [int(i) + 1 for i in np.argsort(-(matrix @ q), kind="stable")[:10]]
    return [int(rows[i]) + 1 for i in np.argsort(-(matrix[rows] @ q), kind="stable")[:10]]


def test_quantized_path_matches_exact_top10(big: tuple[Library, np.ndarray]) -> None:
    lib, vectors = big
    searcher = Searcher(lib, encoder=FixedEncoder())
    queries = sample(60, seed=3)
    same, overlap = 0, []
    for q in queries:
        got = searcher._vector_quantized(q, 50, SearchFilters())
        assert len(got) == 50 and len(set(got)) == 50
        truth = exact_top(vectors, q)
        same += set(got[:10]) == set(truth)
        overlap.append(len(set(got[:10]) & set(truth)) / 10)
    assert same >= 0.95 * len(queries), (same, np.mean(overlap))


def test_public_search_uses_the_quantized_path(
    big: tuple[Library, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    lib, vectors = big
    used: list[int] = []
    original = Searcher._vector_quantized

    def spy(self: Searcher, vec: np.ndarray, n: int, filters: SearchFilters) -> list[int]:
        used.append(n)
        return original(self, vec, n, filters)

    monkeypatch.setattr(Searcher, "_vector_quantized", spy)
    monkeypatch.setattr(core.search.hybrid, "QUANTIZED_MIN_VECTORS", N)
    encoder = FixedEncoder()
    q = sample(1, seed=4)[0]
    encoder.vectors["what was said"] = q
    hits = Searcher(lib, encoder=encoder).search("what was said", k=10, mode="vector")
    assert used == [50]
    assert [h.chunk_id for h in hits][:3] == exact_top(vectors, q)[:3]
    assert hits[0].vector_rank == 1


def test_filters_apply_during_the_prefilter(big: tuple[Library, np.ndarray]) -> None:
    lib, vectors = big
    searcher = Searcher(lib, encoder=FixedEncoder())
    media = np.arange(N) // PER_ITEM + 1
    kinds = np.array([KINDS[(m - 1) % 4] for m in media])
    cases = [
        (SearchFilters(media_ids=(3, 17)), np.flatnonzero(np.isin(media, (3, 17)))),
        (SearchFilters(kinds=("video",)), np.flatnonzero(kinds == "video")),
        (
            SearchFilters(media_ids=(1, 2, 3, 4, 5), kinds=("audio", "subtitle")),
            np.flatnonzero(np.isin(media, (1, 3, 5))),
        ),
    ]
    for filters, rows in cases:
        allowed = set((rows + 1).tolist())
        overlap = []
        for q in sample(20, seed=5):
            got = searcher._vector_quantized(q, 50, filters)
            assert got and set(got) <= allowed
            overlap.append(len(set(got[:10]) & set(exact_top(vectors, q, rows))) / 10)
        assert np.mean(overlap) >= 0.95, (filters, np.mean(overlap))
    assert searcher._vector_quantized(vectors[0], 50, SearchFilters(kinds=("nope",))) == []
    late = SearchFilters(added_after="2999-01-01")
    assert searcher._vector_quantized(vectors[0], 50, late) == []


def vector_rows(db: Database, table: str, ids: Sequence[int]) -> int:
    marks = ",".join("?" * len(ids))
    return int(db.scalar(f"SELECT count(*) FROM {table} WHERE chunk_id IN ({marks})", ids))


def test_deleting_chunks_removes_them_from_every_vector_table(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib")
    vectors = sample(2 * PER_ITEM, seed=6)
    fill(lib, vectors)
    searcher = Searcher(lib, encoder=FixedEncoder())
    q = vectors[10]  # chunk 11, in item 1
    assert searcher._vector_quantized(q, 5, SearchFilters())[0] == 11
    gone = list(range(1, PER_ITEM + 1))
    tables = ("chunk_vec", "chunk_vec_bits", "chunk_vec_int8")
    assert all(vector_rows(lib.db, t, gone) == PER_ITEM for t in tables)
    lib.delete_item(1)
    assert all(vector_rows(lib.db, t, gone) == 0 for t in tables)
    # The in-memory bits notice the delete and are read again: item 1 never comes back.
    got = searcher._vector_quantized(q, 50, SearchFilters())
    assert got and not set(got) & set(gone)
    assert len(core.search.hybrid._bit_index(lib.db).chunk_ids) == PER_ITEM
    # Rows added later are read incrementally and found.
    seg = [Segment(0.0, 5.0, "a new talk about volcanoes")]
    item = lib.upsert_pending("/new", "new", "audio")
    meta = ItemMetadata(None, None, None, 5.0, None, None, "audio", "new", "en", "test")
    (chunk,) = lib.store_transcript(item, meta, seg, embed=lambda texts: [q for _ in texts])
    assert all(vector_rows(lib.db, t, [chunk.id]) == 1 for t in tables)
    assert searcher._vector_quantized(q, 5, SearchFilters())[0] == chunk.id
    assert searcher._vector_exact(q, 5, SearchFilters())[0] == chunk.id
    lib.close()


def test_migration_3_quantizes_existing_vectors(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = Database(path, migrations=MIGRATIONS[:2])
    vectors = sample(3, seed=7)
    now = utcnow()
    old.execute(
        "INSERT INTO media_items (id, path, title, added_at, updated_at) "
        "VALUES (1, 'p', 't', ?, ?)",
        (now, now),
    )
    for i, v in enumerate(vectors, start=1):
        old.execute(
            "INSERT INTO chunks (id, media_id, idx, start, end, text, first_segment, "
            "last_segment) VALUES (?, 1, ?, 0, 1, 'x', 0, 0)",
            (i, i),
        )
        old.execute(
            "INSERT INTO chunk_vec (chunk_id, embedding, media_id, kind, added_at) "
            "VALUES (?, ?, 1, 'audio', ?)",
            (i, v.tobytes(), now),
        )
    old.close()
    db = Database(path)
    bits = db.query("SELECT chunk_id, media_id, bits FROM chunk_vec_bits ORDER BY id")
    assert [(r["chunk_id"], r["media_id"]) for r in bits] == [(1, 1), (2, 1), (3, 1)]
    for r, v in zip(bits, vectors, strict=True):
        assert r["bits"] == np.packbits(v > 0, bitorder="little").tobytes()
    int8 = db.query("SELECT vector FROM chunk_vec_int8 ORDER BY chunk_id")
    for r, v in zip(int8, vectors, strict=True):
        codes = np.frombuffer(r["vector"], dtype=np.int8).astype(np.float32)
        assert np.corrcoef(codes, v)[0, 1] > 0.99
    db.close()


def test_exact_rerank_reads_float_vectors_from_the_embedding_cache(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib")
    vectors = sample(2 * PER_ITEM, seed=8)
    fill(lib, vectors)
    encoder = FixedEncoder()
    wrong = 7  # its cached vector is not the stored one (as if another model wrote it)
    with lib.db.atomic():
        lib.db.executemany(
            "INSERT INTO embedding_cache (model_id, text_sha256, vector) VALUES (?, ?, ?)",
            [
                (
                    encoder.model_id,
                    text_sha256(f"chunk {i}"),
                    (-v if i + 1 == wrong else v).tobytes(),
                )
                for i, v in enumerate(vectors)
            ],
        )
        # Chunks 1-5 lose their float vector in sqlite-vec: only the cache can supply it.
        lib.db.execute("DELETE FROM chunk_vec WHERE chunk_id <= 5")
    searcher = Searcher(lib, encoder=encoder)
    ids = [1, 2, 3, 4, 5, wrong, 8]
    int8 = {
        cid: np.frombuffer(
            lib.db.scalar("SELECT vector FROM chunk_vec_int8 WHERE chunk_id = ?", (cid,)), np.int8
        )
        for cid in ids
    }
    with lib.db.atomic():
        got = searcher._float_vectors(ids, int8)
    assert sorted(got) == ids
    for cid in ids:
        assert np.array_equal(got[cid], vectors[cid - 1]), cid
    # The ranking re-scores its head with those vectors: the stored neighbour comes first.
    assert searcher._vector_quantized(vectors[wrong - 1], 10, SearchFilters())[0] == wrong
    lib.close()


def zipf_texts(n: int, seed: int) -> tuple[list[str], list[str]]:
    """``n`` texts of 10-150 pseudo-words drawn by a Zipf law (a few words in most texts)."""
    rng = np.random.default_rng(seed)
    letters = np.array(list("bcdfghjklmnpqrstvwxz"))
    vocab = [
        "".join(rng.choice(letters, 3)) + "o" + "".join(rng.choice(letters, 2)) for _ in range(400)
    ]
    vocab = list(dict.fromkeys(vocab))
    weights = 1.0 / np.arange(1, len(vocab) + 1) ** 1.1
    weights /= weights.sum()
    texts = [" ".join(rng.choice(vocab, int(rng.integers(10, 150)), p=weights)) for _ in range(n)]
    return texts, vocab


def test_bm25_split_returns_exactly_the_full_query_ranking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lib = Library(tmp_path / "lib")
    texts, vocab = zipf_texts(3000, seed=9)
    now = utcnow()
    with lib.db.atomic():
        lib.db.executemany(
            "INSERT INTO media_items (id, path, kind, title, status, added_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'ready', ?, ?)",
            [(m, f"/m{m}", KINDS[m % 4], f"m{m}", now, now) for m in range(1, 7)],
        )
        lib.db.executemany(
            "INSERT INTO chunks (id, media_id, idx, start, end, text, first_segment, "
            "last_segment) VALUES (?, ?, ?, 0, 1, ?, 0, 0)",
            [(i + 1, i // PER_ITEM + 1, i % PER_ITEM, t) for i, t in enumerate(texts)],
        )
    monkeypatch.setattr(core.search.hybrid, "BM25_SPLIT_MIN_POSTINGS", 200)
    searcher = Searcher(lib, encoder=FixedEncoder())
    expressions: list[str] = []
    original = Searcher._bm25_query

    def spy(self: Searcher, expression: str, n: int, where: str, params: list[Any]) -> Any:
        expressions.append(expression)
        return original(self, expression, n, where, params)

    monkeypatch.setattr(Searcher, "_bm25_query", spy)
    rng = np.random.default_rng(10)
    queries = [
        list(rng.choice(vocab[:40], int(rng.integers(2, 5)), replace=False)) for _ in range(40)
    ]
    queries += [[vocab[0]], [vocab[0], vocab[1]], [vocab[0], "absent"], [vocab[300], vocab[1]]]
    split_answers = 0
    for terms in queries:
        for filters in (SearchFilters(), SearchFilters(kinds=("video", "audio"))):
            where, params = filters.sql()
            for n in (10, 50):
                expressions.clear()
                got = searcher._bm25(terms, n, filters)
                full = " OR ".join(fts_query([t]) for t in terms)
                split_answers += bool(expressions) and full not in expressions
                assert got == [c for c, _ in original(searcher, full, n, where, params)], terms
    # The split, not the full query, answered most of them (common words are cheap to skip).
    assert split_answers >= 0.5 * 2 * 2 * len(queries), split_answers
    assert searcher._bm25(["absent", "nowhere"], 10, SearchFilters()) == []
    lib.close()
