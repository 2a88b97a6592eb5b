"""How much each candidate fits the user now: a linear score over a few features of the request.

The recommender's item head was trained on films (ML-100K) and carries little of a library
user's history (docs/recsys.md): on a 14-story library it put 67% of its next-item mass on one
business story whatever was watched. Home therefore ranks with a score learned on simulated
users and libraries (``python -m bench.home --tune``; the weights below are its output, chosen
on the tuning seeds only and reported on the others):

``score = Σ_f WEIGHTS[f] x feature_f``, per candidate, with the features

* ``model``: the item head's logit plus :data:`AFFINITY_WEIGHT` x content affinity (the
  model's own ranking, as before), standardised over the candidates;
* ``topic``: the share of the item's topic among the recently *finished* viewings (each older
  one :data:`AFFINITY_DECAY` times less; with nothing finished, every viewing by engagement);
* ``daypart``: the same share over the finished viewings at this part of the day (local time);
* ``near``: the item's highest content cosine to the last :data:`ANCHORS` finished items;
* ``length``: the share of finished viewings as quick (or as long) as the item.

A topic counts only as what the item's topic says (a reviewed tag, else a confident
prediction, else the content's nearest topic: :mod:`core.recommend.home.items`), so a
mis-tagged story still ranks by its content through ``model``'s affinity term (``near`` got
weight 0 in tuning). Two row priors (``row_more_like``, ``row_discover``) scale the strength of
"More like what you finished" and "Something new"; they were tuned with the weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.recommend import events as ev

# Ranking score of the model = item head + AFFINITY_WEIGHT x content affinity (cosine of the
# item to the engagement- and recency-weighted mean of the last AFFINITY_HISTORY viewings, each
# older one weighted AFFINITY_DECAY times less). The weight was chosen on ML-100K *validation*
# with every item content-only (python -m models.recsys.app_model content-only).
AFFINITY_WEIGHT = 4.0
AFFINITY_HISTORY = 20
AFFINITY_DECAY = 0.8
# Anchors of "near" and of "More like what you finished": the last finished items.
ANCHORS = 5
FEATURES = ("model", "topic", "daypart", "near", "length")
# Chosen by ``python -m bench.home --tune`` on the tuning seeds (docs/recsys.md, "Home").
WEIGHTS: Mapping[str, float] = {
    "model": 2.0,
    "topic": 4.0,
    "daypart": 8.0,
    "near": 0.0,
    "length": 1.0,
    # Row priors: a row's strength is multiplied by these (rows.RowBuilder).
    "row_more_like": 0.5,
    "row_discover": 0.5,
}
# Row strength = row prior x P(intent) ** INTENT_EXPONENT x the score-softmax mass of the row's
# first VISIBLE_TILES items (bench/home.py chooses the exponent and the priors with the weights).
INTENT_EXPONENT = 1.0
VISIBLE_TILES = 3

DAYPARTS = ((5, "morning"), (12, "afternoon"), (17, "evening"), (22, "night"))


def daypart(moment: datetime) -> str:
    """``morning`` (5-12 h), ``afternoon`` (12-17), ``evening`` (17-22) or ``night``."""
    name = "night"
    for start, label in DAYPARTS:
        if moment.hour >= start:
            name = label
    return name


def local_time(ts: int, tz: tzinfo | None) -> datetime:
    """Unix seconds as local time (``tz``, else the system's)."""
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.astimezone(tz) if tz is not None else moment.astimezone()


def content_affinity(
    content: NDArray[Any],
    history_rows: Sequence[int] | NDArray[np.integer[Any]],
    engagement: Sequence[float] | NDArray[Any],
) -> NDArray[np.float64]:
    """Cosine of every item to the user's recent taste in content space.

    Taste = the mean of the last :data:`AFFINITY_HISTORY` viewed items' unit content vectors,
    weighted by engagement / 5 and by :data:`AFFINITY_DECAY` per step back in time.

    Args:
        content: ``[n, dim]`` unit content vectors of the candidates and history items.
        history_rows: Rows of the viewed items, oldest first.
        engagement: Engagement bucket (1..5) of each viewing.

    Returns:
        ``[n]`` affinities (0 with no history).
    """
    vectors = np.asarray(content)
    rows = np.asarray(history_rows, dtype=np.int64)[-AFFINITY_HISTORY:]
    if rows.size == 0:
        return np.zeros(vectors.shape[0], dtype=np.float64)
    eng = np.asarray(engagement, dtype=np.float64)[-AFFINITY_HISTORY:]
    weights = (eng / 5.0) * AFFINITY_DECAY ** np.arange(rows.size)[::-1]
    weights /= max(float(weights.sum()), 1e-12)
    taste = weights @ vectors[rows].astype(np.float64)
    return np.asarray(vectors @ taste.astype(vectors.dtype), dtype=np.float64)


def softmax(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Softmax of a 1-d array (empty stays empty)."""
    if x.size == 0:
        return x
    e = np.exp(x - x.max())
    return np.asarray(e / e.sum(), dtype=np.float64)


@dataclass(frozen=True)
class Viewing:
    """One viewing as the ranking sees it: item row, time, finished, engagement."""

    row: int
    ts: int
    finished: bool
    engagement: int


def recent_shares(
    viewings: Sequence[Viewing], keys: NDArray[np.int64], n_keys: int
) -> NDArray[np.float64]:
    """Decayed shares of ``keys[row]`` over the recent finished viewings (sum 1, or all 0).

    The last :data:`AFFINITY_HISTORY` viewings, each older one :data:`AFFINITY_DECAY` times
    less; only finished ones count when there are any (an unfinished item is what "Continue"
    offers), else every viewing weighted by engagement / 5.
    """
    recent = viewings[-AFFINITY_HISTORY:]
    share = np.zeros(n_keys, dtype=np.float64)
    any_finished = any(v.finished for v in recent)
    for age, v in enumerate(reversed(recent)):
        if any_finished and not v.finished:
            continue
        weight = AFFINITY_DECAY**age * (1.0 if any_finished else v.engagement / 5.0)
        share[keys[v.row]] += weight
    total = share.sum()
    return share / total if total > 0 else share


def features(
    *,
    topic_codes: NDArray[np.int64],
    n_topics: int,
    quick: NDArray[np.bool_],
    model_scores: NDArray[np.float64],
    candidates: NDArray[np.int64],
    viewings: Sequence[Viewing],
    viewing_parts: Sequence[str],
    anchor_sims: NDArray[np.float32],
    now_part: str,
) -> dict[str, NDArray[np.float64]]:
    """The ranking features of the candidates (see the module docstring), each ``[n_cand]``.

    Args:
        topic_codes: ``[n]`` topic code of every item.
        n_topics: Number of topic codes.
        quick: ``[n]`` quick items.
        model_scores: ``[n]`` the model's scores.
        candidates: Rows of the candidates.
        viewings: The viewings, oldest first.
        viewing_parts: The part of the day of each viewing (local time).
        anchor_sims: ``[n, n_anchors]`` content cosine of every item to the anchors.
        now_part: The request's part of the day.

    Returns:
        Feature name -> values.
    """
    model = model_scores[candidates]
    spread = float(model.std()) if model.size > 1 else 0.0
    model = (model - model.mean()) / spread if spread > 0 else np.zeros_like(model)
    codes = topic_codes[candidates]
    topic = recent_shares(viewings, topic_codes, n_topics)[codes]
    same_part = [v for v, p in zip(viewings, viewing_parts, strict=True) if p == now_part]
    part = recent_shares(same_part, topic_codes, n_topics)[codes]
    if anchor_sims.shape[1]:
        near = anchor_sims[candidates].max(axis=1).astype(np.float64)
    else:
        near = np.zeros(candidates.size, dtype=np.float64)
    lengths = recent_shares(viewings, quick.astype(np.int64), 2)
    length = lengths[quick[candidates].astype(np.int64)]
    return {"model": model, "topic": topic, "daypart": part, "near": near, "length": length}


def combine(
    feats: Mapping[str, NDArray[np.float64]], weights: Mapping[str, float] = WEIGHTS
) -> NDArray[np.float64]:
    """``Σ weights[f] x feats[f]`` over :data:`FEATURES`."""
    out = np.zeros_like(next(iter(feats.values())))
    for name in FEATURES:
        w = float(weights.get(name, 0.0))
        if w:
            out += w * feats[name]
    return out


def viewings_of(
    views: Sequence[ev.View], index: Mapping[int, int], finished: set[int]
) -> list[Viewing]:
    """The log's viewings of table items; a viewing counts as finished when its item is."""
    return [
        Viewing(index[v.media_id], v.ts, v.completed or v.media_id in finished, v.engagement)
        for v in views
        if v.media_id in index
    ]
