"""Calibrate the refusal thresholds of ``ask`` on one half of the qmsum questions.

Run ``python -m bench.calibrate_refusal [--work-dir DIR] [--json]``.

The split (fixed, by meeting, so no meeting's questions are on both sides):

* answerable questions (qmsum specific queries): meetings in sorted file-name order, even
  positions calibrate, odd positions report;
* unanswerable questions (``bench/unanswerable_qmsum.json``): even list positions calibrate,
  odd positions report.

A grid over the four thresholds of :func:`core.answer.answerable` picks, on the calibration
half, the setting with the fewest false refusals among those refusing at least
``--min-refusal`` of the unanswerable questions (ties: the most refusals, then nearest the
current defaults). Both the chosen and the current thresholds are then reported on the
held-back half, which played no part in choosing them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import tempfile
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.answers import UNANSWERABLE
from bench.search import load_qmsum, retrieval_dir
from core.answer import Answerer, AnswerSettings, answerable
from core.store import Library

GRID = {
    "refuse_cosine": [0.40, 0.42, 0.45, 0.48, 0.50],
    "refuse_cosine_low": [0.28, 0.30, 0.33, 0.36],
    "refuse_coverage": [0.25, 0.35, 0.45, 0.55],
    "refuse_cosine_floor": [0.22, 0.25, 0.28, 0.31],
}


@dataclass(frozen=True)
class Signals:
    """The retrieval signals of one question (what the refusal rule reads)."""

    question: str
    cosine: float
    coverage: float
    missing: bool
    answerable: bool  # the truth: the library holds the answer


def signals(answerer: Answerer, question: str, truth: bool) -> Signals:
    """Measure the refusal signals of one question, library-wide."""
    rel = answerer.relevance(question, answerer.searcher.search(question, k=answerer.settings.k))
    return Signals(question, rel.cosine, rel.coverage, bool(rel.missing), truth)


def rates(settings: AnswerSettings, rows: list[Signals]) -> dict[str, float]:
    """Refusal rate on unanswerable rows and false-refusal rate on answerable ones."""
    unans = [r for r in rows if not r.answerable]
    ans = [r for r in rows if r.answerable]
    refused = sum(not answerable(settings, r.cosine, r.coverage, r.missing) for r in unans)
    false = sum(not answerable(settings, r.cosine, r.coverage, r.missing) for r in ans)
    return {
        "unanswerable": len(unans),
        "answerable": len(ans),
        "refusal_rate": refused / len(unans) if unans else 0.0,
        "false_refusal_rate": false / len(ans) if ans else 0.0,
    }


def calibrate(rows: list[Signals], min_refusal: float) -> AnswerSettings:
    """The grid point chosen on ``rows`` (see the module docstring)."""
    base = AnswerSettings()
    best: tuple[tuple[float, float, float], AnswerSettings] | None = None
    for values in itertools.product(*GRID.values()):
        s = replace(base, **dict(zip(GRID, values, strict=True)))
        r = rates(s, rows)
        distance = sum(abs(getattr(s, k) - getattr(base, k)) for k in GRID)
        if r["refusal_rate"] < min_refusal:
            continue
        key = (r["false_refusal_rate"], -r["refusal_rate"], distance)
        if best is None or key < best[0]:
            best = (key, s)
    if best is None:
        raise SystemExit(f"no grid point refuses {min_refusal:.0%} of the calibration questions")
    return best[1]


def main() -> None:
    """Measure, split, calibrate, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work-dir", help="keep the qmsum library here (re-runs are faster)")
    parser.add_argument("--min-refusal", type=float, default=0.9)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    root = retrieval_dir()
    if not root.exists():
        raise SystemExit(f"{root} is absent: calibration needs ../shared/data/retrieval")
    with ExitStack() as stack:
        work = (
            Path(args.work_dir)
            if args.work_dir
            else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        )
        lib = stack.enter_context(Library(work / "qmsum"))
        questions = load_qmsum(lib, root)
        answerer = Answerer(lib, cache=False)
        meetings = sorted({q.media_key for q in questions})
        calibrating = set(meetings[::2])
        unanswerable = json.loads(UNANSWERABLE.read_text())["questions"]
        cal = [signals(answerer, q.text, True) for q in questions if q.media_key in calibrating]
        held = [
            signals(answerer, q.text, True) for q in questions if q.media_key not in calibrating
        ]
        cal += [signals(answerer, q, False) for q in unanswerable[::2]]
        held += [signals(answerer, q, False) for q in unanswerable[1::2]]
    chosen = calibrate(cal, args.min_refusal)
    current = AnswerSettings()
    report: dict[str, Any] = {
        "load_average": os.getloadavg(),
        "split": "answerable: qmsum meetings at even sorted positions calibrate, odd report; "
        "unanswerable: even list positions calibrate, odd report",
        "chosen": {k: getattr(chosen, k) for k in GRID},
        "current": {k: getattr(current, k) for k in GRID},
        "calibration_half": {"chosen": rates(chosen, cal), "current": rates(current, cal)},
        "held_back_half": {"chosen": rates(chosen, held), "current": rates(current, held)},
        "held_back_signals": [asdict(r) for r in held],
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"load average {report['load_average']}\nsplit: {report['split']}\n")
    print(f"chosen on the calibration half: {report['chosen']}")
    print(f"current defaults:               {report['current']}\n")
    print("| half | thresholds | unanswerable refused | answerable refused (false) |")
    print("| --- | --- | ---: | ---: |")
    for half in ("calibration_half", "held_back_half"):
        for name in ("chosen", "current"):
            r = report[half][name]
            print(
                f"| {half} | {name} | {r['refusal_rate']:.3f} of {r['unanswerable']} | "
                f"{r['false_refusal_rate']:.3f} of {r['answerable']} |"
            )


if __name__ == "__main__":
    main()
