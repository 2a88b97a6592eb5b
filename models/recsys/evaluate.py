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


IMPUTE_NEIGHBOURS = 10


def content_popularity_scores(split: Split, cases: Sequence[EvalCase]) -> F64:
    """Popularity with cold items imputed from content: the popularity peer for cold start.

    An item with training events scores its count (as :func:`popularity_scores`); an item
    without any (cold) scores the mean count of its :data:`IMPUTE_NEIGHBOURS` nearest items with
    events by cosine of the content vectors.
    """
    counts = _interaction_matrix(split, _fit_histories(split, cases)).sum(axis=0)
    content = split.catalogue.content.astype(np.float64)
    unit = content / np.maximum(np.linalg.norm(content, axis=1, keepdims=True), 1e-12)
    warm = np.flatnonzero(counts > 0)
    cold = np.flatnonzero(counts == 0)
    cold = cold[cold > 0]
    sims = unit[cold] @ unit[warm].T
    nearest = np.argsort(-sims, axis=1, kind="stable")[:, :IMPUTE_NEIGHBOURS]
    imputed = counts.copy()
    imputed[cold] = counts[warm][nearest].mean(axis=1)
    return np.tile(imputed, (len(cases), 1))


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
    """Popularity (plain and content-imputed for cold items) and item-kNN on test.

    Item-kNN's history length is chosen on validation.
    """
    results = {
        "popularity": _ranking(popularity_scores(split, split.test), split.test),
        "popularity (cold: content-imputed)": _ranking(
            content_popularity_scores(split, split.test), split.test
        ),
    }
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
    bias = rec.item_bias[rows]
    scores = np.full((len(cases), cat.n_items + 1), -np.inf, dtype=np.float64)
    genre = np.zeros((len(cases), len(cat.genre_names)), dtype=np.float32)
    binary = np.zeros((len(cases), len(BINARY_INTENTS)), dtype=np.float32)
    for r, case in enumerate(cases):
        f = case.inputs
        state = rec.encode_arrays(table[f.items - 1], f.hour, f.weekday, f.gap, f.engagement)
        scores[r, 1:] = rec.score_representations(state, table) + bias
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


NAMES = {"sasrec": "sasrec-ce", "aux": "intent-aux", "hier": "fm-intent (hier)"}
# Suffix of the peers that also read the request's context (hour, weekday, gap since the latest
# event): the hierarchy through its intent heads, SASRec-CE added to its state.
CONTEXT_SUFFIX = " + request context"
CONTEXT_MODES = ("sasrec", "hier")


def peer_name(mode: str, request_context: bool) -> str:
    """Display name of a transformer peer."""
    return NAMES[mode] + (CONTEXT_SUFFIX if request_context else "")


SPREAD_KEYS = ("ndcg@10", "hr@10", "cold_ndcg@10", "cold_hr@10", "cold_median_rank")


def _train_one(job: tuple[Any, ...]) -> tuple[str, int, dict[str, float]]:
    """Train (or reload) one transformer peer, choose its cold offset on validation, test it.

    A module-level function of one tuple so that it runs in a worker process.
    """
    import torch

    from models.recsys.model import HParams
    from models.recsys.train import (
        TrainResult,
        choose_cold_offset,
        evaluate_model,
        load_checkpoint,
        save_checkpoint,
        train_model,
    )

    data_dir, split_seed, mode, ctx, seed, epochs, patience, threads, checkpoints, reuse = job
    torch.set_num_threads(threads)
    split = build_split(data_dir, seed=split_seed)
    stem = f"{mode}-ctx" if ctx else mode
    path = None if checkpoints is None else Path(checkpoints) / f"{stem}-seed{seed}.pt"
    if reuse and path is not None and path.is_file():
        model, ckpt = load_checkpoint(path)
        if ckpt["mode"] != mode or int(ckpt["seed"]) != seed or model.hp.request_context != ctx:
            raise ValueError(
                f"{path} holds {ckpt['mode']} seed {ckpt['seed']} "
                f"(request context: {model.hp.request_context}), not {stem} seed {seed}"
            )
        result = TrainResult(
            model,
            int(ckpt["best_epoch"]),
            dict(ckpt["val"]),
            float(ckpt.get("seconds", math.nan)),
            list(ckpt.get("history", [])),
        )
    else:
        result = train_model(
            split,
            mode=mode,
            hp=HParams(max_len=split.max_len, request_context=ctx),
            seed=seed,
            epochs=epochs,
            patience=patience,
            report=lambda line: print(line, file=sys.stderr, flush=True),
        )
    offset, offsets = choose_cold_offset(result.model, split)
    result.model.cold_offset = offset
    if path is not None:
        save_checkpoint(path, result, split, seed)
    test = evaluate_model(result.model, split.test)
    test |= {
        "best_epoch": float(result.best_epoch),
        "train_s": result.seconds,
        "val_ndcg@10": result.val["ndcg@10"],
        "cold_offset": offset,
        "val_ndcg@10_at_offset": offsets[str(offset)]["ndcg@10"],
        "val_cold_ndcg@10_at_offset": offsets[str(offset)]["cold_ndcg@10"],
    }
    return peer_name(mode, ctx), seed, test


def _summarise(runs: list[dict[str, float]]) -> dict[str, float]:
    """Mean of every metric over seeds, plus std / median / min / max of the main ones."""
    out = {k: float(np.mean([r[k] for r in runs])) for k in runs[0]}
    for k in SPREAD_KEYS:
        values = np.asarray([r[k] for r in runs if k in r], dtype=np.float64)
        if values.size:
            out |= {
                f"{k}_std": float(np.std(values)),
                f"{k}_median": float(np.median(values)),
                f"{k}_min": float(values.min()),
                f"{k}_max": float(values.max()),
            }
    return out


def _relative(a: list[dict[str, float]], b: list[dict[str, float]]) -> dict[str, Any]:
    per_seed = [x["ndcg@10"] / y["ndcg@10"] - 1.0 for x, y in zip(a, b, strict=True)]
    return {
        "of_means": float(np.mean([x["ndcg@10"] for x in a]) / np.mean([y["ndcg@10"] for y in b]))
        - 1.0,
        "per_seed": per_seed,
        "median": float(np.median(per_seed)),
        "min": float(np.min(per_seed)),
        "max": float(np.max(per_seed)),
    }


def compare_all(
    data_dir: Path | None,
    seeds: Sequence[int],
    *,
    epochs: int,
    patience: int,
    threads: int,
    checkpoints: Path | None = None,
    jobs: int = 1,
    reuse: bool = False,
    request_context: bool = False,
) -> dict[str, Any]:
    """Train every transformer peer per seed on the same split; add the numpy baselines.

    Every transformer peer gets the same budget: the same epochs with early stopping on
    validation NDCG@10 and the same grid of cold-item offsets chosen on validation
    (:func:`models.recsys.train.choose_cold_offset`). Test is read once per trained model.

    Args:
        data_dir: ML-100K directory.
        seeds: Training seeds (the cold-item draw uses the first).
        epochs: Maximum epochs per model.
        patience: Early-stopping patience (epochs, on validation NDCG@10).
        threads: torch threads per training process.
        checkpoints: If given, every trained model is saved there as ``<mode>-seed<S>.pt``.
        jobs: Models trained at once (worker processes, ``threads`` each).
        reuse: Load a model from ``checkpoints`` instead of training it when the file exists.
        request_context: Also train SASRec-CE and the hierarchy with the request's context.

    Returns:
        ``{"models": {name: summary over seeds}, "per_seed": ..., "relative": ...}``.
    """
    from models.recsys.model import MODES

    split = build_split(data_dir, seed=seeds[0])
    results: dict[str, dict[str, float]] = evaluate_baselines(split)
    variants: list[tuple[str, bool]] = [(mode, False) for mode in MODES]
    if request_context:
        variants += [(mode, True) for mode in CONTEXT_MODES]
    work = [
        (data_dir, seeds[0], mode, ctx, seed, epochs, patience, threads, checkpoints, reuse)
        for seed in seeds
        for mode, ctx in variants
    ]
    if jobs > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=jobs) as pool:
            done = list(pool.map(_train_one, work))
    else:
        done = [_train_one(job) for job in work]
    per_seed: dict[str, list[dict[str, float]]] = {}
    for name, _seed, test in done:
        per_seed.setdefault(name, []).append(test)
    for name, runs in per_seed.items():
        results[name] = _summarise(runs)
    hier, sas, aux = (per_seed[NAMES[m]] for m in ("hier", "sasrec", "aux"))
    if request_context:
        hier_ctx, sas_ctx = (per_seed[peer_name(m, True)] for m in ("hier", "sasrec"))
    pop = results["popularity"]
    imputed = results["popularity (cold: content-imputed)"]
    h = results[NAMES["hier"]]
    relative = {
        "hier_vs_sasrec_ndcg@10": _relative(hier, sas),
        "aux_vs_sasrec_ndcg@10": _relative(aux, sas),
        "hier_vs_aux_ndcg@10": _relative(hier, aux),
        **(
            {
                "hier_ctx_vs_sasrec_ndcg@10": _relative(hier_ctx, sas),
                "hier_ctx_vs_sasrec_ctx_ndcg@10": _relative(hier_ctx, sas_ctx),
                "sasrec_ctx_vs_sasrec_ndcg@10": _relative(sas_ctx, sas),
            }
            if request_context
            else {}
        ),
        "hier_cold_vs_popularity_cold": (
            h["cold_ndcg@10"] / pop["cold_ndcg@10"] if pop["cold_ndcg@10"] > 0 else math.inf
        ),
        "hier_cold_vs_imputed_popularity_cold": (
            h["cold_ndcg@10"] / imputed["cold_ndcg@10"] if imputed["cold_ndcg@10"] > 0 else math.inf
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
        "n_val_cold_items": len(split.val_cold_items),
        "n_val": len(split.val),
        "n_cold_val": int(sum(c.cold for c in split.val)),
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
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--checkpoints",
        type=Path,
        default=None,
        help="with --model all: save every trained model here",
    )
    parser.add_argument(
        "--jobs", type=int, default=1, help="with --model all: models trained at once"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="with --model all: load models found in --checkpoints instead of training them",
    )
    parser.add_argument(
        "--request-context",
        action="store_true",
        help="with --model all: also train SASRec-CE and the hierarchy with the request context",
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
            jobs=args.jobs,
            reuse=args.reuse,
            request_context=args.request_context,
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
