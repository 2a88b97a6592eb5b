"""MovieLens 100K loading, content featurisation, leave-last-out split and intent labels.

numpy only (no torch), so ``evaluate --model shipped`` runs on the onnxruntime runtime alone.

Item indices: catalogue item ``i`` (1-based) is the ML-100K item id ``i``'s row; index 0 is
padding in sequences and never a target.

Intent labels of a *next* event (item ``j`` rated at time ``t``, after a history whose most recent
item is ``h``); these are the definitions recorded in the exported config:

* ``genre``: the 19 ML-100K genre flags of ``j`` (multi-label).
* ``quick_deep``: 1 ("deep") when ``j`` has any of the genres Drama, War, Documentary, Film-Noir,
  else 0 ("quick"). ML-100K has no durations; these genres are the weighty, typically long
  films, so they stand in for the app's definition (deep = duration >= 40 min).
* ``continue``: 1 ("continue") when ``j`` shares at least one genre (ignoring "unknown") with
  the last ``CONTINUE_K`` history items, else 0 ("discover").
* ``new``: 1 ("new") when ``year(t) - release_year(j) <= NEW_MAX_AGE_YEARS`` (UTC year of the
  rating), else 0 ("catalogue"); an item without a release year counts as catalogue.
"""

from __future__ import annotations

import os
import re
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from core.recommend.scorer import event_context

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]

DATA_ENV = "MEDIAMIND_SHARED_DATA"
DATASET_DIRNAME = "ml-100k"

CONTINUE_K = 1
NEW_MAX_AGE_YEARS = 2
DEEP_GENRES = ("Drama", "War", "Documentary", "Film-Noir")
BINARY_INTENTS = ("quick_deep", "continue", "new")

# Engagement: ML-100K rating 1..5 is the bucket; 0 = unknown / padding.
N_ENGAGEMENT_BUCKETS = 6

# Content featurisation: genre flags + release-year bucket + hashed title tokens = 128 dims
# (with ML-100K's 19 genres, 96 title bins).
YEAR_EDGES = (1940, 1950, 1960, 1970, 1980, 1985, 1990, 1993, 1995, 1996, 1997, 1998)
CONTENT_DIM = 128

SECONDS_PER_YEAR = 365.2425 * 86400.0


def default_data_dir() -> Path:
    """The ML-100K directory: ``$MEDIAMIND_SHARED_DATA/ml-100k`` or ``<repo>/../shared/data``.

    Returns:
        The path (it may not exist).
    """
    env = os.environ.get(DATA_ENV)
    root = Path(env) if env else Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
    return (root / DATASET_DIRNAME).resolve()


def resolve_data_dir(path: Path | None) -> Path:
    """Accept either the ``ml-100k`` directory or its parent.

    Args:
        path: A user-given directory, or None for :func:`default_data_dir`.

    Returns:
        The directory that holds ``u.data``.

    Raises:
        FileNotFoundError: ``u.data`` is not there.
    """
    if path is None:
        path = default_data_dir()
    for candidate in (path, path / DATASET_DIRNAME):
        if (candidate / "u.data").is_file():
            return candidate
    raise FileNotFoundError(
        f"MovieLens 100K not found at {path} (need u.data, u.item, u.genre); pass --data or set "
        f"{DATA_ENV}."
    )


@dataclass
class Catalogue:
    """Items of the dataset; arrays are indexed by item index (row 0 = padding, all zeros)."""

    raw_ids: list[str]
    titles: list[str]
    genre_names: list[str]
    years: I64
    genres: NDArray[np.bool_]
    content: F32

    @property
    def n_items(self) -> int:
        """Number of real items (indices ``1..n_items``)."""
        return len(self.raw_ids)


def _title_tokens(title: str) -> list[str]:
    title = re.sub(r"\(\d{4}\)\s*$", "", title).lower()
    return [t for t in re.split(r"[^a-z0-9]+", title) if len(t) > 1]


def content_features(titles: list[str], years: I64, genres: NDArray[np.bool_]) -> F32:
    """Deterministic 128-d content vectors (no model needed).

    Blocks, each L2-normalised so that no block dominates: 19 genre flags, a one-hot release-year
    bucket (all zero when unknown), and title tokens hashed (CRC32) into the remaining bins.

    Args:
        titles: One title per item.
        years: Release years (-1 when unknown).
        genres: ``[n, 19]`` genre flags.

    Returns:
        Float32 ``[n, CONTENT_DIM]``.
    """
    n = len(titles)
    n_hash = CONTENT_DIM - genres.shape[1] - (len(YEAR_EDGES) + 1)
    g = genres.astype(np.float32)
    g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1.0)
    y = np.zeros((n, len(YEAR_EDGES) + 1), dtype=np.float32)
    known = years > 0
    y[np.nonzero(known)[0], np.searchsorted(YEAR_EDGES, years[known], side="right")] = 1.0
    t = np.zeros((n, n_hash), dtype=np.float32)
    for i, title in enumerate(titles):
        for token in _title_tokens(title):
            t[i, zlib.crc32(token.encode("utf-8")) % n_hash] += 1.0
    t /= np.maximum(np.linalg.norm(t, axis=1, keepdims=True), 1.0)
    return np.concatenate([g, y, t], axis=1).astype(np.float32)


def load_catalogue(data_dir: Path) -> Catalogue:
    """Read ``u.item`` (latin-1) and ``u.genre``.

    Args:
        data_dir: The ``ml-100k`` directory.

    Returns:
        The catalogue, with content vectors.
    """
    genre_lines = (data_dir / "u.genre").read_text(encoding="latin-1").splitlines()
    genre_names = [line.split("|")[0] for line in genre_lines if line.strip()]
    raw_ids: list[str] = []
    titles: list[str] = []
    years: list[int] = []
    flags: list[list[bool]] = []
    for line in (data_dir / "u.item").read_text(encoding="latin-1").splitlines():
        if not line.strip():
            continue
        parts = line.split("|")
        raw_ids.append(parts[0])
        titles.append(parts[1])
        match = re.search(r"(\d{4})$", parts[2]) or re.search(r"\((\d{4})\)", parts[1])
        years.append(int(match.group(1)) if match else -1)
        flags.append([p == "1" for p in parts[5 : 5 + len(genre_names)]])
    order = np.argsort(np.asarray([int(r) for r in raw_ids]), kind="stable")
    if not np.array_equal(
        np.asarray([int(raw_ids[i]) for i in order]), np.arange(1, len(order) + 1)
    ):
        raise ValueError(f"{data_dir / 'u.item'}: item ids are not 1..n")
    n_genres = len(genre_names)
    genres = np.zeros((len(raw_ids) + 1, n_genres), dtype=bool)
    genres[1:] = np.asarray(flags, dtype=bool)
    year_arr = np.full(len(raw_ids) + 1, -1, dtype=np.int64)
    year_arr[1:] = years
    content = np.zeros((len(raw_ids) + 1, CONTENT_DIM), dtype=np.float32)
    content[1:] = content_features(titles, year_arr[1:], genres[1:])
    return Catalogue(raw_ids, titles, genre_names, year_arr, genres, content)


@dataclass
class Events:
    """One user's events, time-ordered (ties kept in the order of the lines of ``u.data``)."""

    items: I64
    ts: I64
    ratings: I64

    def __len__(self) -> int:
        return int(self.items.shape[0])

    def take(self, keep: NDArray[np.bool_] | slice) -> Events:
        """A sub-sequence."""
        return Events(self.items[keep], self.ts[keep], self.ratings[keep])


def load_events(data_dir: Path) -> dict[int, Events]:
    """Read ``u.data`` into per-user time-ordered events.

    Args:
        data_dir: The ``ml-100k`` directory.

    Returns:
        User id -> events.
    """
    raw = np.loadtxt(data_dir / "u.data", dtype=np.int64, ndmin=2)
    # 51% of ML-100K's events share their second with the previous one (ratings submitted as a
    # page). Ties keep the file's line order, which is unrelated to the items (a later item has
    # the higher id in 50.2% of tied pairs). Breaking ties by item id, as this did until
    # 2026-12-07, made "the next item has a higher id than the last" true for every
    # same-second target: 399 of 943 test events, a pattern a model can learn.
    line = np.arange(raw.shape[0])
    order = np.lexsort((line, raw[:, 3], raw[:, 0]))
    raw = raw[order]
    users, starts = np.unique(raw[:, 0], return_index=True)
    bounds = [*starts.tolist(), raw.shape[0]]
    return {
        int(u): Events(
            raw[bounds[k] : bounds[k + 1], 1].copy(),
            raw[bounds[k] : bounds[k + 1], 3].copy(),
            raw[bounds[k] : bounds[k + 1], 2].copy(),
        )
        for k, u in enumerate(users)
    }


def utc_year(ts: NDArray[np.int64]) -> I64:
    """Calendar year (UTC) of unix timestamps."""
    years = np.asarray(ts, dtype="datetime64[s]").astype("datetime64[Y]").astype(np.int64)
    return np.asarray(years + 1970, dtype=np.int64)


def intent_labels(
    cat: Catalogue, next_items: I64, next_ts: I64, last_items: I64
) -> tuple[F32, F32]:
    """Intent labels of next events (see the module docstring for the definitions).

    Args:
        cat: The catalogue.
        next_items: ``[n]`` item index of each next event.
        next_ts: ``[n]`` time of each next event.
        last_items: ``[n, CONTINUE_K]`` the most recent history items before each next event
            (0 = none).

    Returns:
        ``(genre [n, 19], binary [n, 3])`` float32 labels; binary columns follow
        ``BINARY_INTENTS``.
    """
    genre = cat.genres[next_items]
    deep_cols = [cat.genre_names.index(g) for g in DEEP_GENRES]
    deep = genre[:, deep_cols].any(axis=1)
    recent = np.asarray(
        cat.genres[np.asarray(last_items).reshape(len(next_items), -1)].any(axis=1), dtype=bool
    )
    cont = (genre[:, 1:] & recent[:, 1:]).any(axis=1)
    years = cat.years[next_items]
    new = (years > 0) & (utc_year(next_ts) - years <= NEW_MAX_AGE_YEARS)
    binary = np.stack([deep, cont, new], axis=1)
    return genre.astype(np.float32), binary.astype(np.float32)


@dataclass
class Features:
    """Model inputs of one sequence (oldest first), already cut to ``max_len``."""

    items: I64
    hour: I64
    weekday: I64
    gap: I64
    engagement: I64


def featurise(events: Events) -> Features:
    """Context features of a whole sequence (gaps measured inside it)."""
    hour, weekday, gap = event_context(events.ts)
    engagement = np.clip(events.ratings, 0, N_ENGAGEMENT_BUCKETS - 1).astype(np.int64)
    return Features(events.items.copy(), hour, weekday, gap, engagement)


def cut(features: Features, start: int, stop: int) -> Features:
    """Slice all inputs of a sequence."""
    s = slice(start, stop)
    return Features(
        features.items[s],
        features.hour[s],
        features.weekday[s],
        features.gap[s],
        features.engagement[s],
    )


@dataclass
class TrainWindow:
    """Inputs and per-position next-item targets and intent labels of one training window."""

    inputs: Features
    targets: I64
    genre: F32
    binary: F32
    # Per position: (hour, weekday, gap bucket) of the next event, i.e. of the request.
    request: I64


@dataclass
class EvalCase:
    """One held-out event: the history before it, the target and the items to filter."""

    user: int
    inputs: Features
    target: int
    genre: F32
    binary: F32
    seen: I64
    cold: bool
    # (hour, weekday, gap bucket since the latest history event) of the held-out event: the
    # context of the request the recommendation answers.
    request: I64 = field(default_factory=lambda: np.zeros(3, dtype=np.int64))


@dataclass
class Split:
    """Leave-last-out split of ML-100K with cold items (identical for every peer).

    ``cold_items`` holds every item whose events were removed from training (test-cold and
    validation-cold, see :func:`build_split`); ``val_cold_items`` the validation-cold ones.
    """

    catalogue: Catalogue
    train: dict[int, Events]
    windows: list[TrainWindow]
    val: list[EvalCase]
    test: list[EvalCase]
    cold_items: I64
    max_len: int
    known: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))
    val_cold_items: I64 = field(default_factory=lambda: np.zeros(0, dtype=np.int64))

    @property
    def n_items(self) -> int:
        """Number of real items."""
        return self.catalogue.n_items


def _windows(cat: Catalogue, events: Events, max_len: int) -> list[TrainWindow]:
    feats = featurise(events)
    n = len(events)
    if n < 2:
        return []
    genre, binary = intent_labels(
        cat, events.items[1:], events.ts[1:], _last_k(events.items, n)[1:]
    )
    request = np.stack([feats.hour, feats.weekday, feats.gap], axis=1)
    out = []
    # Non-overlapping windows from the end, so long histories are trained on in full.
    stop = n
    while stop >= 2:
        start = max(0, stop - max_len - 1)
        out.append(
            TrainWindow(
                cut(feats, start, stop - 1),
                events.items[start + 1 : stop].copy(),
                genre[start : stop - 1],
                binary[start : stop - 1],
                request[start + 1 : stop].copy(),
            )
        )
        stop = start + 1 if start > 0 else 0
    return out


def _last_k(items: I64, n: int) -> I64:
    """Row t: the CONTINUE_K items before position t (0-padded)."""
    out = np.zeros((n, CONTINUE_K), dtype=np.int64)
    for k in range(1, CONTINUE_K + 1):
        out[k:, k - 1] = items[: n - k]
    return out


def _case(  # noqa: PLR0917 (private helper, called from two places)
    cat: Catalogue, user: int, history: Events, target: Events, seen: I64, cold: bool, max_len: int
) -> EvalCase:
    last = np.zeros((1, CONTINUE_K), dtype=np.int64)
    recent = history.items[-CONTINUE_K:][::-1]
    last[0, : len(recent)] = recent
    genre, binary = intent_labels(cat, target.items, target.ts, last)
    # Featurised with the target appended: its row is the request's context, and a later event
    # does not change the history's own features.
    feats = featurise(_concat(history, target))
    n = len(history)
    return EvalCase(
        user,
        cut(feats, max(0, n - max_len), n),
        int(target.items[0]),
        genre[0],
        binary[0],
        seen,
        cold,
        np.asarray([feats.hour[n], feats.weekday[n], feats.gap[n]], dtype=np.int64),
    )


def build_split(
    data_dir: Path | None = None,
    *,
    seed: int = 0,
    cold_fraction: float = 0.1,
    max_len: int = 200,
) -> Split:
    """Leave-last-out split with cold items for test and for validation.

    Per user (events sorted by time): the last event is the test target, the second-last the
    validation target, the rest is training. Cold items, drawn with ``seed``:

    * *test-cold*: ``cold_fraction`` of the distinct test-target items;
    * *validation-cold*: ``cold_fraction`` of the distinct validation-target items that are not
      test-cold (so cold-item settings can be chosen on validation, with items as cold as the
      test ones).

    Every event of a cold item is removed from training (inputs included), so the models know
    it by content only. Validation keeps the users whose target is validation-cold (their cold
    group) and drops those whose target is test-cold; a test history includes the validation
    event unless its item is cold. A case is ``cold`` when its target is any cold item; seen-item
    filtering uses the user's full original history.

    Args:
        data_dir: ML-100K directory (or its parent); None for the default.
        seed: Seed of the cold-item draws.
        cold_fraction: Share of distinct test (and validation) target items made cold.
        max_len: Longest model input.

    Returns:
        The split (``cold_items`` = both sets, ``val_cold_items`` = the validation ones).
    """
    directory = resolve_data_dir(data_dir)
    cat = load_catalogue(directory)
    users = load_events(directory)
    test_items = np.unique([ev.items[-1] for ev in users.values()])
    rng = np.random.default_rng(seed)
    n_cold = round(cold_fraction * len(test_items))
    test_cold = np.sort(rng.choice(test_items, size=n_cold, replace=False)).astype(np.int64)
    val_items = np.unique([ev.items[-2] for ev in users.values() if len(ev) >= 2])
    val_items = val_items[~np.isin(val_items, test_cold)]
    n_val_cold = round(cold_fraction * len(val_items))
    val_cold = np.sort(rng.choice(val_items, size=n_val_cold, replace=False)).astype(np.int64)
    is_test_cold = np.zeros(cat.n_items + 1, dtype=bool)
    is_test_cold[test_cold] = True
    is_cold = is_test_cold.copy()
    is_cold[val_cold] = True

    train: dict[int, Events] = {}
    windows: list[TrainWindow] = []
    val: list[EvalCase] = []
    test: list[EvalCase] = []
    known = np.zeros(cat.n_items + 1, dtype=bool)
    for user, ev in users.items():
        n = len(ev)
        head = ev.take(slice(0, n - 2))
        tr = head.take(~is_cold[head.items])
        train[user] = tr
        known[tr.items] = True
        windows.extend(_windows(cat, tr, max_len))
        val_ev = ev.take(slice(n - 2, n - 1))
        test_ev = ev.take(slice(n - 1, n))
        val_item = int(val_ev.items[0])
        if len(tr) and not is_test_cold[val_item]:
            val.append(_case(cat, user, tr, val_ev, head.items, bool(is_cold[val_item]), max_len))
        hist = tr if is_cold[val_item] else _concat(tr, val_ev)
        if len(hist):
            cold_target = bool(is_cold[test_ev.items[0]])
            test.append(_case(cat, user, hist, test_ev, ev.items[: n - 1], cold_target, max_len))
    # Only items with training events get a trained id row; the rest go through the content path.
    known[0] = False
    cold = np.flatnonzero(is_cold).astype(np.int64)
    return Split(cat, train, windows, val, test, cold, max_len, known, val_cold)


def _concat(a: Events, b: Events) -> Events:
    return Events(
        np.concatenate([a.items, b.items]),
        np.concatenate([a.ts, b.ts]),
        np.concatenate([a.ratings, b.ratings]),
    )


# ----------------------------------------------------------------------------- metrics


def target_ranks(scores: NDArray[np.floating], cases: list[EvalCase]) -> I64:
    """0-based rank of each target among all unseen items (ties count against the target).

    Args:
        scores: ``[len(cases), n_items + 1]`` scores (column 0 = padding, ignored).
        cases: The evaluation cases, in row order.

    Returns:
        Int64 ranks.
    """
    s = np.array(scores, dtype=np.float64, copy=True)
    s[:, 0] = -np.inf
    ranks = np.empty(len(cases), dtype=np.int64)
    for r, case in enumerate(cases):
        row = s[r]
        target_score = row[case.target]
        row[case.seen] = -np.inf
        # Pessimistic ties: a model that scores many items equally (popularity on unseen items)
        # gets no credit for the tie.
        ranks[r] = int(np.count_nonzero(row >= target_score)) - 1
    return ranks


def ranking_metrics(ranks: I64, k: int = 10) -> dict[str, float]:
    """NDCG@k, HR@k and the median rank (1-based) from 0-based target ranks."""
    if ranks.size == 0:
        return {f"ndcg@{k}": float("nan"), f"hr@{k}": float("nan"), "n": 0.0}
    hit = ranks < k
    ndcg = np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0)
    return {
        f"ndcg@{k}": float(ndcg.mean()),
        f"hr@{k}": float(hit.mean()),
        "median_rank": float(np.median(ranks)) + 1.0,
        "n": float(ranks.size),
    }


def auc(labels: NDArray[np.floating], scores: NDArray[np.floating]) -> float:
    """ROC AUC (Mann-Whitney, ties averaged); NaN when only one class is present."""
    y = np.asarray(labels).ravel() > 0.5
    s = np.asarray(scores, dtype=np.float64).ravel()
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=np.float64)
    sorted_s = s[order]
    # Average ranks over ties.
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def intent_metrics(
    cases: list[EvalCase], genre_probs: NDArray[np.floating], binary_probs: NDArray[np.floating]
) -> dict[str, float]:
    """Per-intent accuracy / AUC on held-out events, with the majority-class accuracy.

    Genre: ``genre_top1`` = the most probable genre is one of the target's genres; ``genre_auc``
    = micro AUC over all (event, genre) pairs. Binary intents: accuracy at 0.5 and AUC.

    Args:
        cases: Held-out events.
        genre_probs: ``[n, 19]`` predicted genre probabilities.
        binary_probs: ``[n, 3]`` predicted probabilities, columns as ``BINARY_INTENTS``.

    Returns:
        Metric name -> value.
    """
    genre = np.stack([c.genre for c in cases])
    binary = np.stack([c.binary for c in cases])
    out: dict[str, float] = {}
    top = np.argmax(genre_probs, axis=1)
    out["genre_top1"] = float(genre[np.arange(len(cases)), top].mean())
    out["genre_top1_majority"] = float(genre[:, np.argmax(genre.sum(0))].mean())
    out["genre_auc"] = auc(genre, genre_probs)
    for j, name in enumerate(BINARY_INTENTS):
        y = binary[:, j]
        p = binary_probs[:, j]
        out[f"{name}_acc"] = float(((p > 0.5) == (y > 0.5)).mean())
        out[f"{name}_acc_majority"] = float(max(y.mean(), 1.0 - y.mean()))
        out[f"{name}_auc"] = auc(y, p)
    return out
