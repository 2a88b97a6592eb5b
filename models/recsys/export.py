"""Export a trained checkpoint to the two int8 ONNX graphs the app runs.

``python -m models.recsys.export --checkpoint build/recsys/hier-seed0.pt``
``--out models/recsys/shipped``

Writes ``encoder.int8.onnx``, ``scorer.int8.onnx``, ``items.npz`` (item ids, trained id rows,
precomputed item representations, content vectors and the content projection),
``config.json`` (:class:`core.recommend.config.RecommenderConfig`), ``metrics.json`` and
``NOTICE.md``. The fp32 graphs go to ``--fp32-dir`` (not shipped); both are evaluated with the
onnxruntime runtime on the test split and the int8 loss of NDCG@10 is checked (<= 1% relative).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from core.recommend.config import IntentSpec, RecommenderConfig
from core.recommend.scorer import N_GAP_BUCKETS, N_HOURS, N_WEEKDAYS
from models.recsys.data import (
    CONTINUE_K,
    DEEP_GENRES,
    N_ENGAGEMENT_BUCKETS,
    NEW_MAX_AGE_YEARS,
    build_split,
)
from models.recsys.evaluate import evaluate_shipped
from models.recsys.model import EncoderGraph, IntentRecModel, ScorerGraph
from models.recsys.train import evaluate_model, load_checkpoint

ENCODER_INPUTS = ("item_rep", "hour", "weekday", "gap", "engagement", "mask")
SCORER_INPUTS = ("state", "intent_embedding", "item_rep")
SCORER_OUTPUTS = ("scores",)
MAX_INT8_REL_LOSS = 0.01
OPSET = 17

NOTICE = """# NOTICE: shipped recommender model

The files in this directory (`encoder.int8.onnx`, `scorer.int8.onnx`, `items.npz`,
`config.json`, `metrics.json`) are a model **trained on the MovieLens 100K data set** and are
derived from it: the weights, the item table and the item content vectors encode information
from that data set (item ids, titles, genres, release dates and ratings).

MovieLens 100K is provided by GroupLens Research, University of Minnesota, under its own terms
(see the `README` shipped with the data set), among them:

* it may be used for research purposes only, and not for commercial or revenue-bearing purposes
  without separate permission from GroupLens;
* it may not be redistributed without separate permission (this repository does **not** contain
  the data set; training and evaluation read it from `../shared/data/ml-100k`);
* no endorsement by the University of Minnesota or GroupLens may be stated or implied;
* publications using it must cite:
  F. Maxwell Harper and Joseph A. Konstan. 2015. *The MovieLens Datasets: History and Context.*
  ACM Transactions on Interactive Intelligent Systems (TiiS) 5, 4, Article 19 (December 2015),
  19 pages. https://doi.org/10.1145/2827872

Because these weights are derived from MovieLens 100K, they fall under the same research-use
terms: they demonstrate and test the recommender pipeline, and must be replaced by a model
trained on the user's own library (or on data whose license allows it) before any commercial
distribution. Reproduce with `python -m models.recsys.train` and `python -m models.recsys.export`
(see `docs/recsys.md`).
"""


def intent_specs(genre_names: list[str]) -> tuple[IntentSpec, ...]:
    """The intent heads and the exact label definitions used in training and evaluation."""
    return (
        IntentSpec(
            "genre",
            "multilabel",
            tuple(genre_names),
            "Genre flags (ML-100K u.item) of the next item; app: the item's genres/topics.",
        ),
        IntentSpec(
            "quick_deep",
            "binary",
            ("quick", "deep"),
            f"deep = next item has any genre in {list(DEEP_GENRES)} (ML-100K has no durations; "
            "weighty, typically long films stand in); app: deep = duration >= 40 min.",
        ),
        IntentSpec(
            "continue",
            "binary",
            ("discover", "continue"),
            f"continue = next item shares >= 1 genre (ignoring 'unknown') with the last "
            f"{CONTINUE_K} history item(s).",
        ),
        IntentSpec(
            "new",
            "binary",
            ("catalogue", "new"),
            f"new = UTC year of the next event minus the item's release year <= "
            f"{NEW_MAX_AGE_YEARS}; unknown release year = catalogue.",
        ),
    )


def _export_graphs(model: IntentRecModel, out: Path) -> tuple[Path, Path]:
    """Write the fp32 encoder and scorer graphs with named inputs and dynamic axes."""
    d = model.hp.d_model
    b, n, m = 2, 7, 11
    enc_args = (
        torch.randn(b, n, d),
        torch.zeros(b, n, dtype=torch.long),
        torch.zeros(b, n, dtype=torch.long),
        torch.zeros(b, n, dtype=torch.long),
        torch.zeros(b, n, dtype=torch.long),
        torch.ones(b, n),
    )
    outputs = _encoder_outputs(model)
    enc_path = out / "encoder.fp32.onnx"
    seq_axes = {0: "batch", 1: "events"}
    torch.onnx.export(
        EncoderGraph(model).eval(),
        enc_args,
        str(enc_path),
        input_names=list(ENCODER_INPUTS),
        output_names=list(outputs),
        dynamic_axes={name: seq_axes for name in ENCODER_INPUTS}
        | {name: {0: "batch"} for name in outputs},
        opset_version=OPSET,
        dynamo=False,
    )
    sc_path = out / "scorer.fp32.onnx"
    torch.onnx.export(
        ScorerGraph(model).eval(),
        (torch.randn(b, d), torch.randn(b, d), torch.randn(m, d)),
        str(sc_path),
        input_names=list(SCORER_INPUTS),
        output_names=list(SCORER_OUTPUTS),
        dynamic_axes={
            "state": {0: "batch"},
            "intent_embedding": {0: "batch"},
            "item_rep": {0: "items"},
            "scores": {0: "batch", 1: "items"},
        },
        opset_version=OPSET,
        dynamo=False,
    )
    return enc_path, sc_path


def _encoder_outputs(model: IntentRecModel) -> tuple[str, ...]:
    return (
        "state",
        "intent_embedding",
        "intent_genre",
        "intent_quick_deep",
        "intent_continue",
        "intent_new",
    )


@torch.no_grad()
def _write_items(model: IntentRecModel, raw_ids: list[str], path: Path) -> None:
    known = model.known.numpy()
    np.savez_compressed(
        path,
        ids=np.asarray(raw_ids),
        id_row=np.where(known[1:], np.arange(1, len(raw_ids) + 1), 0).astype(np.int64),
        table=model.item_table()[1:].numpy().astype(np.float32),
        content=model.content[1:].numpy().astype(np.float32),
        content_weight=model.content_proj.weight.T.numpy().astype(np.float32),
        content_bias=model.content_proj.bias.numpy().astype(np.float32),
        unknown_row=model.id_emb.weight[0].numpy().astype(np.float32),
    )


def _quantize(src: Path, dst: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Dynamic int8: weights per output channel (the Linear layers differ a lot in scale),
    # activations quantized per call, so no calibration set is needed.
    quantize_dynamic(str(src), str(dst), per_channel=True, weight_type=QuantType.QInt8)


def _config(
    model: IntentRecModel,
    ckpt: dict[str, Any],
    *,
    genre_names: list[str],
    enc: str,
    sc: str,
    quantization: str,
) -> RecommenderConfig:
    return RecommenderConfig(
        name=f"fm-intent-ml100k-{ckpt['mode']}",
        encoder_file=enc,
        scorer_file=sc,
        items_file="items.npz",
        d_model=model.hp.d_model,
        content_dim=int(model.content.shape[1]),
        max_len=model.hp.max_len,
        n_id_rows=int(model.id_emb.num_embeddings),
        n_hours=N_HOURS,
        n_weekdays=N_WEEKDAYS,
        n_gap_buckets=N_GAP_BUCKETS,
        n_engagement_buckets=N_ENGAGEMENT_BUCKETS,
        engagement_definition="ML-100K rating 1..5 is the bucket (0 = unknown); app: completion "
        "ratio in 5 equal buckets 1..5.",
        time_zone="UTC",
        encoder_inputs=ENCODER_INPUTS,
        encoder_outputs=_encoder_outputs(model),
        scorer_inputs=SCORER_INPUTS,
        scorer_outputs=SCORER_OUTPUTS,
        intents=intent_specs(genre_names),
        quantization=quantization,
        seed=int(ckpt["seed"]),
        cold_items=tuple(ckpt["cold_items"]),
        cold_offset=float(model.cold_offset),
    )


def export(
    checkpoint: Path, out: Path, fp32_dir: Path, data_dir: Path | None = None
) -> dict[str, Any]:
    """Export, quantize and evaluate (see the module docstring).

    Args:
        checkpoint: Output of ``models.recsys.train``.
        out: Directory of the shipped (int8) model.
        fp32_dir: Directory for the fp32 reference export.
        data_dir: ML-100K directory; None for the default.

    Returns:
        The content of ``metrics.json``.
    """
    model, ckpt = load_checkpoint(checkpoint)
    if model.hp.request_context:
        # The app's graphs cache the state per event and take no request input, so such a
        # model would be exported without the input it was trained with.
        raise ValueError(
            f"{checkpoint} reads the request context, which the exported graphs do not take; "
            "export a model trained without --request-context"
        )
    split = build_split(data_dir, seed=int(ckpt["seed"]), max_len=model.hp.max_len)
    genre_names = split.catalogue.genre_names
    torch_metrics = evaluate_model(model, split.test)
    out.mkdir(parents=True, exist_ok=True)
    fp32_dir.mkdir(parents=True, exist_ok=True)

    enc32, sc32 = _export_graphs(model, fp32_dir)
    _write_items(model, split.catalogue.raw_ids, fp32_dir / "items.npz")
    _config(
        model,
        ckpt,
        genre_names=genre_names,
        enc=enc32.name,
        sc=sc32.name,
        quantization="none (fp32)",
    ).save(fp32_dir)
    fp32_metrics = evaluate_shipped(fp32_dir, data_dir)

    for old in out.glob("*.onnx"):
        old.unlink()
    _quantize(enc32, out / "encoder.int8.onnx")
    _quantize(sc32, out / "scorer.int8.onnx")
    shutil.copyfile(fp32_dir / "items.npz", out / "items.npz")
    quant = "onnxruntime dynamic int8 (QInt8 weights, per-channel; activations per call)"
    config = _config(
        model,
        ckpt,
        genre_names=genre_names,
        enc="encoder.int8.onnx",
        sc="scorer.int8.onnx",
        quantization=quant,
    )
    config.save(out)
    int8_metrics = evaluate_shipped(out, data_dir)
    rel = 1.0 - int8_metrics["ndcg@10"] / fp32_metrics["ndcg@10"]
    sizes = {
        p.name: p.stat().st_size for p in sorted(out.iterdir()) if p.suffix in (".onnx", ".npz")
    }
    sizes |= {f"fp32/{p.name}": p.stat().st_size for p in (enc32, sc32)}
    metrics: dict[str, Any] = {
        "split": {
            "seed": int(ckpt["seed"]),
            "n_test": len(split.test),
            "n_cold_test": int(sum(c.cold for c in split.test)),
            "n_cold_items": len(split.cold_items),
        },
        "checkpoint": {"mode": ckpt["mode"], "best_epoch": ckpt["best_epoch"], "val": ckpt["val"]},
        "int8": int8_metrics,
        "fp32_onnx": fp32_metrics,
        "torch_fp32": torch_metrics,
        "int8_rel_ndcg@10_loss": rel,
        "int8_within_1pct": bool(rel <= MAX_INT8_REL_LOSS),
        "file_bytes": sizes,
    }
    replace(config, metrics=dict(int8_metrics)).save(out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    (out / "NOTICE.md").write_text(NOTICE, encoding="utf-8")
    return metrics


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("models/recsys/shipped"))
    parser.add_argument("--fp32-dir", type=Path, default=Path("build/recsys/fp32"))
    parser.add_argument("--data", type=Path, default=None, help="ml-100k directory")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        metrics = export(args.checkpoint, args.out, args.fp32_dir, args.data)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(metrics, indent=2))
    if not metrics["int8_within_1pct"]:
        print(f"int8 loses {metrics['int8_rel_ndcg@10_loss']:.2%} NDCG@10 (> 1%)")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
