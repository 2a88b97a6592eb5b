"""Train the hierarchical intent recommender (or a transformer peer) on ML-100K.

``python -m models.recsys.train [--data DIR] [--out DIR] [--epochs N] [--seed S] [--threads T]``
writes ``<out>/<mode>-seed<S>.pt`` (not committed) and prints validation and test metrics.
Early stopping watches validation NDCG@10 only; test is measured once, at the end.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from models.recsys.data import (
    EvalCase,
    Features,
    Split,
    TrainWindow,
    build_split,
    intent_metrics,
    ranking_metrics,
    target_ranks,
)
from models.recsys.model import MODES, HParams, IntentRecModel, Mode, build_model

DEFAULT_OUT = Path("build") / "recsys"


def _pad_features(feats: Sequence[Features]) -> dict[str, torch.Tensor]:
    """Left-pad a batch of sequences (the latest event is always the last column)."""
    n = max(len(f.items) for f in feats)
    out = {k: np.zeros((len(feats), n), dtype=np.int64) for k in ("items", "hour", "weekday")}
    out |= {k: np.zeros((len(feats), n), dtype=np.int64) for k in ("gap", "engagement")}
    mask = np.zeros((len(feats), n), dtype=np.float32)
    for r, f in enumerate(feats):
        m = len(f.items)
        for key in ("items", "hour", "weekday", "gap", "engagement"):
            out[key][r, n - m :] = getattr(f, key)
        mask[r, n - m :] = 1.0
    tensors = {k: torch.from_numpy(v) for k, v in out.items()}
    tensors["mask"] = torch.from_numpy(mask)
    return tensors


def _collate_windows(windows: Sequence[TrainWindow]) -> dict[str, torch.Tensor]:
    batch = _pad_features([w.inputs for w in windows])
    b, n = batch["items"].shape
    targets = np.zeros((b, n), dtype=np.int64)
    request = np.zeros((b, n, 3), dtype=np.int64)
    genre = np.zeros((b, n, windows[0].genre.shape[1]), dtype=np.float32)
    binary = np.zeros((b, n, windows[0].binary.shape[1]), dtype=np.float32)
    for r, w in enumerate(windows):
        m = len(w.targets)
        targets[r, n - m :] = w.targets
        genre[r, n - m :] = w.genre
        binary[r, n - m :] = w.binary
        request[r, n - m :] = w.request
    batch["targets"] = torch.from_numpy(targets)
    batch["genre"] = torch.from_numpy(genre)
    batch["binary"] = torch.from_numpy(binary)
    batch["request"] = torch.from_numpy(request)
    return batch


def _encode_batch(
    model: IntentRecModel, batch: dict[str, torch.Tensor], table: torch.Tensor
) -> torch.Tensor:
    return model.encode(
        table[batch["items"]],
        hour=batch["hour"],
        weekday=batch["weekday"],
        gap=batch["gap"],
        engagement=batch["engagement"],
        mask=batch["mask"],
    )


def loss_on_batch(
    model: IntentRecModel, batch: dict[str, torch.Tensor], generator: torch.Generator
) -> tuple[torch.Tensor, dict[str, float]]:
    """Full-softmax next-item CE plus the weighted intent BCE losses of one batch.

    In ``hier`` mode a share ``hp.teacher_forcing`` of the positions builds its intent
    embedding from the true labels of the next event (scheduled sampling).

    Args:
        model: The model (in train mode).
        batch: Output of the window collator.
        generator: RNG for the id dropout and teacher forcing.

    Returns:
        The loss and its parts.
    """
    hp = model.hp
    n_rows = model.known.shape[0]
    drop = torch.rand(n_rows, generator=generator) < hp.id_dropout
    table = model.item_table(drop)
    h = _encode_batch(model, batch, table)
    valid = batch["targets"] > 0
    hv = h[valid]
    teacher = torch.cat([batch["genre"][valid], batch["binary"][valid]], dim=-1)
    use_teacher = torch.rand(hv.shape[0], generator=generator) < hp.teacher_forcing
    logits, g_logits, b_logits = model.item_scores(
        hv, table, teacher=teacher, use_teacher=use_teacher, request=batch["request"][valid]
    )
    ce = torch.nn.functional.cross_entropy(logits, batch["targets"][valid])
    parts = {"ce": float(ce.detach())}
    loss = ce
    if model.mode != "sasrec":
        bce = torch.nn.functional.binary_cross_entropy_with_logits
        lg = bce(g_logits, batch["genre"][valid])
        lb = bce(b_logits, batch["binary"][valid])
        loss = loss + hp.genre_weight * lg + hp.binary_weight * lb
        parts |= {"genre": float(lg.detach()), "binary": float(lb.detach())}
    return loss, parts


# Cold-item calibration (see choose_cold_offset).
COLD_OFFSET_GRID = tuple(0.25 * k for k in range(17))
# Largest offset whose validation NDCG@10 (all users) is within this share of the best one.
COLD_TOLERANCE = 0.01


@torch.no_grad()
def predict(
    model: IntentRecModel,
    cases: Sequence[EvalCase],
    batch_size: int = 128,
    *,
    cold_offset: float | None = None,
) -> tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]:
    """Scores of all items and intent probabilities after each case's history.

    Items without a trained id row are scored through the content path alone and get
    ``cold_offset`` added to their score.

    Args:
        model: The model.
        cases: Held-out events.
        batch_size: Cases per forward pass.
        cold_offset: Score offset of content-only items; ``model.cold_offset`` when None.

    Returns:
        ``(scores [n, n_items + 1], genre_probs [n, 19], binary_probs [n, 3])``.
    """
    was_training = model.training
    model.eval()
    table = model.item_table()
    unknown = ~model.known
    unknown[0] = False
    offset = model.cold_offset if cold_offset is None else cold_offset
    bias = unknown.float() * float(offset)
    scores, genres, binaries = [], [], []
    for start in range(0, len(cases), batch_size):
        chunk = cases[start : start + batch_size]
        batch = _pad_features([c.inputs for c in chunk])
        h = _encode_batch(model, batch, table)[:, -1]
        request = torch.from_numpy(np.stack([c.request for c in chunk]))
        logits, g, b = model.item_scores(h, table, request=request)
        scores.append((logits + bias).numpy())
        genres.append(torch.sigmoid(g).numpy())
        binaries.append(torch.sigmoid(b).numpy())
    model.train(was_training)
    return np.concatenate(scores), np.concatenate(genres), np.concatenate(binaries)


def choose_cold_offset(
    model: IntentRecModel,
    split: Split,
    grid: Sequence[float] = COLD_OFFSET_GRID,
    tolerance: float = COLD_TOLERANCE,
) -> tuple[float, dict[str, dict[str, float]]]:
    """Pick the score offset of content-only items on validation.

    Content-only items (no trained id row) compete with items whose id rows also carry their
    popularity; the offset is the prior that puts them back on one scale. Validation's targets
    include the validation-cold items (as cold as the test ones: no training events), so the
    test protocol is replayed on validation. The rule: the *largest* offset of ``grid`` whose
    NDCG@10 over all validation users is within ``tolerance`` (relative) of the best offset's,
    i.e. give up at most 1% of overall accuracy for the cold items (the best offset alone is
    often 0: a few cold hits barely move the average over all users). Test is not read.

    Args:
        model: A trained model.
        split: The split.
        grid: Candidate offsets.
        tolerance: Largest relative loss of overall validation NDCG@10 accepted.

    Returns:
        The chosen offset and, per offset, validation NDCG@10 over all users and over the
        cold-target ones.
    """
    cases = list(split.val)
    raw, _, _ = predict(model, cases, cold_offset=0.0)
    unknown = ~model.known.numpy()
    unknown[0] = False
    cold = np.asarray([c.cold for c in cases], dtype=bool)
    table: dict[str, dict[str, float]] = {}
    for offset in grid:
        ranks = target_ranks(raw + offset * unknown, cases)
        table[str(offset)] = {
            "ndcg@10": ranking_metrics(ranks)["ndcg@10"],
            "cold_ndcg@10": ranking_metrics(ranks[cold])["ndcg@10"],
        }
    best = max(v["ndcg@10"] for v in table.values())
    chosen = max(o for o in grid if table[str(o)]["ndcg@10"] >= (1.0 - tolerance) * best)
    return float(chosen), table


def evaluate_model(
    model: IntentRecModel, cases: Sequence[EvalCase], *, intents: bool = True
) -> dict[str, float]:
    """NDCG@10 / HR@10 (all cases and the cold-start ones) and intent metrics."""
    cases = list(cases)
    scores, g, b = predict(model, cases)
    ranks = target_ranks(scores, cases)
    out = ranking_metrics(ranks)
    cold = np.asarray([c.cold for c in cases], dtype=bool)
    if cold.any():
        out |= {f"cold_{k}": v for k, v in ranking_metrics(ranks[cold]).items()}
    if intents and model.mode != "sasrec":
        out |= intent_metrics(cases, g, b)
    return out


@dataclass
class TrainResult:
    """A trained model and how it got there."""

    model: IntentRecModel
    best_epoch: int
    val: dict[str, float]
    seconds: float
    history: list[dict[str, float]] = field(default_factory=list)


def _batches(windows: list[TrainWindow], batch_size: int, rng: np.random.Generator) -> list[Any]:
    # Length-bucketed batches (sorted with jitter, then shuffled) keep padding small.
    lengths = np.asarray([len(w.targets) for w in windows], dtype=np.float64)
    order = np.argsort(lengths + rng.uniform(0, 8, size=len(lengths)), kind="stable")
    groups = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(groups)
    return [[windows[i] for i in g] for g in groups]


def _cosine(step: int, total: int, hp: HParams) -> float:
    if not hp.cosine_decay:
        return 1.0
    frac = min(1.0, step / max(1, total))
    return hp.lr_floor + (1.0 - hp.lr_floor) * 0.5 * (1.0 + math.cos(math.pi * frac))


def train_model(
    split: Split,
    *,
    mode: Mode = "hier",
    hp: HParams | None = None,
    seed: int = 0,
    epochs: int = 50,
    patience: int = 10,
    eval_every: int = 2,
    report: Callable[[str], None] | None = None,
) -> TrainResult:
    """Train one model with early stopping on validation NDCG@10.

    Args:
        split: The data split.
        mode: Which model (``sasrec``, ``aux`` or ``hier``).
        hp: Hyper-parameters; defaults when None.
        seed: Seed of initialisation, batching and dropout.
        epochs: Maximum epochs.
        patience: Stop after this many epochs without a better validation NDCG@10.
        eval_every: Validate every this many epochs.
        report: Called with one progress line per validation.

    Returns:
        The best model (by validation NDCG@10) and its record.
    """
    hp = hp or HParams(max_len=split.max_len)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    model = build_model(
        hp,
        mode,
        torch.from_numpy(split.catalogue.content),
        torch.from_numpy(split.known),
        len(split.catalogue.genre_names),
    )
    opt = torch.optim.Adam(model.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
    # Cosine decay over the epoch budget (to lr_floor x lr): late epochs move the weights
    # little, so the validation-selected checkpoint is not an accident of one noisy step.
    schedule = torch.optim.lr_scheduler.LambdaLR(
        opt,
        lambda step: _cosine(
            step, epochs * max(1, math.ceil(len(split.windows) / hp.batch_size)), hp
        ),
    )
    best, best_epoch, best_state = -1.0, 0, None
    history: list[dict[str, float]] = []
    t0 = time.perf_counter()
    for epoch in range(1, epochs + 1):
        model.train()
        totals: dict[str, float] = {}
        batches = _batches(split.windows, hp.batch_size, rng)
        for windows in batches:
            loss, parts = loss_on_batch(model, _collate_windows(windows), generator)
            opt.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
            schedule.step()
            for k, v in parts.items():
                totals[k] = totals.get(k, 0.0) + v / len(batches)
        if epoch % eval_every and epoch != epochs:
            continue
        val = evaluate_model(model, split.val, intents=False)
        history.append({"epoch": epoch, **totals, **val})
        if report:
            parts_text = " ".join(f"{k}={v:.3f}" for k, v in totals.items())
            report(
                f"[{mode} seed={seed}] epoch {epoch} {parts_text} val ndcg@10={val['ndcg@10']:.4f} "
                f"({time.perf_counter() - t0:.0f}s)"
            )
        if val["ndcg@10"] > best:
            best, best_epoch = val["ndcg@10"], epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        elif epoch - best_epoch >= patience:
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    val = evaluate_model(model, split.val)
    return TrainResult(model, best_epoch, val, time.perf_counter() - t0, history)


def save_checkpoint(path: Path, result: TrainResult, split: Split, seed: int) -> None:
    """Write everything export needs to rebuild the model."""
    model = result.model
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "mode": model.mode,
            "hparams": asdict(model.hp),
            "state_dict": model.state_dict(),
            "n_genres": model.n_genres,
            "seed": seed,
            "raw_ids": split.catalogue.raw_ids,
            "cold_items": [split.catalogue.raw_ids[i - 1] for i in split.cold_items.tolist()],
            "best_epoch": result.best_epoch,
            "val": result.val,
            "seconds": result.seconds,
            "cold_offset": float(model.cold_offset),
            "history": result.history,
        },
        path,
    )


def load_checkpoint(path: Path) -> tuple[IntentRecModel, dict[str, Any]]:
    """Rebuild a model from :func:`save_checkpoint` output.

    Args:
        path: The checkpoint.

    Returns:
        The model (eval mode) and the checkpoint's metadata.
    """
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    state = ckpt["state_dict"]
    model = build_model(
        HParams.from_dict(ckpt["hparams"]),
        ckpt["mode"],
        state["content"],
        state["known"],
        ckpt["n_genres"],
    )
    model.load_state_dict(state)
    model.cold_offset = float(ckpt.get("cold_offset", 0.0))
    model.eval()
    return model, ckpt


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="ml-100k directory")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="checkpoint directory")
    parser.add_argument("--epochs", type=int, default=24)
    parser.add_argument("--patience", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (shared machine)")
    parser.add_argument("--mode", choices=MODES, default="hier")
    parser.add_argument(
        "--request-context",
        action="store_true",
        help="read the request's hour, weekday and gap (through the intents in hier mode)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    split = build_split(args.data, seed=args.seed)
    result = train_model(
        split,
        mode=args.mode,
        hp=HParams(max_len=split.max_len, request_context=args.request_context),
        seed=args.seed,
        epochs=args.epochs,
        patience=args.patience,
        report=print,
    )
    offset, _ = choose_cold_offset(result.model, split)
    result.model.cold_offset = offset
    test = evaluate_model(result.model, split.test)
    suffix = "-ctx" if args.request_context else ""
    path = args.out / f"{args.mode}{suffix}-seed{args.seed}.pt"
    save_checkpoint(path, result, split, args.seed)
    print(
        json.dumps(
            {
                "checkpoint": str(path),
                "best_epoch": result.best_epoch,
                "cold_offset": offset,
                "val": result.val,
                "test": test,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
