"""Latency of the recommendation runtime on a library: state update and home rows at 1k / 10k.

Run ``python -m bench.recommend [--sizes 1000,10000] [--repeats 200] [--json]``. For each size
N it builds a real library (``core.store.library.Library``, the real schema) with N ready items
whose per-item content cache (``recommend_items``) is filled with synthetic unit vectors (MiniLM is
bypassed: its cost is paid once per item at ingest and measured by the embedding benchmarks),
and a log of 200 viewings (play + pause each, 6 a day). It then times, with the
app recommender (``core/data/recsys/shipped-app``, int8, 1 thread):

* ``state_update_200``: a new event is recorded, then ``Recommendations.state()`` reads the log
  (200 viewings), runs the encoder and stores the state: what the first request after an event
  pays;
* ``encoder_only_200``: ``Recommender.encode_state`` on the same 200 viewings;
* ``rank``: score all N items with the cached state (scorer graph) and take the top 10;
* ``home``: a full ``Recommendations.home()`` request with the cached state (event-log queries,
  scoring, rows and reasons);
* ``home_rules``: the same request with the rows built by the rules before issue 22
  (:mod:`bench.home_rules`), the peer of ``home`` in the same run (same library, state, scores).

Every timing reports wall-clock p50 / p95 / p99 and the calling thread's CPU time. The Home target
(issue 22): ``home`` p95 <= 100 ms on a 5,000-item library (``--sizes 5000``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.home_rules import RulesRowBuilder
from core.recommend import events as ev
from core.recommend.home import (
    AFFINITY_WEIGHT,
    CONTENT_DIM,
    TAGS_STAMP_KEY,
    Recommendations,
    Request,
    content_affinity,
    tags_stamp,
)
from core.recommend.home.service import _one_blas_thread, intent_values
from core.recommend.scorer import HistoryEvent
from core.store import Library, utcnow
from core.taxonomy import TOPICS

N_VIEWS = 200


def time_call(fn: Any, repeats: int, warmup: int = 10) -> dict[str, float]:
    """Wall-clock and calling-thread CPU p50 / p95 / p99 (ms) of ``fn()``."""
    import time

    for _ in range(warmup):
        fn()
    wall = np.empty(repeats)
    cpu = np.empty(repeats)
    for i in range(repeats):
        c0, t0 = time.thread_time(), time.perf_counter()
        fn()
        wall[i] = (time.perf_counter() - t0) * 1000.0
        cpu[i] = (time.thread_time() - c0) * 1000.0
    out = {}
    for q in (50, 95, 99):
        out[f"p{q}_ms"] = float(np.percentile(wall, q))
        out[f"cpu_p{q}_ms"] = float(np.percentile(cpu, q))
    return out


START = int(datetime(2024, 5, 1, 18, 0, tzinfo=UTC).timestamp())


def build_library(directory: Path, n_items: int, seed: int = 0) -> Library:
    """A library of ``n_items`` ready items with cached content vectors and 200 viewings."""
    rng = np.random.default_rng(seed)
    lib = Library(directory)
    now = utcnow()
    durations = rng.choice([240.0, 420.0, 900.0, 1800.0, 3600.0], size=n_items)
    with lib.db.atomic():
        lib.db.executemany(
            "INSERT INTO media_items (path, title, kind, status, duration, added_at, updated_at) "
            "VALUES (?, ?, 'transcript', 'ready', ?, ?, ?)",
            [(f"bench:{i}", f"item {i}", float(durations[i]), now, now) for i in range(n_items)],
        )
    version = lib.content_version
    centres = rng.standard_normal((len(TOPICS), CONTENT_DIM)).astype(np.float32)
    topic = rng.integers(0, len(TOPICS), size=n_items)
    vectors = centres[topic] + 0.8 * rng.standard_normal((n_items, CONTENT_DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [int(r["id"]) for r in lib.db.query("SELECT id FROM media_items ORDER BY id")]
    with lib.db.atomic():
        lib.db.executemany(
            "INSERT INTO recommend_items (media_id, content_version, model_id, text_sha256, "
            "vector, topic) VALUES (?, ?, 'bench', '', ?, ?)",
            [
                (m, version, vectors[k].astype(np.float32).tobytes(), TOPICS[topic[k]])
                for k, m in enumerate(ids)
            ],
        )
        # The rows above are the item cache of this library as it is (no tags).
        lib.db.execute(
            "INSERT OR REPLACE INTO library_meta (key, value) VALUES (?, ?)",
            (TAGS_STAMP_KEY, tags_stamp(lib)),
        )
    picks = rng.choice(ids, size=N_VIEWS)
    ts = START
    with lib.db.atomic():
        for k, media_id in enumerate(picks):
            # A 10-min viewing every 45 min (each its own session), 6 a day, a new day after that.
            ts += 86400 - 6 * 2700 if k and k % 6 == 0 else 2700
            watched = float(rng.uniform(30, durations[ids.index(int(media_id))]))
            ev.record_event(lib, int(media_id), "play", 0.0, datetime.fromtimestamp(ts, UTC))
            ev.record_event(
                lib, int(media_id), "pause", watched, datetime.fromtimestamp(ts + 600, UTC)
            )
    return lib


def time_calls(fns: dict[str, Any], repeats: int, warmup: int = 5) -> dict[str, dict[str, float]]:
    """:func:`time_call` of several functions, called in turn within each repeat."""
    import time

    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall = {k: np.empty(repeats) for k in fns}
    cpu = {k: np.empty(repeats) for k in fns}
    for i in range(repeats):
        for k, fn in fns.items():
            c0, t0 = time.thread_time(), time.perf_counter()
            fn()
            wall[k][i] = (time.perf_counter() - t0) * 1000.0
            cpu[k][i] = (time.thread_time() - c0) * 1000.0
    out: dict[str, dict[str, float]] = {}
    for k in fns:
        out[k] = {}
        for q in (50, 95, 99):
            out[k][f"p{q}_ms"] = float(np.percentile(wall[k], q))
            out[k][f"cpu_p{q}_ms"] = float(np.percentile(cpu[k], q))
    return out


def bench_size(n_items: int, repeats: int) -> dict[str, Any]:
    """All measurements for one library size."""
    with tempfile.TemporaryDirectory(prefix="mm-bench-recommend-") as tmp:
        lib = build_library(Path(tmp) / "lib", n_items)
        recs = Recommendations(lib, encoder=lambda: None, tz=UTC)
        table = recs.items()
        rec, _ = recs.model()
        views = ev.views(lib)
        assert len(views) == N_VIEWS, len(views)
        last = views[-1]
        clock = [last.last_ts + 60]

        def update() -> object:
            clock[0] += 1
            ev.record_event(
                lib,
                last.media_id,
                "progress",
                last.max_position,
                datetime.fromtimestamp(clock[0], UTC),
            )
            state, cached = recs.state(table)
            assert state is not None and not cached
            return state

        index = table.index()
        history = [
            HistoryEvent(v.ts, v.engagement, content=table.content[index[v.media_id]])
            for v in views
        ]
        out: dict[str, Any] = {"items": n_items, "views": N_VIEWS}
        out["state_update_200"] = time_call(update, repeats, warmup=5)
        out["encoder_only_200"] = time_call(lambda: rec.encode_state(history), repeats, warmup=5)
        state, _ = recs.state(table)
        assert state is not None
        reps = recs.representations(table)

        def rank() -> object:
            scores = rec.score_representations(state, reps)
            top = np.argpartition(-scores, 10)[:10]
            return top[np.argsort(-scores[top])]

        out["rank"] = time_call(rank, repeats, warmup=5)
        at = datetime.fromtimestamp(clock[0] + 60, UTC)
        result = recs.home(at)
        assert result.state_cached and result.rows

        def home_rules() -> object:
            with _one_blas_thread():  # as Recommendations.home
                return _home_rules()

        def _home_rules() -> object:
            # Recommendations._home with the old row builder (same queries, state and scores).
            items = recs.items()
            st, _ = recs.state(items)
            assert st is not None
            scores = rec.score_representations(st, recs.representations(items)).astype(np.float64)
            idx = items.index()
            seen = [v for v in ev.views(lib) if v.media_id in idx]
            scores += AFFINITY_WEIGHT * content_affinity(
                items.content, [idx[v.media_id] for v in seen], [v.engagement for v in seen]
            )
            request = Request(items, scores, intent_values(st), seen, ev.progress(lib), at, recs.tz)
            return RulesRowBuilder(request, per_row=10).build(6)

        # Interleaved (one of each per repeat): the machine's load changes under a long run.
        both = time_calls({"home": lambda: recs.home(at), "home_rules": home_rules}, repeats)
        out.update(both)
        out["rows"] = [r.title for r in result.rows]
        lib.close()
    return out


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = {
        "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "load_average_before": list(os.getloadavg()),
        "sizes": [bench_size(int(n), args.repeats) for n in args.sizes.split(",")],
    }
    results["load_average_after"] = list(os.getloadavg())
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    keys = ("state_update_200", "encoder_only_200", "rank", "home", "home_rules")
    print(
        "| items | state update (200 viewings) | encoder only | rank (score + top-10) | home "
        "| home, rules before issue 22 |"
    )
    print("|---|---|---|---|---|---|")
    wall_note = "(wall-clock p50 / p95 / p99 ms, 1 onnxruntime thread; CPU time of the thread:)"
    for prefix, suffix in (("", ""), ("cpu_", " (CPU)")):
        if prefix:
            print(wall_note)
        for r in results["sizes"]:
            cells = [
                " / ".join(f"{r[k][prefix + f'p{q}_ms']:.2f}" for q in (50, 95, 99)) for k in keys
            ]
            print(f"| {r['items']:,}{suffix} | " + " | ".join(cells) + " |")
    print(f"load average {results['load_average_before']} -> {results['load_average_after']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
