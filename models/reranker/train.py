"""Fit the evidence ranker on the training half of spoken_squad (even article index).

``python -m models.reranker.train [--work-dir DIR] [--questions N]`` writes
``DIR/ranker.json`` (feature means, scales, weights, bias) for ``export``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.answer._rank import FEATURES
from models.reranker.data import Features, featurize, load, open_library, save, squad_questions

L2 = 1e-2
NEWTON_STEPS = 25
# Questions of the training half whose best candidate counts: held out of the fit to pick
# nothing but to report the fit's own top-1 next to the heuristic's.
VALIDATION_SHARE = 0.2


def fit(x: npt.NDArray[np.float32], y: npt.NDArray[np.float32]) -> dict[str, Any]:
    """L2-regularised logistic regression by Newton's method on standardised features."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-6] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1), dtype=np.float32)]).astype(np.float64)
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], L2 * len(z))
    reg[-1] = 0.0
    for _ in range(NEWTON_STEPS):
        p = 1.0 / (1.0 + np.exp(-(z @ w)))
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg)
        w -= np.linalg.solve(hess, grad)
    return {
        "features": list(FEATURES),
        "mean": mean.tolist(),
        "scale": scale.tolist(),
        "weights": w[:-1].tolist(),
        "bias": [float(w[-1])],
    }


def main() -> None:
    """Featurise the training half, fit, write the weights."""
    from models.reranker.data import top1

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work-dir", default="build/reranker")
    parser.add_argument("--questions", type=int, default=800)
    args = parser.parse_args()
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    cache = work / f"train-{args.questions}.npz"
    t0 = time.perf_counter()
    if cache.exists():
        feats = load(cache)
    else:
        with open_library(work) as lib:
            feats = featurize(lib, squad_questions("train"), limit=args.questions)
        save(feats, cache)
    groups = np.unique(feats.group)
    cut = groups[int(len(groups) * (1 - VALIDATION_SHARE))]
    fit_rows = feats.group < cut
    model = fit(feats.x[fit_rows], feats.y[fit_rows])
    val = Features(
        feats.x[~fit_rows], feats.y[~fit_rows], feats.group[~fit_rows], feats.heuristic[~fit_rows]
    )
    z = (val.x - np.asarray(model["mean"])) / np.asarray(model["scale"])
    learned = (z @ np.asarray(model["weights"]) + model["bias"][0]).astype(np.float32)
    model["train"] = {
        "questions": len(groups),
        "rows": len(feats.y),
        "positives": int(feats.y.sum()),
        "validation_top1_learned": top1(learned, val),
        "validation_top1_heuristic": top1(val.heuristic, val),
        "seconds": time.perf_counter() - t0,
    }
    (work / "ranker.json").write_text(json.dumps(model, indent=2))
    print(json.dumps(model["train"], indent=2))
    for name, weight in zip(FEATURES, model["weights"], strict=True):
        print(f"{name:24s} {weight:+.3f}")


if __name__ == "__main__":
    main()
