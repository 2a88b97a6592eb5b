"""Calibrate the relevance floor of search on one half of qmsum, report it on the other.

Run ``python -m bench.search_floor [--work-dir DIR] [--json]``.

Search fuses a vector and a BM25 ranking by reciprocal rank fusion; that fused score depends
only on ranks, so the first hit of any query scores the same, related or not. The floor is set
on each hit's relevance instead (the cosine between the query and the chunk, MiniLM int8, the
``relevance`` of ``mediamind search --json``), measured with ``floor=0.0`` over the top
``K`` hits of each query.

Data (``../shared/data/retrieval/qmsum``, all 20 meetings in one library, as bench/search.py):

* wanted hits: for each qmsum specific question, its top-``K`` hits that overlap a gold turn
  span of its meeting;
* queries with nothing relevant: ``bench/unanswerable_qmsum.json`` (topics absent from every
  meeting), each as written and as the keywords a user would type (stopwords dropped).

The split (fixed, by meeting, as bench/calibrate_refusal.py): meetings in sorted file-name
order, even positions calibrate, odd positions report; unanswerable questions: even list
positions calibrate, odd positions report.

A hit's relevance is its cosine plus a weight times its IDF-weighted coverage of the query's
words (``Searcher.relevance_parts``). For each weight of a small grid, the floor is the
``--keep`` quantile from below of the wanted hits' relevance on the calibration half ("the
weakest hit a user would still want"), rounded down to 0.01; the weight whose floor returns
nothing for most nothing-relevant calibration queries is chosen. It is then reported on the
held-back half: the share of wanted hits kept, the share of questions that keep
at least one wanted hit (of those that had one), the share of nothing-relevant queries that
return no result at all, and the mean number of results per query of each kind.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from bench.answers import UNANSWERABLE
from bench.search import Question, load_qmsum, retrieval_dir
from core.search import RELEVANCE_FLOOR, Searcher, query_terms
from core.search.hybrid import SearchSettings
from core.store import Library

K = 20  # what the app's Search shows


WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0)  # grid for SearchSettings.lexical_weight


@dataclass(frozen=True)
class Probe:
    """The hits of one query: each hit's relevance signals, and whether it is wanted (gold)."""

    query: str
    answerable: bool
    calibrate: bool  # in the calibration half
    parts: tuple[tuple[float, float], ...]  # (cosine, coverage) per hit
    gold: tuple[bool, ...]
    weight: float = 0.0

    @property
    def relevance(self) -> tuple[float, ...]:
        """Each hit's relevance at :attr:`weight` (as Searcher computes it)."""
        return tuple(min(1.0, max(0.0, c + self.weight * v)) for c, v in self.parts)


def probes(searcher: Searcher, questions: list[Question], unanswerable: list[str]) -> list[Probe]:
    """Run every query once with ``floor=0.0`` (relevance measured, nothing dropped)."""
    lib = searcher.library
    media = {i.path: i.id for i in lib.items()}
    meetings = sorted({q.media_key for q in questions})
    calibrate_meetings = set(meetings[::2])
    out = []

    def parts(query: str) -> tuple[list[Any], tuple[tuple[float, float], ...]]:
        hits = searcher.search(query, k=K, floor=0.0)
        signals = searcher.relevance_parts(query, [h.chunk_id for h in hits])
        return hits, tuple(signals.get(h.chunk_id, (0.0, 0.0)) for h in hits)

    for q in questions:
        hits, signals = parts(q.text)
        gold = tuple(
            h.media_id == media[q.media_key] and any(h.start < b and h.end > a for a, b in q.spans)
            for h in hits
        )
        out.append(Probe(q.text, True, q.media_key in calibrate_meetings, signals, gold))
    for n, text in enumerate(unanswerable):
        for query in (text, " ".join(query_terms(text))):
            hits, signals = parts(query)
            out.append(Probe(query, False, n % 2 == 0, signals, (False,) * len(hits)))
    return out


def at(rows: list[Probe], weight: float) -> list[Probe]:
    """The same probes with relevance at another lexical weight."""
    return [replace(p, weight=weight) for p in rows]


def choose_floor(rows: list[Probe], keep: float) -> float:
    """The ``keep`` quantile (from below) of the wanted hits' relevance, rounded down."""
    wanted = sorted(
        r for p in rows if p.answerable for r, g in zip(p.relevance, p.gold, strict=True) if g
    )
    if not wanted:
        raise SystemExit("no wanted hit in the calibration half: is the data complete?")
    value = float(np.quantile(np.asarray(wanted), 1.0 - keep, method="lower"))
    return math.floor(value * 100) / 100


def report(rows: list[Probe], floor: float) -> dict[str, float]:
    """What a floor does to the queries of ``rows``."""
    ans = [p for p in rows if p.answerable]
    unans = [p for p in rows if not p.answerable]
    wanted = [r for p in ans for r, g in zip(p.relevance, p.gold, strict=True) if g]
    had = [p for p in ans if any(p.gold)]
    still = [
        p for p in had if any(g and r >= floor for r, g in zip(p.relevance, p.gold, strict=True))
    ]
    return {
        "floor": floor,
        "answerable_queries": len(ans),
        "nothing_relevant_queries": len(unans),
        "wanted_hits": len(wanted),
        "wanted_hits_kept": sum(r >= floor for r in wanted) / max(1, len(wanted)),
        "queries_keeping_a_wanted_hit": len(still) / max(1, len(had)),
        "nothing_relevant_queries_empty": sum(all(r < floor for r in p.relevance) for p in unans)
        / max(1, len(unans)),
        "mean_results_answerable": float(
            np.mean([sum(r >= floor for r in p.relevance) for p in ans])
        ),
        "mean_results_nothing_relevant": float(
            np.mean([sum(r >= floor for r in p.relevance) for p in unans])
        ),
        "best_hit_relevance_nothing_relevant_p95": float(
            np.quantile([max(p.relevance, default=0.0) for p in unans], 0.95)
        ),
    }


def latency(searcher: Searcher, queries: list[str]) -> dict[str, float]:
    """Median and p95 ms of a search with no floor and with the shipped floor, same queries.

    Query vectors are cached first (both sides would pay the encoder the same); result lists
    are not (each search gets a new result cache).
    """
    for q in queries:
        searcher.query_vector(q)
    out: dict[str, float] = {}
    for name, floor in (("no_floor", None), ("floor", RELEVANCE_FLOOR)):
        ms = []
        for q in queries:
            searcher._results.clear()
            start = time.perf_counter()
            searcher.search(q, k=K, floor=floor)
            ms.append((time.perf_counter() - start) * 1000)
        out[f"{name}_median_ms"] = float(np.median(ms))
        out[f"{name}_p95_ms"] = float(np.quantile(ms, 0.95))
    out["median_ratio"] = out["floor_median_ms"] / out["no_floor_median_ms"]
    return out


def main() -> None:
    """Build (or reuse) the qmsum library, calibrate, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work-dir", type=Path, help="keep the library here (reused)")
    parser.add_argument("--keep", type=float, default=0.95, help="share of wanted hits to keep")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = retrieval_dir()
    unanswerable = json.loads(UNANSWERABLE.read_text())["questions"]
    with ExitStack() as stack:
        work = args.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory()))
        lib = stack.enter_context(Library(work / "qmsum"))
        questions = load_qmsum(lib, root, reuse=True)
        searcher = Searcher(lib)
        rows = probes(searcher, questions, unanswerable)
        timing = latency(searcher, [q.text for q in questions] + unanswerable)
    calibrate = [p for p in rows if p.calibrate]
    held = [p for p in rows if not p.calibrate]
    # For each weight the floor keeping ``keep`` of the wanted hits; the weight whose floor
    # empties most nothing-relevant queries wins (ties: the smaller weight).
    grid = {}
    for w in WEIGHTS:
        floor = choose_floor(at(calibrate, w), args.keep)
        grid[w] = (floor, report(at(calibrate, w), floor))
    weight = max(WEIGHTS, key=lambda w: (grid[w][1]["nothing_relevant_queries_empty"], -w))
    floor = grid[weight][0]
    shipped_w = SearchSettings().lexical_weight
    result: dict[str, Any] = {
        "k": K,
        "keep": args.keep,
        "grid_calibration": {
            str(w): {"floor": f, "empty": r["nothing_relevant_queries_empty"]}
            for w, (f, r) in grid.items()
        },
        "chosen": {"lexical_weight": weight, "floor": floor},
        "shipped": {"lexical_weight": shipped_w, "floor": RELEVANCE_FLOOR},
        "calibration": report(at(calibrate, weight), floor),
        "held_back": report(at(held, weight), floor),
        "held_back_shipped": report(at(held, shipped_w), RELEVANCE_FLOOR),
        "held_back_no_floor": report(at(held, shipped_w), 0.0),
        "latency": timing,
        "load": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print("calibration grid (lexical weight: floor, nothing-relevant queries emptied):")
    for w, (f, r) in grid.items():
        print(f"  {w:.1f}: {f:.2f}  {r['nothing_relevant_queries_empty']:.3f}")
    print(f"chosen: lexical_weight {weight}, floor {floor} (keep {args.keep:.0%} of wanted hits)")
    print(
        f"shipped: lexical_weight {shipped_w}, RELEVANCE_FLOOR {RELEVANCE_FLOOR}"
        f"   (1-min load {result['load']:.2f})"
    )
    for name in ("calibration", "held_back", "held_back_shipped", "held_back_no_floor", "latency"):
        print(f"\n{name}:")
        for key, value in result[name].items():
            shown = f"{value:.3f}" if isinstance(value, float) else str(value)
            print(f"  {key:<42} {shown}")


if __name__ == "__main__":
    main()
