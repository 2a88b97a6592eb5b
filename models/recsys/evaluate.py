"""Evaluate the shipped ONNX recommender, or train and compare every peer on one split.

``python -m models.recsys.evaluate --model shipped --json`` runs the committed int8 graphs with
onnxruntime only (no torch) on the ML-100K test split and prints NDCG@10, HR@10, cold-start and
intent metrics. ``--model all`` trains the transformer peers (torch) with the same split and
seeds, adds popularity and item-kNN, and prints a table (or JSON).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.recsys.data import (
    BINARY_INTENTS,
    EvalCase,
    Split,
    build_split,
    intent_metrics,
    ranking_metrics,
    target_ranks,
)

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"
F64 = NDArray[np.float64]


def _histories(split: Split, cases: Sequence[EvalCase]) -> list[NDArray[np.int64]]:
    return [c.inputs.items for c in cases]


def _interaction_matrix(split: Split, histories: Sequence[NDArray[np.int64]]) -> F64:
    x = np.zeros((len(histories), split.n_items + 1), dtype=np.float64)
    for r, items in enumerate(histories):
        x[r, items] = 1.0
    return x


def _fit_histories(split: Split, cases: Sequence[EvalCase]) -> list[NDArray[np.int64]]:
    """Every user's events that are inputs when scoring ``cases`` (train, plus val for test)."""
    by_user = {c.user: c.inputs.items for c in cases}
    return [by_user.get(u, ev.items) for u, ev in split.train.items()]


def popularity_scores(split: Split, cases: Sequence[EvalCase]) -> F64:
    """Interaction counts over the inputs available to ``cases`` (same for every user)."""
    counts = _interaction_matrix(split, _fit_histories(split, cases)).sum(axis=0)
    return np.tile(counts, (len(cases), 1))


def itemknn_scores(split: Split, cases: Sequence[EvalCase], last: int | None) -> F64:
    """Item-kNN: sum of cosine co-occurrence similarities to the user's last ``last`` items."""
    x = _interaction_matrix(split, _fit_histories(split, cases))
    co = x.T @ x
    norms = np.sqrt(np.diag(co))
    sim = co / np.maximum(np.outer(norms, norms), 1e-12)
    np.fill_diagonal(sim, 0.0)
    scores = np.zeros((len(cases), split.n_items + 1), dtype=np.float64)
    for r, case in enumerate(cases):
        items = case.inputs.items if last is None else case.inputs.items[-last:]
        scores[r] = sim[items].sum(axis=0)
    return scores


def _ranking(scores: NDArray[np.floating], cases: Sequence[EvalCase]) -> dict[str, float]:
    cases = list(cases)
    ranks = target_ranks(scores, cases)
    out = ranking_metrics(ranks)
    cold = np.asarray([c.cold for c in cases], dtype=bool)
    if cold.any():
        out |= {f"cold_{k}": v for k, v in ranking_metrics(ranks[cold]).items()}
    return out


def evaluate_baselines(split: Split) -> dict[str, dict[str, float]]:
    """Popularity and item-kNN on test (item-kNN's history length chosen on validation)."""
    results = {"popularity": _ranking(popularity_scores(split, split.test), split.test)}
    best_last, best_val = None, -1.0
    for last in (5, 20, 50, None):
        val = _ranking(itemknn_scores(split, split.val, last), split.val)["ndcg@10"]
        if val > best_val:
            best_last, best_val = last, val
    knn = _ranking(itemknn_scores(split, split.test, best_last), split.test)
    knn["history_len"] = float(best_last) if best_last is not None else float("inf")
    results["item-knn"] = knn
    return results


def evaluate_shipped(
    model_dir: Path, data_dir: Path | None = None, *, threads: int = 1
) -> dict[str, float]:
    """Metrics of an exported model, computed with onnxruntime exactly as the app runs it.

    Each test user's history is encoded on its own (batch 1, no padding), the whole catalogue is
    scored through the scorer graph, seen items are filtered.

    Args:
        model_dir: Directory written by ``models.recsys.export``.
        data_dir: ML-100K directory; None for the default.
        threads: onnxruntime threads.

    Returns:
        Metric name -> value.
    """
    from core.recommend.scorer import Recommender

    rec = Recommender(model_dir, threads=threads)
    split = build_split(data_dir, seed=rec.config.seed, max_len=rec.config.max_len)
    cat = split.catalogue
    expected = [cat.raw_ids[i - 1] for i in split.cold_items.tolist()]
    if list(rec.config.cold_items) != expected:
        raise ValueError(f"{model_dir}: cold items of the model differ from the split's")
    return evaluate_recommender(rec, split, split.test)


def evaluate_recommender(rec: Any, split: Split, cases: Sequence[EvalCase]) -> dict[str, float]:
    """Ranking and intent metrics of a :class:`core.recommend.scorer.Recommender` on cases."""
    cat = split.catalogue
    rows = np.asarray([rec.item_row(r) for r in cat.raw_ids], dtype=np.int64)
    table = rec.item_table[rows]
    scores = np.full((len(cases), cat.n_items + 1), -np.inf, dtype=np.float64)
    genre = np.zeros((len(cases), len(cat.genre_names)), dtype=np.float32)
    binary = np.zeros((len(cases), len(BINARY_INTENTS)), dtype=np.float32)
    for r, case in enumerate(cases):
        f = case.inputs
        state = rec.encode_arrays(table[f.items - 1], f.hour, f.weekday, f.gap, f.engagement)
        scores[r, 1:] = rec.score_representations(state, table)
        genre[r] = state.intents["genre"]
        binary[r] = [state.intents[name][0] for name in BINARY_INTENTS]
    out = _ranking(scores, cases)
    out |= intent_metrics(list(cases), genre, binary)
    return out


def _table(results: dict[str, dict[str, float]]) -> str:
    cols = [
        "ndcg@10",
        "hr@10",
        "cold_ndcg@10",
        "cold_hr@10",
        "cold_median_rank",
        "genre_top1",
        "quick_deep_acc",
        "continue_acc",
        "new_acc",
        "genre_auc",
        "quick_deep_auc",
        "continue_auc",
        "new_auc",
    ]
    lines = ["| model | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for name, m in results.items():
        cells = []
        for c in cols:
            v = m.get(c)
            std = m.get(f"{c}_std")
            if v is None or (isinstance(v, float) and math.isnan(v)):
                cells.append("–")
            elif std is not None:
                cells.append(f"{v:.4f} ± {std:.4f}")
            else:
                cells.append(f"{v:.4f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def compare_all(
    data_dir: Path | None,
    seeds: Sequence[int],
    *,
    epochs: int,
    patience: int,
    threads: int,
    checkpoints: Path | None = None,
) -> dict[str, Any]:
    """Train every transformer peer per seed on the same split; add the numpy baselines.

    Args:
        data_dir: ML-100K directory.
        seeds: Training seeds (the cold-item draw uses the first).
        epochs: Maximum epochs per model.
        patience: Early-stopping patience (epochs, on validation NDCG@10).
        threads: torch threads.
        checkpoints: If given, every trained model is saved there as ``<mode>-seed<S>.pt``.

    Returns:
        ``{"models": {name: mean metrics (+ _std)}, "per_seed": ..., "relative": ...}``.
    """
    import torch

    from models.recsys.model import MODES
    from models.recsys.train import evaluate_model, save_checkpoint, train_model

    torch.set_num_threads(threads)
    split = build_split(data_dir, seed=seeds[0])
    results: dict[str, dict[str, float]] = evaluate_baselines(split)
    per_seed: dict[str, list[dict[str, float]]] = {}
    names = {"sasrec": "sasrec-ce", "aux": "intent-aux", "hier": "fm-intent (hier)"}
    for seed in seeds:
        for mode in MODES:
            res = train_model(
                split,
                mode=mode,
                seed=seed,
                epochs=epochs,
                patience=patience,
                report=lambda line: print(line, file=sys.stderr),
            )
            test = evaluate_model(res.model, split.test)
            if checkpoints is not None:
                save_checkpoint(checkpoints / f"{mode}-seed{seed}.pt", res, split, seed)
            test |= {
                "best_epoch": float(res.best_epoch),
                "train_s": res.seconds,
                "val_ndcg@10": res.val["ndcg@10"],
            }
            per_seed.setdefault(names[mode], []).append(test)
    for name, runs in per_seed.items():
        keys = runs[0].keys()
        mean = {k: float(np.mean([r[k] for r in runs])) for k in keys}
        if len(runs) > 1:
            mean |= {
                f"{k}_std": float(np.std([r[k] for r in runs]))
                for k in ("ndcg@10", "hr@10", "cold_ndcg@10", "cold_median_rank")
            }
        results[name] = mean
    hier, sas = results[names["hier"]], results[names["sasrec"]]
    pop = results["popularity"]
    relative = {
        "hier_vs_sasrec_ndcg@10": hier["ndcg@10"] / sas["ndcg@10"] - 1.0,
        "hier_vs_sasrec_ndcg@10_per_seed": [
            h["ndcg@10"] / s["ndcg@10"] - 1.0
            for h, s in zip(per_seed[names["hier"]], per_seed[names["sasrec"]], strict=True)
        ],
        "hier_cold_vs_popularity_cold": (
            hier["cold_ndcg@10"] / pop["cold_ndcg@10"] if pop["cold_ndcg@10"] > 0 else math.inf
        ),
    }
    return {
        "models": results,
        "per_seed": per_seed,
        "relative": relative,
        "seeds": list(seeds),
        "n_test": len(split.test),
        "n_cold_test": int(sum(c.cold for c in split.test)),
        "n_cold_items": len(split.cold_items),
    }


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="ml-100k directory")
    parser.add_argument(
        "--model",
        default="shipped",
        help="'shipped', a model directory, or 'all' (train and compare peers)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--checkpoints",
        type=Path,
        default=None,
        help="with --model all: save every trained model here",
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.model == "all":
        report = compare_all(
            args.data,
            args.seeds,
            epochs=args.epochs,
            patience=args.patience,
            threads=args.threads,
            checkpoints=args.checkpoints,
        )
        text = _table(report["models"])
    else:
        model_dir = SHIPPED_DIR if args.model == "shipped" else Path(args.model)
        report = evaluate_shipped(model_dir, args.data, threads=args.threads)
        text = _table({str(model_dir.name): report})
    payload = _jsonable(report) | {"seconds": time.perf_counter() - t0}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(payload, indent=2) if args.json else text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
