"""The app's recommender: the FM-Intent model with 384-d MiniLM content and no id rows.

The committed ``models/recsys/shipped`` model featurises an item as 128 numbers (ML-100K genre
flags, release-year bucket, hashed title words). A library item has none of those; what the app
has is a MiniLM text embedding (``core.search.embedding.Embedder``, 384-d). So the app ships a
second model, ``core/data/recsys/shipped-app``, trained with the same split, seeds, early
stopping and checks on ML-100K, but with each film's content vector = the MiniLM embedding of
``"<title>. <genre>, <genre>"`` (:func:`item_text`) and **content-only**: no film gets a trained
id row, in training or evaluation, because no library item has one either (the ML-100K
"cold item" is the app's normal case). Its content projection takes 384-d input, so a library
item's own MiniLM vector goes straight through it.

``python -m models.recsys.app_model ml100k`` trains and exports it (``export`` re-exports a
checkpoint; ``content-only`` measures a model with every item content-only and picks the
content-affinity weight of ``core.recommend.home`` on validation).

``python -m models.recsys.app_model library --library DIR`` (what ``mediamind train-recsys``
runs) fine-tunes that model, rebuilt from its ``weights.npz``, on the library's own event log
and exports it to ``<library>/recsys-model``, which ``core.recommend.home`` then prefers.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from core.recommend.config import IntentSpec, RecommenderConfig
from core.registry import RECSYS_APP, shipped_dir
from models.recsys.data import Catalogue, Split, build_split
from models.recsys.export import NOTICE, export
from models.recsys.model import HParams
from models.recsys.train import (
    TrainResult,
    evaluate_model,
    load_checkpoint,
    save_checkpoint,
    train_model,
)

log = logging.getLogger(__name__)

# The app loads this model through core.registry (RECSYS_APP, sha256-pinned): a re-export
# here must update those checksums (`sha256sum core/data/recsys/shipped-app/*`).
APP_DIR = shipped_dir(RECSYS_APP)
DEFAULT_BUILD = Path("build") / "recsys" / "app"
LIBRARY_MODEL_DIRNAME = "recsys-model"
CONTENT_DIM = 384

APP_NOTICE = (
    NOTICE.replace(
        "# NOTICE: shipped recommender model", "# NOTICE: shipped app recommender model"
    ).replace(
        "(`encoder.int8.onnx`, `scorer.int8.onnx`, `items.npz`,\n`config.json`, `metrics.json`)",
        "(the encoder and scorer ONNX graphs, `items.npz`,\n`weights.npz`, `config.json`, "
        "`metrics.json`)",
    )
    + """
## Content vectors

The item content vectors in `items.npz` (and the content projection trained on them) are
all-MiniLM-L6-v2 sentence embeddings (Apache-2.0, sentence-transformers) of each MovieLens film's
title and genre names, computed with MediaMind's int8 build of that model
(`core.search.embedding.Embedder`). Reproduce with `python -m models.recsys.app_model ml100k`.
"""
)


def item_text(title: str, genres: list[str]) -> str:
    """The text whose MiniLM embedding is a film's content vector.

    Args:
        title: ML-100K title, e.g. ``Toy Story (1995)``.
        genres: Its genre names (``unknown`` is dropped).

    Returns:
        E.g. ``Toy Story (1995). Animation, Children's, Comedy``.
    """
    names = [g for g in genres if g != "unknown"]
    return f"{title}. {', '.join(names)}" if names else title


def minilm_content(cat: Catalogue, encoder: Any) -> NDArray[np.float32]:
    """MiniLM content vectors of the catalogue, ``[n_items + 1, 384]`` (row 0 = padding).

    Args:
        cat: The ML-100K catalogue.
        encoder: Anything with ``encode(texts) -> [n, 384]`` (``core.search.embedding.Embedder``).

    Returns:
        Unit float32 vectors.
    """
    texts = [
        item_text(
            cat.titles[i],
            [g for g, on in zip(cat.genre_names, cat.genres[i + 1], strict=True) if on],
        )
        for i in range(cat.n_items)
    ]
    out = np.zeros((cat.n_items + 1, CONTENT_DIM), dtype=np.float32)
    out[1:] = np.asarray(encoder.encode(texts), dtype=np.float32)
    return out


def app_split(
    data_dir: Path | None, encoder: Any, *, seed: int = 0, content_only: bool = True
) -> Split:
    """The ML-100K split of ``models.recsys.data`` with MiniLM content vectors.

    Args:
        data_dir: ML-100K directory; None for the default.
        encoder: The MiniLM encoder.
        seed: Cold-item seed.
        content_only: No item gets a trained id row (``known`` all False): every item is
            represented by its content alone, in training and evaluation, as in the app.

    Returns:
        The split.
    """
    split = build_split(data_dir, seed=seed)
    split.catalogue.content = minilm_content(split.catalogue, encoder)
    if content_only:
        split.known[:] = False
    return split


def app_intent_specs(config: RecommenderConfig) -> tuple[IntentSpec, ...]:
    """The exported intent definitions, completed with how the app reads them."""
    app_reading = {
        "genre": " App: no ML genres; core.recommend.home maps topic rows from content clusters "
        "and ranks them with the item head.",
        "quick_deep": " App reading in core.recommend.home: quick = duration < 10 min.",
        "continue": " App: continue = same topic as the previous viewing.",
        "new": " App: new = added to the library within the last 14 days.",
    }
    out = []
    for spec in config.intents:
        definition = spec.definition.split(" App")[0].split("; app:")[0]
        out.append(replace(spec, definition=definition + app_reading.get(spec.name, "")))
    return tuple(out)


def _finish_export(out: Path, name: str) -> None:
    config = RecommenderConfig.load(out)
    replace(config, name=name, intents=app_intent_specs(config)).save(out)
    (out / "NOTICE.md").write_text(APP_NOTICE, encoding="utf-8")


def train_ml100k(
    data_dir: Path | None,
    out: Path,
    build: Path,
    *,
    seed: int = 0,
    epochs: int = 50,
    patience: int = 10,
    content_only: bool = True,
) -> dict[str, Any]:
    """Train the MiniLM-content model on ML-100K and export it (see the module docstring).

    Args:
        data_dir: ML-100K directory; None for the default.
        out: Directory of the exported int8 model.
        build: Directory for the checkpoint and the fp32 export (not shipped).
        seed: Training and cold-item seed.
        epochs: Maximum epochs.
        patience: Early-stopping patience.
        content_only: Train with no id rows (see :func:`app_split`).

    Returns:
        The export metrics (``metrics.json``) plus the test metrics of the torch model.
    """
    from core.search import Embedder

    split = app_split(data_dir, Embedder(threads=1), seed=seed, content_only=content_only)
    result = train_model(
        split,
        mode="hier",
        seed=seed,
        epochs=epochs,
        patience=patience,
        report=lambda line: log.info("%s", line),
    )
    checkpoint = build / f"hier-seed{seed}.pt"
    save_checkpoint(checkpoint, result, split, seed)
    metrics = export_app(checkpoint, out, build, data_dir)
    metrics["best_epoch"] = result.best_epoch
    metrics["train_seconds"] = result.seconds
    metrics["torch_test"] = evaluate_model(result.model, split.test)
    metrics["content_only"] = content_only
    return metrics


AFFINITY_GRID = (0.0, 1.0, 2.0, 4.0, 8.0, 16.0)


def content_only_metrics(model_dir: Path, data_dir: Path | None = None) -> dict[str, Any]:
    """Test metrics when *every* item goes through the content path, as in the app.

    In the app no item has a trained id row, so ranking is among content-only items; the
    ML-100K cold-item metric instead pits content-only items against warm ones with id rows.
    Here both the history and all 1,682 candidates use ``content_representations`` of the
    exported ``items.npz`` content (onnxruntime, batch 1, seen items filtered). The app's ranking
    score adds ``weight x core.recommend.home.content_affinity``; the weight is chosen here on
    validation NDCG@10 over :data:`AFFINITY_GRID` and read once on test.

    Args:
        model_dir: An exported model (``shipped`` with 128-d features or ``shipped-app``).
        data_dir: ML-100K directory; None for the default.

    Returns:
        ``{"val": {weight: metrics}, "test": {weight: metrics}, "best_weight": w}``; metrics
        are NDCG@10, HR@10, median rank (all users and the cold-target ones).
    """
    from core.recommend.home import content_affinity
    from core.recommend.scorer import Recommender
    from models.recsys.data import ranking_metrics, target_ranks

    rec = Recommender(model_dir, threads=1)
    split = build_split(data_dir, seed=rec.config.seed, max_len=rec.config.max_len)
    cat = split.catalogue
    rows = np.asarray([rec.item_row(r) for r in cat.raw_ids], dtype=np.int64)
    with np.load(model_dir / rec.config.items_file) as npz:
        content = np.asarray(npz["content"], dtype=np.float32)[rows]
    table = rec.content_representations(content)
    unit = content / np.maximum(np.linalg.norm(content, axis=1, keepdims=True), 1e-12)
    out: dict[str, Any] = {}
    for name, cases in (("val", split.val), ("test", split.test)):
        scores = np.full((len(cases), cat.n_items + 1), -np.inf, dtype=np.float64)
        affinity = np.zeros_like(scores)
        for r, case in enumerate(cases):
            f = case.inputs
            state = rec.encode_arrays(table[f.items - 1], f.hour, f.weekday, f.gap, f.engagement)
            scores[r, 1:] = rec.score_representations(state, table)
            affinity[r, 1:] = content_affinity(unit, f.items - 1, f.engagement)
        cold = np.asarray([c.cold for c in cases], dtype=bool)
        out[name] = {}
        for weight in AFFINITY_GRID:
            ranks = target_ranks(scores + weight * affinity, cases)
            metrics = ranking_metrics(ranks)
            if cold.any():
                metrics |= {f"cold_{k}": v for k, v in ranking_metrics(ranks[cold]).items()}
            out[name][str(weight)] = metrics
    out["best_weight"] = max(AFFINITY_GRID, key=lambda w: out["val"][str(w)]["ndcg@10"])
    return out


def export_app(
    checkpoint: Path, out: Path, build: Path, data_dir: Path | None = None
) -> dict[str, Any]:
    """Export an app-model checkpoint: graphs, items, config, NOTICE and ``weights.npz``.

    Like ``models.recsys.export`` (int8 graphs, checked against fp32 on the test split), except
    that when int8 loses more than 1% relative NDCG@10 the fp32 graphs are shipped instead (the
    model stays well under 5 MB either way).

    Args:
        checkpoint: A checkpoint of :func:`train_ml100k`.
        out: The model directory.
        build: Directory for the fp32 export.
        data_dir: ML-100K directory; None for the default.

    Returns:
        The content of ``metrics.json``.
    """
    fp32_dir = build / "fp32"
    metrics = export(checkpoint, out, fp32_dir, data_dir)
    _, ckpt = load_checkpoint(checkpoint)
    _finish_export(out, f"fm-intent-ml100k-minilm-{ckpt['mode']}")
    if not metrics["int8_within_1pct"]:
        loss = metrics["int8_rel_ndcg@10_loss"]
        log.info("int8 loses %.2f%% NDCG@10; shipping the fp32 graphs", 100 * loss)
        for name in ("encoder", "scorer"):
            (out / f"{name}.int8.onnx").unlink()
            shutil.copyfile(fp32_dir / f"{name}.fp32.onnx", out / f"{name}.fp32.onnx")
        config = RecommenderConfig.load(out)
        replace(
            config,
            encoder_file="encoder.fp32.onnx",
            scorer_file="scorer.fp32.onnx",
            quantization=f"none (fp32): dynamic int8 lost {loss:.2%} relative NDCG@10 (> 1%)",
            metrics=dict(metrics["fp32_onnx"]),
        ).save(out)
        metrics["shipped_graphs"] = "fp32"
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    write_weights(checkpoint, out)
    return metrics


# ----------------------------------------------------------------------------- library


@dataclass
class LibraryTrainResult:
    """What :func:`train_on_library` did."""

    model_dir: Path
    n_views: int
    n_items: int
    epochs: int
    final_loss: float


WEIGHTS_FILE = "weights.npz"
_NOT_WEIGHTS = ("content", "known")


def write_weights(checkpoint: Path, out: Path) -> Path:
    """Store a checkpoint's torch weights as ``weights.npz`` (numpy, no pickle) for fine-tuning.

    The ML-100K content buffer is left out (it is ``items.npz``'s ``content``), which keeps the
    file small; the metadata (mode, hyper-parameters, genre count, seed) is a JSON string.

    Args:
        checkpoint: Output of ``models.recsys.train.save_checkpoint``.
        out: The exported model directory.

    Returns:
        The file written.
    """
    model, ckpt = load_checkpoint(checkpoint)
    arrays = {
        k: v.detach().numpy().astype(np.float32)
        for k, v in model.state_dict().items()
        if k not in _NOT_WEIGHTS
    }
    meta = {
        "mode": ckpt["mode"],
        "hparams": ckpt["hparams"],
        "n_genres": ckpt["n_genres"],
        "seed": ckpt["seed"],
        "n_rows": int(model.content.shape[0]),
    }
    path = out / WEIGHTS_FILE
    np.savez_compressed(path, __meta__=np.asarray(json.dumps(meta)), **arrays)
    return path


def load_weights(model_dir: Path, n_items: int) -> tuple[Any, dict[str, Any]]:
    """Rebuild the torch model of an exported app model for a catalogue of ``n_items`` items.

    Every item is content-only: the id embedding shrinks to ``n_items + 1`` copies of the
    trained "unknown id" row, and the content buffer is zeros until the caller sets it.

    Args:
        model_dir: Directory with ``weights.npz``.
        n_items: Size of the new catalogue.

    Returns:
        The model (eval mode) and its metadata.

    Raises:
        core.errors.ModelError: The weights file is missing.
    """
    from core.errors import ModelError
    from models.recsys.model import build_model

    path = model_dir / WEIGHTS_FILE
    if not path.is_file():
        raise ModelError(
            f"{path} is missing: the app model's weights are needed to fine-tune it.",
            fix="Rebuild it with: python -m models.recsys.app_model ml100k",
        )
    with np.load(path, allow_pickle=False) as npz:
        meta = json.loads(str(npz["__meta__"]))
        state = {k: torch.from_numpy(npz[k]) for k in npz.files if k != "__meta__"}
    n_rows = int(meta["n_rows"])
    model = build_model(
        HParams.from_dict(meta["hparams"]),
        meta["mode"],
        torch.zeros(n_rows, CONTENT_DIM),
        torch.zeros(n_rows, dtype=torch.bool),
        int(meta["n_genres"]),
    )
    model.load_state_dict(state, strict=False)
    unknown = model.id_emb.weight[0].detach().clone()
    model.id_emb = torch.nn.Embedding(n_items + 1, unknown.shape[0])
    with torch.no_grad():
        model.id_emb.weight.copy_(unknown.expand(n_items + 1, -1))
    model.content = torch.zeros(n_items + 1, CONTENT_DIM)
    model.known = torch.zeros(n_items + 1, dtype=torch.bool)
    model.eval()
    return model, meta


def train_on_library(
    library_dir: Path,
    *,
    base: Path = APP_DIR,
    epochs: int = 30,
    seed: int = 0,
    min_views: int = 5,
    lr: float = 5e-4,
) -> LibraryTrainResult:
    """Fine-tune the app model on one library's event log and export it into the library.

    The log becomes one viewing sequence (``core.recommend.events.views``); every library item
    is represented by its MiniLM content vector through the model's content path (no id rows:
    one user's log is far too small to learn per-item ids). Each epoch is one full-batch step
    of next-item cross-entropy over the library's items plus the binary intents with the app's
    labels (``core.recommend.home.training_data``); the genre head keeps its ML-100K training (a
    library has no genre labels). The exported model goes to ``<library>/recsys-model``, which
    ``core.recommend.home`` prefers over the shipped one.

    Args:
        library_dir: The library directory.
        base: The exported app model to start from (needs its ``weights.npz``).
        epochs: Optimisation steps.
        seed: Seed of dropout.
        min_views: Fewest viewings worth training on.
        lr: Adam learning rate.

    Returns:
        Where the model went and what it was trained on.

    Raises:
        core.errors.UsageError: Too few viewings.
        core.errors.ModelError: The base model has no weights file.
    """
    from core.errors import UsageError
    from core.recommend import events as ev
    from core.recommend.home import training_data
    from core.store import Library

    with Library(library_dir) as lib:
        data = training_data(lib)
    views = data.views
    if len(views) < min_views:
        raise UsageError(
            f"The library has {len(views)} viewing(s) of its current items; training needs at "
            f"least {min_views}.",
            fix="Watch more (mediamind watch ID --seconds N), then train again.",
        )
    model, meta = load_weights(base, len(data.media_ids))
    model.content = torch.zeros(len(data.media_ids) + 1, CONTENT_DIM)
    model.content[1:] = torch.from_numpy(np.asarray(data.content, dtype=np.float32))
    row = {media_id: i + 1 for i, media_id in enumerate(data.media_ids)}
    torch.manual_seed(seed)
    model.train()
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    items = torch.as_tensor([row[v.media_id] for v in views])
    hour, weekday, gap = (torch.from_numpy(a) for a in ev.view_context(views))
    engagement = torch.as_tensor([v.engagement for v in views])
    binary = torch.from_numpy(data.labels)
    n = len(views) - 1
    loss_value = float("nan")
    for _ in range(epochs):
        table = model.item_table()
        h = model.encode(
            table[items[:-1]][None],
            hour=hour[:-1][None],
            weekday=weekday[:-1][None],
            gap=gap[:-1][None],
            engagement=engagement[:-1][None],
            mask=torch.ones(1, n),
        )[0]
        logits, _, b_logits = model.item_scores(h, table)
        loss = torch.nn.functional.cross_entropy(logits, items[1:])
        bce = torch.nn.functional.binary_cross_entropy_with_logits(b_logits, binary[1:])
        loss = loss + model.hp.binary_weight * bce
        opt.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        opt.step()
        loss_value = float(loss.detach())
    model.eval()
    out = Path(library_dir) / LIBRARY_MODEL_DIRNAME
    genre_names = list(RecommenderConfig.load(base).intents[0].values)
    _export_library_model(model, meta, [str(i) for i in data.media_ids], out, genre_names)
    log.info("fine-tuned on %d viewings of %d items; loss %.3f", len(views), n + 1, loss_value)
    return LibraryTrainResult(out, len(views), len(data.media_ids), epochs, loss_value)


def _export_library_model(
    model: Any, meta: dict[str, Any], ids: list[str], out: Path, genre_names: list[str]
) -> None:
    """Export the fine-tuned model (int8) next to the library, replacing an older one."""
    from models.recsys.export import (
        _config,
        _export_graphs,
        _quantize,
        _write_items,
    )

    tmp = Path(tempfile.mkdtemp(prefix=".recsys-model-", dir=out.parent))
    try:
        fp32 = tmp / "fp32"
        fp32.mkdir()
        enc32, sc32 = _export_graphs(model, fp32)
        _quantize(enc32, tmp / "encoder.int8.onnx")
        _quantize(sc32, tmp / "scorer.int8.onnx")
        _write_items(model, ids, tmp / "items.npz")
        shutil.rmtree(fp32)
        config = _config(
            model,
            meta | {"cold_items": []},
            genre_names=genre_names,
            enc="encoder.int8.onnx",
            sc="scorer.int8.onnx",
            quantization="onnxruntime dynamic int8 (QInt8 weights, per-channel; activations "
            "per call)",
        )
        config.save(tmp)
        _finish_export(tmp, "fm-intent-minilm-library")
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    p = sub.add_parser("ml100k", help="train on ML-100K and export to core/data/recsys/shipped-app")
    p.add_argument("--data", type=Path, default=None, help="ml-100k directory")
    p.add_argument("--out", type=Path, default=APP_DIR)
    p.add_argument("--build", type=Path, default=DEFAULT_BUILD)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--epochs", type=int, default=50)
    p.add_argument("--patience", type=int, default=10)
    p.add_argument(
        "--with-ids",
        action="store_true",
        help="give items with training events a trained id row (the ML-100K setting)",
    )
    p = sub.add_parser("library", help="fine-tune on a library's event log")
    p.add_argument("--library", type=Path, required=True)
    p.add_argument("--epochs", type=int, default=30)
    p = sub.add_parser("export", help="export a checkpoint to core/data/recsys/shipped-app")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_BUILD / "hier-seed0.pt")
    p.add_argument("--out", type=Path, default=APP_DIR)
    p.add_argument("--build", type=Path, default=DEFAULT_BUILD)
    p.add_argument("--data", type=Path, default=None, help="ml-100k directory")
    p = sub.add_parser("content-only", help="test metrics with every item content-only")
    p.add_argument("--model", type=Path, default=APP_DIR)
    p.add_argument("--data", type=Path, default=None, help="ml-100k directory")
    p = sub.add_parser("weights", help="write weights.npz of a checkpoint into a model dir")
    p.add_argument("--checkpoint", type=Path, default=DEFAULT_BUILD / "hier-seed0.pt")
    p.add_argument("--out", type=Path, default=APP_DIR)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (shared machine)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    if args.what == "ml100k":
        metrics = train_ml100k(
            args.data,
            args.out,
            args.build,
            seed=args.seed,
            epochs=args.epochs,
            patience=args.patience,
            content_only=not args.with_ids,
        )
        print(json.dumps(metrics, indent=2))
        return 0 if metrics["int8_within_1pct"] else 1
    if args.what == "export":
        print(json.dumps(export_app(args.checkpoint, args.out, args.build, args.data), indent=2))
        return 0
    if args.what == "content-only":
        print(json.dumps(content_only_metrics(args.model, args.data), indent=2))
        return 0
    if args.what == "weights":
        print(write_weights(args.checkpoint, args.out))
        return 0
    result = train_on_library(args.library, epochs=args.epochs)
    print(json.dumps({k: str(v) for k, v in result.__dict__.items()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["APP_DIR", "TrainResult", "item_text", "minilm_content", "train_on_library"]
