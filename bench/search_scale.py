"""Search latency and vector recall as the library grows (10k, 100k, 1M chunks).

Run ``python -m bench.search_scale [--sizes 10000,100000,1000000] [--queries 200] [--json]
[--cache-dir DIR]``. For each size N it builds a library through ``core.store.library.Library`` (the
real schema, triggers and vector writer) with N chunks over N/500 items:

* text: the qmsum meeting turns of ``../shared/data/retrieval/qmsum``, three turns per chunk,
  cycled (each cycle shifted by one turn), so FTS5 indexes real speech;
* vectors: synthetic unit vectors shaped like all-MiniLM-L6-v2 ones on qmsum (see
  :func:`synthetic_vectors`): a shared mean direction, 1,000 topics, leaves of ~15 chunks and
  noise, calibrated so that on 4.5k real qmsum chunk embeddings and 132 real queries the
  Hamming-prefilter recall curve and the top-1/10/100 cosines match (the synthetic set is
  slightly harder); as ingest does, each chunk text's vector is also in the embedding cache.

It then times, per query and interleaved (so machine load hits every path alike): the vector
ranking as ``Searcher._vector`` runs it (the path chosen by library size), sqlite-vec's exact
scan and the quantized path each forced, BM25, the full hybrid ``Searcher.search`` with its
result cache (and the BM25 document counts) cleared, and numpy's exact brute force
(``argsort(-M @ q)[:10]``, one BLAS thread) as the peer and reference for recall@10. A
repeated query answered from the result cache is timed too. The model is bypassed: queries are
fresh samples of the same distribution, handed to ``Searcher`` through an encoder that returns
them (model time is measured by other benchmarks).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from core.search.hybrid import (
    QUANTIZED_MIN_VECTORS,
    Searcher,
    SearchFilters,
    _bit_index,
    query_terms,
    text_sha256,
    write_vectors,
)
from core.store import Library, utcnow

REPO = Path(__file__).resolve().parents[1]
DIM = 384
CHUNKS_PER_ITEM = 500
BUILD_VERSION = 2  # bump when the generated library changes, so cached ones are rebuilt
MARKER = re.compile(r"\{[a-z_]+\}")
KINDS = ("audio", "video", "subtitle", "transcript")


def qmsum_dir() -> Path:
    """The qmsum folder of the shared evaluation data."""
    env = os.environ.get("MEDIAMIND_SHARED_DATA")
    return (Path(env) if env else REPO.parent / "shared" / "data") / "retrieval" / "qmsum"


def qmsum_turns() -> list[str]:
    """Every turn of every qmsum meeting, disfluency markers removed, empty ones dropped."""
    turns = []
    for path in sorted(qmsum_dir().glob("*.json")):
        for turn in json.loads(path.read_text())["meeting_transcripts"]:
            text = re.sub(r"\s+", " ", MARKER.sub(" ", turn["content"])).strip()
            if text:
                turns.append(text)
    return turns


def chunk_text(turns: Sequence[str], i: int) -> str:
    """Chunk ``i``: three turns ``stride`` apart, never the same three turns twice.

    Each pass over the turns starts one turn later and every third pass widens the stride: a
    real library's chunk texts are distinct, and each has its own vector in the embedding cache.
    """
    per_cycle = len(turns) // 3
    cycle = i // per_cycle
    start = 3 * (i % per_cycle) + cycle % 3
    stride = 1 + cycle // 3
    return " ".join(turns[(start + j * stride) % len(turns)] for j in range(3))


class Synthetic:
    """Unit vectors with the geometry of MiniLM sentence embeddings, at any size.

    ``v = normalize(0.45 m + 0.30 T[t] + 0.40 L[l] + 0.74 g / sqrt(384))``: ``m`` a shared
    direction (MiniLM vectors have a mean of norm ~0.46 on qmsum), ``T`` 1,000 topics, ``L``
    one leaf per ~15 chunks (leaf ``l`` belongs to topic ``l % 1000``) and ``g`` Gaussian noise.
    Queries are fresh samples: a new text on something the library holds.
    """

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng([seed, 0])
        self.mean = rng.standard_normal(DIM)
        self.mean /= np.linalg.norm(self.mean)
        self.topics = rng.standard_normal((1000, DIM))
        self.topics /= np.linalg.norm(self.topics, axis=1, keepdims=True)
        self.leaves = np.random.default_rng([seed, 1]).standard_normal((max(1, n // 15), DIM))
        self.leaves /= np.linalg.norm(self.leaves, axis=1, keepdims=True)
        self.seed = seed

    def sample(self, n: int, stream: int) -> np.ndarray:
        """``n`` unit float32 vectors from random stream ``stream``."""
        rng = np.random.default_rng([self.seed, 2, stream])
        leaf = rng.integers(0, len(self.leaves), n)
        v = 0.45 * self.mean + 0.30 * self.topics[leaf % 1000] + 0.40 * self.leaves[leaf]
        v += 0.74 * rng.standard_normal((n, DIM)) / np.sqrt(DIM)
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


def synthetic_vectors(n: int, seed: int = 0) -> np.ndarray:
    """The ``n`` stored vectors of a library of size ``n``."""
    gen = Synthetic(n, seed)
    step = 100_000
    return np.concatenate([gen.sample(min(step, n - i), 1 + i // step) for i in range(0, n, step)])


def build_library(folder: Path, n: int, seed: int = 0) -> np.ndarray:
    """Fill a new library in ``folder`` with ``n`` chunks; return their vectors (row i = id i+1)."""
    turns = qmsum_turns()
    vectors = synthetic_vectors(n, seed)
    lib = Library(folder)
    db = lib.db
    model = QueryEncoder.model_id
    items = (n + CHUNKS_PER_ITEM - 1) // CHUNKS_PER_ITEM
    now = utcnow()
    with db.atomic():
        db.executemany(
            "INSERT INTO media_items (id, path, kind, title, status, added_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'ready', ?, ?)",
            [
                (m + 1, f"/bench/item{m + 1}", KINDS[m % len(KINDS)], f"item {m + 1}", now, now)
                for m in range(items)
            ],
        )
    batch = 20_000
    for lo in range(0, n, batch):
        hi = min(n, lo + batch)
        with db.atomic():
            db.executemany(
                "INSERT INTO chunks (id, media_id, idx, start, end, text, first_segment, "
                "last_segment) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i + 1,
                        i // CHUNKS_PER_ITEM + 1,
                        i % CHUNKS_PER_ITEM,
                        30.0 * (i % CHUNKS_PER_ITEM),
                        30.0 * (i % CHUNKS_PER_ITEM) + 30.0,
                        chunk_text(turns, i),
                        3 * (i % CHUNKS_PER_ITEM),
                        3 * (i % CHUNKS_PER_ITEM) + 2,
                    )
                    for i in range(lo, hi)
                ],
            )
            # As ingest does: every chunk text's vector is in the embedding cache too.
            db.executemany(
                "INSERT OR REPLACE INTO embedding_cache (model_id, text_sha256, vector) "
                "VALUES (?, ?, ?)",
                [
                    (model, text_sha256(chunk_text(turns, i)), vectors[i].tobytes())
                    for i in range(lo, hi)
                ],
            )
            items_of = [i // CHUNKS_PER_ITEM for i in range(lo, hi)]
            write_vectors(
                db,
                [
                    (i + 1, vectors[i], m + 1, KINDS[m % len(KINDS)], now)
                    for i, m in zip(range(lo, hi), items_of, strict=True)
                ],
            )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    lib.close()
    return vectors


def open_library(n: int, seed: int, cache_dir: Path | None, tmp: Path) -> tuple[Path, np.ndarray]:
    """A built library of size ``n`` (from ``cache_dir`` when it holds one) and its vectors."""
    folder = (cache_dir or tmp) / f"scale-{n}-seed{seed}-v{BUILD_VERSION}"
    stamp = folder / "built.json"
    if stamp.exists():
        return folder, np.load(folder / "vectors.npy", mmap_mode="r")
    if folder.exists():
        shutil.rmtree(folder)
    started = time.perf_counter()
    vectors = build_library(folder, n, seed)
    np.save(folder / "vectors.npy", vectors)
    stamp.write_text(json.dumps({"n": n, "build_s": round(time.perf_counter() - started, 1)}))
    return folder, vectors


class QueryEncoder:
    """A ``TextEncoder`` that returns the vector prepared for each query text."""

    model_id = "bench-synthetic"
    dim = DIM

    def __init__(self) -> None:
        self.vectors: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def make_queries(n_items: int, turns: list[str], count: int, seed: int) -> list[str]:
    """``count`` distinct query texts: 2-4 content words (5+ letters) of a random chunk."""
    rng = random.Random(seed)
    out: list[str] = []
    while len(out) < count:
        words = [w for w in re.findall(r"[a-z]{5,}", chunk_text(turns, rng.randrange(n_items)))]
        words = list(dict.fromkeys(words))
        if len(words) < 2:
            continue
        text = " ".join(rng.sample(words, min(len(words), rng.randint(2, 4))))
        if text not in out and query_terms(text):
            out.append(text)
    return out


def pct(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile of ``values`` in milliseconds (nearest rank, values in s)."""
    ordered = sorted(values)
    return 1000.0 * ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


CPU: dict[str, list[float]] = {}  # CPU seconds per call, by label (see timed)


def timed(fn: Callable[[], Any], label: str = "") -> tuple[float, Any]:
    """Wall time of ``fn()`` and its result; with ``label``, its process CPU time is kept too.

    On a machine shared with other jobs the wall time mostly measures waiting for a core; the
    CPU time is what the call costs by itself: the calling thread's for search (one thread),
    the whole process's for the numpy peer.
    """
    clock = time.process_time if label == "numpy" else time.thread_time
    cpu = clock()
    started = time.perf_counter()
    out = fn()
    wall = time.perf_counter() - started
    if label:
        CPU.setdefault(label, []).append(clock() - cpu)
    return wall, out


def db_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.glob("library.sqlite*"))


def measure(
    n: int, seed: int, queries: int, exact_queries: int, cache_dir: Path | None, tmp: Path
) -> dict[str, Any]:
    """Build (or reuse) the library of size ``n`` and time every path on the same queries."""
    load_before = os.getloadavg()
    started = time.perf_counter()
    folder, stored = open_library(n, seed, cache_dir, tmp)
    build_s = json.loads((folder / "built.json").read_text())["build_s"]
    matrix = np.ascontiguousarray(stored, dtype=np.float32)  # in RAM for the numpy peer
    turns = qmsum_turns()
    texts = make_queries(n, turns, queries, seed)
    qvecs = Synthetic(n, seed).sample(queries, stream=10**6)
    encoder = QueryEncoder()
    encoder.vectors = dict(zip(texts, qvecs, strict=True))
    lib = Library(folder)
    searcher = Searcher(lib, encoder=encoder)
    first_s, _ = timed(lambda: searcher.search(texts[0], k=10))  # backfill check + bit load
    bits_s, _ = timed(lambda: _bit_index(lib.db))  # an up-to-date copy: the per-query check
    none = SearchFilters()
    times: dict[str, list[float]] = {
        k: [] for k in ("vector", "exact", "quantized", "bm25", "hybrid", "numpy", "cached")
    }
    recall: list[float] = []
    recall_quantized: list[float] = []
    for i, (text, q) in enumerate(zip(texts, qvecs, strict=True)):
        t, got = timed(lambda text=text: searcher._vector(text, 50, none), "vector")
        times["vector"].append(t)
        t, quant = timed(lambda q=q: searcher._vector_quantized(q, 50, none))
        times["quantized"].append(t)
        if i < exact_queries:
            t, _ = timed(lambda q=q: searcher._vector_exact(q, 50, none))
            times["exact"].append(t)
        terms = query_terms(text)
        searcher._doc_freq_cache.data.clear()  # no word's document count known in advance
        t, _ = timed(lambda terms=terms: searcher._bm25(terms, 50, none), "bm25")
        times["bm25"].append(t)
        searcher._results.data.clear()
        searcher._doc_freq_cache.data.clear()
        t, _ = timed(lambda text=text: searcher.search(text, k=10), "hybrid")
        times["hybrid"].append(t)
        t, _ = timed(lambda text=text: searcher.search(text, k=10))
        times["cached"].append(t)
        # One BLAS thread: OpenBLAS's idle threads keep spinning after a multi-threaded matmul
        # and slowed whatever was timed next ~2.5x on the 2 cores (hybrid at 100k: 72.9 against
        # 28.4 ms p50), and the single-threaded peer was faster too (41 against 61 ms).
        with threadpool_limits(1):
            t, best = timed(lambda q=q: np.argsort(-(matrix @ q))[:10], "numpy")
        times["numpy"].append(t)
        truth = {int(b) + 1 for b in best}
        recall.append(len(truth & set(got[:10])) / 10)
        recall_quantized.append(len(truth & set(quant[:10])) / 10)
    # Filters on the quantized path: one kind (a quarter of the items), exact over that subset.
    item_kinds = np.array([KINDS[m % len(KINDS)] for m in range(-(-n // CHUNKS_PER_ITEM))])
    allowed = np.repeat(item_kinds == "video", CHUNKS_PER_ITEM)[:n]
    sub = np.flatnonzero(allowed)
    video = SearchFilters(kinds=("video",))
    filtered_recall, filtered_times = [], []
    for q in qvecs[: min(50, queries)]:
        t, got = timed(lambda q=q: searcher._vector_quantized(q, 50, video))
        filtered_times.append(t)
        truth = {int(sub[b]) + 1 for b in np.argsort(-(matrix[sub] @ q))[:10]}
        filtered_recall.append(len(truth & set(got[:10])) / 10)
    lib.close()
    out: dict[str, Any] = {
        "n": n,
        "db_bytes": db_size(folder),
        "build_s": build_s,
        "setup_s": round(time.perf_counter() - started, 1),
        "first_search_s": round(first_s, 3),
        "bits_check_ms": round(1000 * bits_s, 3),
        "path": "quantized" if n >= QUANTIZED_MIN_VECTORS else "exact",
        "recall@10": round(statistics.fmean(recall), 4),
        "recall@10_min": min(recall),
        "recall@10_quantized": round(statistics.fmean(recall_quantized), 4),
        "recall@10_quantized_filtered": round(statistics.fmean(filtered_recall), 4),
        "quantized_filtered_p50_ms": round(pct(filtered_times, 50), 2),
        "queries": queries,
        "exact_queries": len(times["exact"]),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in os.getloadavg()],
    }
    for key, values in times.items():
        out[f"{key}_p50_ms"] = round(pct(values, 50), 2)
        out[f"{key}_p95_ms"] = round(pct(values, 95), 2)
    for key, values in CPU.items():
        out[f"{key}_cpu_p50_ms"] = round(pct(values, 50), 2)
        out[f"{key}_cpu_p95_ms"] = round(pct(values, 95), 2)
    CPU.clear()
    return out


def markdown(results: list[dict[str, Any]]) -> str:
    """The results as the table of docs/search_scale.md."""
    lines = [
        "| N chunks | DB size | vector p50 / p95 | BM25 p50 / p95 | hybrid p50 / p95 "
        "| numpy exact p50 / p95 | recall@10 vs exact | cached repeat p50 |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['n']:,} | {r['db_bytes'] / 1e6:,.0f} MB "
            f"| {r['vector_p50_ms']:.1f} / {r['vector_p95_ms']:.1f} ms ({r['path']}) "
            f"| {r['bm25_p50_ms']:.1f} / {r['bm25_p95_ms']:.1f} ms "
            f"| {r['hybrid_p50_ms']:.1f} / {r['hybrid_p95_ms']:.1f} ms "
            f"| {r['numpy_p50_ms']:.1f} / {r['numpy_p95_ms']:.1f} ms "
            f"| {r['recall@10']:.3f} | {r['cached_p50_ms']:.3f} ms |"
        )
    lines += [
        "",
        "| N chunks | sqlite-vec exact p50 / p95 (queries) | quantized path p50 / p95 "
        "| quantized recall@10 | filtered (1 kind) recall@10, p50 | first search | build |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        lines.append(
            f"| {r['n']:,} | {r['exact_p50_ms']:.1f} / {r['exact_p95_ms']:.1f} ms "
            f"({r['exact_queries']}) "
            f"| {r['quantized_p50_ms']:.1f} / {r['quantized_p95_ms']:.1f} ms "
            f"| {r['recall@10_quantized']:.3f} "
            f"| {r['recall@10_quantized_filtered']:.3f}, {r['quantized_filtered_p50_ms']:.1f} ms "
            f"| {r['first_search_s']:.2f} s | {r['build_s']:.0f} s |"
        )
    lines += [
        "",
        "| N chunks | CPU ms per query p50 / p95: vector | BM25 | hybrid | numpy exact |",
        "| ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        cells = [
            f"{r[f'{key}_cpu_p50_ms']:.1f} / {r[f'{key}_cpu_p95_ms']:.1f}"
            for key in ("vector", "bm25", "hybrid", "numpy")
        ]
        lines.append(f"| {r['n']:,} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    """Run the benchmark and print Markdown (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--exact-queries",
        type=int,
        default=0,
        help="queries for sqlite-vec's exact scan (default: all up to 100k, then 30)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, help="keep built libraries here and reuse them")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not qmsum_dir().exists():
        raise SystemExit(f"{qmsum_dir()} is absent: the benchmark needs ../shared/data/retrieval")
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            exact = args.exact_queries or (args.queries if n <= 100_000 else 30)
            results.append(measure(n, args.seed, args.queries, exact, args.cache_dir, Path(tmp)))
            if not args.json:
                r = results[-1]
                print(f"# N={n}: {json.dumps(r)}", flush=True)
    machine = {
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps({"machine": machine, "results": results}, indent=2))
    else:
        print(markdown(results))
        print(f"\nmachine: {machine}")


if __name__ == "__main__":
    main()
