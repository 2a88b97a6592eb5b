"""Do the intent heads know anything the item head does not? ``python -m models.recsys.factorize``.

The most direct way an intent prediction can condition the next item is a factorisation:
``score(j) = item_head(j) + sum_i w_i * log P(intent_i = label_i(j))``, where ``label_i(j)`` is
what item ``j`` would make intent ``i`` (its genres; deep or quick; whether it shares a genre
with the latest history item; whether it is at most ``NEW_MAX_AGE_YEARS`` old at the request's
year). The weights are chosen on validation NDCG@10 from a grid (all zero included), then test
is read once. All-zero weights mean the item head's scores already carry what the intent heads
predict. Run on trained checkpoints (``models.recsys.evaluate --checkpoints DIR``).
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from models.recsys.data import (
    DEEP_GENRES,
    NEW_MAX_AGE_YEARS,
    EvalCase,
    Split,
    build_split,
    load_events,
    ranking_metrics,
    resolve_data_dir,
    target_ranks,
    utc_year,
)

GRID = (0.0, 0.25, 0.5, 1.0, 2.0)
EPS = 1e-6
F32 = NDArray[np.float32]


def intent_log_likelihoods(
    split: Split, cases: Sequence[EvalCase], request_ts: NDArray[np.int64], g: F32, b: F32
) -> list[F32]:
    """Per intent, ``log P(intent = label(j))`` for every case and item ``[n, n_items + 1]``.

    Args:
        split: The split (its catalogue gives genres and release years).
        cases: Evaluation cases.
        request_ts: Time of each case's held-out event (the request time).
        g: Predicted genre probabilities ``[n, 19]``.
        b: Predicted binary intent probabilities ``[n, 3]`` (quick_deep, continue, new).

    Returns:
        Genre, deep, continue and new log-likelihood matrices.
    """
    cat = split.catalogue
    genres = cat.genres.astype(np.float32)
    share = genres / np.maximum(genres.sum(axis=1, keepdims=True), 1.0)
    deep: NDArray[np.bool_] = np.asarray(
        genres[:, [cat.genre_names.index(x) for x in DEEP_GENRES]].any(axis=1), dtype=bool
    )
    last = np.asarray([c.inputs.items[-1] for c in cases])
    cont = (genres[None, :, 1:] * genres[last][:, None, 1:]).sum(axis=-1) > 0
    age = utc_year(request_ts)[:, None] - cat.years[None, :]
    new = (cat.years[None, :] > 0) & (age <= NEW_MAX_AGE_YEARS)

    def binary(label: NDArray[np.bool_], p: F32) -> F32:
        out = np.where(label, np.log(p + EPS), np.log(1.0 - p + EPS))
        return np.asarray(out, dtype=np.float32)

    genre_ll = np.asarray(np.log(g + EPS) @ share.T, dtype=np.float32)
    return [
        genre_ll,
        binary(np.broadcast_to(deep[None, :], genre_ll.shape), b[:, 0:1]),
        binary(cont, b[:, 1:2]),
        binary(new, b[:, 2:3]),
    ]


Part = tuple[list[EvalCase], F32, list[F32]]


def _ndcg(part: Part, weights: tuple[float, ...]) -> float:
    """NDCG@10 of the item head plus the weighted intent log-likelihoods."""
    cases, scores, lls = part
    total = scores + sum(w * ll for w, ll in zip(weights, lls, strict=True))
    return ranking_metrics(target_ranks(total, cases))["ndcg@10"]


def main(argv: Sequence[str] | None = None) -> int:
    """Print, per checkpoint, the validation-chosen weights and the test NDCG@10 change."""
    import torch

    from models.recsys.train import load_checkpoint, predict

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("checkpoints", type=Path, nargs="+", help="trained .pt files")
    parser.add_argument("--data", type=Path, default=None, help="ml-100k directory")
    parser.add_argument("--split-seed", type=int, default=0, help="as in evaluate (seeds[0])")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data_dir = resolve_data_dir(args.data)
    events = load_events(data_dir)
    for path in args.checkpoints:
        model, _ = load_checkpoint(path)
        split = build_split(data_dir, seed=args.split_seed)
        parts: dict[str, Part] = {}
        for name, held_out, back in (("val", split.val, -2), ("test", split.test, -1)):
            cases = list(held_out)
            scores, g, b = predict(model, cases)
            when = np.asarray([events[c.user].ts[back] for c in cases], dtype=np.int64)
            parts[name] = (cases, scores, intent_log_likelihoods(split, cases, when, g, b))
        val, test = parts["val"], parts["test"]
        zero = (0.0,) * 4
        best = max(itertools.product(GRID, repeat=4), key=lambda w: (_ndcg(val, w), -sum(w)))
        base, tuned = _ndcg(test, zero), _ndcg(test, best)
        print(
            f"{path.name}: weights (genre, deep, continue, new) = {best}; "
            f"val NDCG@10 {_ndcg(val, zero):.4f} -> {_ndcg(val, best):.4f}; "
            f"test {base:.4f} -> {tuned:.4f} ({tuned / base - 1:+.1%})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
