"""Report the ranker on the held-back half of spoken_squad (odd article index) only.

``python -m models.reranker.evaluate [--work-dir DIR] [--questions N]``: share of questions
whose best-scored candidate sentence holds the gold answer, learned vs the heuristic
(MiniLM cosine + shared words) on the same candidates, and the ranker's added time per
question (features + ONNX), p50/p95.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from core.answer._evidence import candidate_passages
from core.answer._rank import default_ranker, unit_features
from core.search import Searcher, default_encoder
from models.reranker.data import HEURISTIC, featurize, open_library, squad_questions, top1

# Questions timed for the ranker's added latency.
LATENCY_QUESTIONS = 100


def main() -> None:
    """Featurise the held-back half, score, report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work-dir", default="build/reranker")
    parser.add_argument("--questions", type=int, default=400)
    args = parser.parse_args()
    with open_library(Path(args.work_dir)) as lib:
        present = {i.path for i in lib.items()}
        questions = [q for q in squad_questions("held_back") if q.media_key in present]
        questions = questions[: args.questions]
        feats = featurize(lib, questions, limit=args.questions)
        learned = default_ranker().score(feats.x)
        searcher = Searcher(lib, default_encoder)
        added: list[float] = []
        for q in questions[:LATENCY_QUESTIONS]:
            results = searcher.search(q.text, k=8)
            passages = candidate_passages(
                lib, searcher, HEURISTIC, question=q.text, results=results
            )
            units = [u for p in passages for u in p.units]
            t0 = time.perf_counter()
            default_ranker().score(unit_features(q.text, units, searcher))
            added.append((time.perf_counter() - t0) * 1000)
    report = {
        "split": "spoken_squad odd article index (held back; training used even)",
        "questions": len(questions),
        "with_a_positive_candidate": int(
            sum(feats.y[feats.group == g].any() for g in np.unique(feats.group))
        ),
        "top1_learned": top1(learned, feats),
        "top1_heuristic": top1(feats.heuristic, feats),
        "ranker_ms_p50": float(np.percentile(added, 50)),
        "ranker_ms_p95": float(np.percentile(added, 95)),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
