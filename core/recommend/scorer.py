"""onnxruntime runtime of the exported next-item recommender (no torch).

Two graphs: the *encoder* turns a user's event history into a state vector, the intent
probabilities and an intent embedding; the *scorer* turns (state, intent embedding) and a matrix
of item representations into one score per item. Item representations of the catalogue are
precomputed at export, so ranking the whole library is one small matmul; items without a trained
id (new media) get a representation from their content vector alone.

The context featurisation (:func:`event_context`) lives here so that training
(``models/recsys``) and the app compute hour, weekday and gap buckets with the same code.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.errors import ModelError, UsageError
from core.recommend.config import RecommenderConfig

log = logging.getLogger(__name__)

N_HOURS = 24
N_WEEKDAYS = 7
# Bucket 0 means "no previous event"; bucket b >= 1 holds gaps in [2**(b-1) - 1, 2**b - 1) seconds,
# capped so that everything from ~2 years up shares the last bucket.
MAX_GAP_LOG2 = 26
N_GAP_BUCKETS = MAX_GAP_LOG2 + 2

F32 = NDArray[np.float32]
I64 = NDArray[np.int64]


def gap_buckets(gaps_seconds: NDArray[Any]) -> I64:
    """Log2 buckets of the seconds since the previous event.

    Args:
        gaps_seconds: Gaps in seconds; negative values (clock skew) count as 0.

    Returns:
        Buckets in ``1 .. N_GAP_BUCKETS - 1`` (0 is reserved for "no previous event").
    """
    gaps = np.maximum(np.asarray(gaps_seconds, dtype=np.float64), 0.0)
    logs = np.floor(np.log2(gaps + 1.0)).astype(np.int64)
    return np.asarray(1 + np.minimum(logs, MAX_GAP_LOG2), dtype=np.int64)


def event_context(timestamps: NDArray[Any]) -> tuple[I64, I64, I64]:
    """Hour of day, day of week (Monday = 0) and gap bucket of a time-ordered event sequence.

    Times are read in UTC: the model was trained on UTC timestamps, and a fixed zone keeps a
    history's features identical wherever the app runs.

    Args:
        timestamps: Unix seconds, oldest first.

    Returns:
        ``(hour, weekday, gap)`` int64 arrays of the same length.
    """
    ts = np.asarray(timestamps, dtype=np.int64)
    hour = (ts // 3600) % 24
    # 1970-01-01 was a Thursday (weekday 3 with Monday = 0).
    weekday = (ts // 86400 + 3) % 7
    gap = np.zeros(ts.shape, dtype=np.int64)
    if ts.size > 1:
        gap[1:] = gap_buckets(np.diff(ts))
    return hour.astype(np.int64), weekday.astype(np.int64), gap


@dataclass(frozen=True)
class HistoryEvent:
    """One past event of the user.

    Attributes:
        timestamp: Unix seconds (UTC).
        engagement: Engagement bucket (see ``RecommenderConfig.engagement_definition``); 0 when
            unknown.
        item_id: Catalogue id of the item, if it is in the exported item table.
        content: Content vector of the item, used when the id is not in the item table.
    """

    timestamp: int
    engagement: int
    item_id: str | None = None
    content: F32 | None = None


@dataclass(frozen=True)
class UserState:
    """The encoder's view of a user after their latest event.

    Attributes:
        state: Float32 ``[d_model]`` user state.
        intent_embedding: Float32 ``[d_model]`` embedding of the predicted intent.
        intents: Intent name -> probabilities (``[n_values]`` for multilabel intents, ``[1]`` =
            probability of the positive value for binary ones).
    """

    state: F32
    intent_embedding: F32
    intents: dict[str, F32]


def _session_options(threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # Set explicitly: onnxruntime's default uses every core, which stalls the GUI and the
    # transcription workers that share the machine.
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return opts


class Recommender:
    """Loads an exported recommender once and encodes histories and scores items with it."""

    def __init__(self, model_dir: Path, *, threads: int = 1) -> None:
        """Open the model directory.

        Args:
            model_dir: Directory with ``config.json``, the two ONNX files and the items file.
            threads: onnxruntime intra-op threads per graph.

        Raises:
            ModelError: A file is missing or does not match the config.
        """
        import onnxruntime as ort

        self.model_dir = Path(model_dir)
        self.config = RecommenderConfig.load(self.model_dir)
        cfg = self.config
        items_path = self.model_dir / cfg.items_file
        try:
            with np.load(items_path, allow_pickle=False) as npz:
                self._ids: tuple[str, ...] = tuple(str(x) for x in npz["ids"])
                self._id_row: I64 = np.asarray(npz["id_row"], dtype=np.int64)
                self._table: F32 = np.ascontiguousarray(npz["table"], dtype=np.float32)
                self._content: F32 = np.ascontiguousarray(npz["content"], dtype=np.float32)
                self._content_weight: F32 = np.asarray(npz["content_weight"], dtype=np.float32)
                self._content_bias: F32 = np.asarray(npz["content_bias"], dtype=np.float32)
                self._unknown_row: F32 = np.asarray(npz["unknown_row"], dtype=np.float32)
        except (OSError, KeyError, ValueError) as exc:
            raise ModelError(
                f"Recommender item file {items_path} is missing or damaged ({exc}).",
                fix="Re-export the model with `python -m models.recsys.export`.",
            ) from exc
        n, d, c = len(self._ids), cfg.d_model, cfg.content_dim
        if (
            self._table.shape != (n, d)
            or self._content.shape != (n, c)
            or self._content_weight.shape != (c, d)
            or self._unknown_row.shape != (d,)
            or self._id_row.shape != (n,)
        ):
            raise ModelError(
                f"Recommender item file {items_path} does not match {cfg.name} "
                f"(d_model={d}, content_dim={c}).",
                fix="Re-export the model so that config.json and the item file agree.",
            )
        self._index = {item_id: i for i, item_id in enumerate(self._ids)}
        self._item_bias: F32 = np.where(self._id_row == 0, cfg.cold_offset, 0.0).astype(np.float32)
        self._sessions: dict[str, Any] = {}
        for role, filename, inputs in (
            ("encoder", cfg.encoder_file, cfg.encoder_inputs),
            ("scorer", cfg.scorer_file, cfg.scorer_inputs),
        ):
            path = self.model_dir / filename
            if not path.is_file():
                raise ModelError(
                    f"Recommender {role} graph {path} does not exist.",
                    fix="Re-export the model with `python -m models.recsys.export`.",
                )
            try:
                session = ort.InferenceSession(
                    str(path), _session_options(threads), providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises its own untyped errors
                raise ModelError(
                    f"Recommender {role} graph {path} cannot be loaded ({exc}).",
                    fix="Re-export the model with `python -m models.recsys.export`.",
                ) from exc
            names = tuple(i.name for i in session.get_inputs())
            if names != inputs:
                raise ModelError(
                    f"Recommender {role} graph {path} has inputs {names}, config says {inputs}.",
                    fix="Re-export the model so that config.json and the graphs agree.",
                )
            self._sessions[role] = session
        log.debug("Loaded recommender %s with %d items", cfg.name, n)

    @property
    def item_ids(self) -> tuple[str, ...]:
        """Catalogue ids in the row order of the item table."""
        return self._ids

    @property
    def item_table(self) -> F32:
        """Float32 ``[n_items, d_model]`` representations of the catalogue (read-only view)."""
        view = self._table.view()
        view.flags.writeable = False
        return view

    @property
    def item_bias(self) -> F32:
        """Float32 ``[n_items]`` score offsets of the catalogue (read-only view).

        ``cold_offset`` for items without a trained id row, else 0; :meth:`score` adds them,
        :meth:`score_representations` does not.
        """
        view = self._item_bias.view()
        view.flags.writeable = False
        return view

    def item_row(self, item_id: str) -> int | None:
        """Row of a catalogue item in the item table, or None if it is not in the catalogue."""
        return self._index.get(item_id)

    def content_representations(self, content: NDArray[Any]) -> F32:
        """Representations of items known by content only (no trained id).

        Args:
            content: ``[n, content_dim]`` (or ``[content_dim]``) content vectors.

        Returns:
            Float32 ``[n, d_model]`` representations, comparable with the item table.

        Raises:
            UsageError: The content vectors have the wrong width.
        """
        vectors = np.asarray(content, dtype=np.float32)
        if vectors.ndim == 1:
            vectors = vectors[None, :]
        if vectors.ndim != 2 or vectors.shape[1] != self.config.content_dim:
            raise UsageError(
                f"Content vectors of shape {vectors.shape} do not fit the recommender.",
                fix=f"Pass [n, {self.config.content_dim}] vectors from the same content encoder.",
            )
        reps = self._unknown_row + vectors @ self._content_weight + self._content_bias
        return np.asarray(reps, dtype=np.float32)

    def _event_representations(self, history: Sequence[HistoryEvent]) -> F32:
        reps = np.empty((len(history), self.config.d_model), dtype=np.float32)
        for i, event in enumerate(history):
            row = None if event.item_id is None else self._index.get(event.item_id)
            if row is not None:
                reps[i] = self._table[row]
            elif event.content is not None:
                reps[i] = self.content_representations(event.content)[0]
            else:
                raise UsageError(
                    f"History event {i} has item {event.item_id!r}, which is not in the "
                    "recommender's catalogue, and no content vector.",
                    fix="Give events of new items their content vector.",
                )
        return reps

    def encode_state(self, history: Sequence[HistoryEvent]) -> UserState:
        """Encode a user's history (oldest first) into a :class:`UserState`.

        Only the last ``max_len`` events are fed to the encoder; the gap of the first of them is
        still measured from the event before it.

        Args:
            history: The user's events, oldest first.

        Returns:
            The state after the latest event.

        Raises:
            UsageError: The history is empty or names an unknown item without content.
        """
        if not history:
            raise UsageError(
                "Cannot encode an empty history.",
                fix="Recommend by popularity until the user has watched something.",
            )
        timestamps = np.fromiter((e.timestamp for e in history), dtype=np.int64, count=len(history))
        hour, weekday, gap = event_context(timestamps)
        keep = slice(max(0, len(history) - self.config.max_len), len(history))
        kept = history[keep]
        engagement = np.fromiter(
            (min(max(e.engagement, 0), self.config.n_engagement_buckets - 1) for e in kept),
            dtype=np.int64,
            count=len(kept),
        )
        return self.encode_arrays(
            self._event_representations(kept), hour[keep], weekday[keep], gap[keep], engagement
        )

    def encode_arrays(
        self, item_rep: F32, hour: I64, weekday: I64, gap: I64, engagement: I64
    ) -> UserState:
        """Encode one user's featurised history (the low-level form of :meth:`encode_state`).

        Args:
            item_rep: ``[L, d_model]`` item representations, oldest first, ``L <= max_len``.
            hour: ``[L]`` hour of day.
            weekday: ``[L]`` day of week.
            gap: ``[L]`` gap buckets (:func:`event_context`).
            engagement: ``[L]`` engagement buckets.

        Returns:
            The state after the last event.
        """
        length = item_rep.shape[0]
        feeds = {
            "item_rep": np.ascontiguousarray(item_rep[None], dtype=np.float32),
            "hour": np.asarray(hour, dtype=np.int64)[None],
            "weekday": np.asarray(weekday, dtype=np.int64)[None],
            "gap": np.asarray(gap, dtype=np.int64)[None],
            "engagement": np.asarray(engagement, dtype=np.int64)[None],
            "mask": np.ones((1, length), dtype=np.float32),
        }
        outputs = self._sessions["encoder"].run(None, feeds)
        named = dict(zip(self.config.encoder_outputs, outputs, strict=True))
        return UserState(
            state=np.asarray(named["state"][0], dtype=np.float32),
            intent_embedding=np.asarray(named["intent_embedding"][0], dtype=np.float32),
            intents={
                spec.name: np.asarray(named[f"intent_{spec.name}"][0], dtype=np.float32)
                for spec in self.config.intents
            },
        )

    def score_representations(self, state: UserState, item_reps: NDArray[Any]) -> F32:
        """Score items given by their representations.

        Args:
            state: Output of :meth:`encode_state`.
            item_reps: ``[n, d_model]`` representations (rows of :attr:`item_table` or
                :meth:`content_representations`).

        Returns:
            Float32 ``[n]`` raw scores (no :attr:`item_bias`); higher is a better next item.
        """
        feeds = {
            "state": state.state[None].astype(np.float32, copy=False),
            "intent_embedding": state.intent_embedding[None].astype(np.float32, copy=False),
            "item_rep": np.ascontiguousarray(item_reps, dtype=np.float32),
        }
        (scores,) = self._sessions["scorer"].run(None, feeds)
        return np.asarray(scores[0], dtype=np.float32)

    def score(
        self,
        state: UserState,
        item_ids: Sequence[str] | None = None,
        *,
        content: NDArray[Any] | None = None,
    ) -> F32:
        """Score catalogue items by id, or new items by their content vectors.

        Items without a trained id row (and items given by content) get the config's
        ``cold_offset`` added, so both kinds are ranked on one scale.

        Args:
            state: Output of :meth:`encode_state`.
            item_ids: Catalogue ids to score; None (and no ``content``) scores the whole catalogue
                in :attr:`item_ids` order.
            content: ``[n, content_dim]`` content vectors of items to score by content alone.

        Returns:
            Float32 scores, one per requested item.

        Raises:
            UsageError: Both or an unknown id were given.
        """
        if content is not None:
            if item_ids is not None:
                raise UsageError(
                    "score() takes item ids or content vectors, not both.",
                    fix="Score the two groups in two calls; their scores are comparable.",
                )
            scores = self.score_representations(state, self.content_representations(content))
            return np.asarray(scores + np.float32(self.config.cold_offset), dtype=np.float32)
        if item_ids is None:
            return self.score_representations(state, self._table) + self._item_bias
        rows = [self._index.get(i) for i in item_ids]
        missing = [i for i, r in zip(item_ids, rows, strict=True) if r is None]
        if missing:
            raise UsageError(
                f"Items {missing[:5]} are not in the recommender's catalogue.",
                fix="Score new items through their content vectors (content=...).",
            )
        picked = np.asarray(rows, dtype=np.int64)
        return self.score_representations(state, self._table[picked]) + self._item_bias[picked]

    def rank(
        self, state: UserState, k: int = 10, *, exclude: Sequence[str] = ()
    ) -> list[tuple[str, float]]:
        """Top-k catalogue items for a state.

        Args:
            state: Output of :meth:`encode_state`.
            k: How many items to return.
            exclude: Ids not to recommend (typically everything already watched).

        Returns:
            ``(item_id, score)`` pairs, best first.
        """
        scores = self.score(state).astype(np.float64)
        for item_id in exclude:
            row = self._index.get(item_id)
            if row is not None:
                scores[row] = -math.inf
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k] if k > 0 else np.empty(0, dtype=np.int64)
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self._ids[i], float(scores[i])) for i in top if np.isfinite(scores[i])]
