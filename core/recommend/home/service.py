"""Home requests on a library: the user state, the item representations and the rows.

User state = the encoder run over the log's *viewings* (:func:`core.recommend.events.views`),
stored in ``recommend_state`` under the log's last event id (and the model and content version),
so a request after no new event only runs the scorer.
"""

from __future__ import annotations

import contextlib
import importlib
import json
from collections import OrderedDict
from contextlib import AbstractContextManager
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from core.recommend import events as ev
from core.recommend.home.items import ItemTable, default_encoder, item_table
from core.recommend.home.model import cache_lock, default_model_dir, load_model
from core.recommend.home.ranking import AFFINITY_WEIGHT, content_affinity
from core.recommend.home.rows import Home, Request, RowBuilder, cold_rows
from core.recommend.scorer import HistoryEvent, Recommender, UserState
from core.store import Library, utcnow

F32 = NDArray[np.float32]


def intent_values(state: UserState) -> dict[str, float]:
    """The model's intents as the rows read them: value name -> probability."""
    p_deep = float(state.intents["quick_deep"][0])
    p_cont = float(state.intents["continue"][0])
    return {
        "quick": 1.0 - p_deep,
        "deep": p_deep,
        "continue": p_cont,
        "discover": 1.0 - p_cont,
        "new": float(state.intents["new"][0]),
    }


_reps: OrderedDict[tuple[str, str, int], F32] = OrderedDict()
_blas: list[Any] = []


def _one_blas_thread() -> AbstractContextManager[object]:
    """Run numpy's BLAS on one thread for the duration of a request, when we can.

    The products here are small (10k x 384 at most); OpenBLAS splitting them over threads on a
    busy 2-core machine costs ~10 ms of thread hand-off per call (measured with
    ``bench/recommend.py``). ``threadpoolctl`` is optional: without it nothing changes.
    """
    with cache_lock:
        if not _blas:
            try:
                # By name: an optional package without type information.
                _blas.append(importlib.import_module("threadpoolctl").ThreadpoolController())
            except ImportError:
                _blas.append(None)
        controller = _blas[0]
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")  # type: ignore[no-any-return]


class Recommendations:
    """Home rows for one library; cheap to create per request (models and tables are cached)."""

    def __init__(
        self,
        lib: Library,
        *,
        model_dir: Path | None = None,
        encoder: Any = None,
        tz: tzinfo | None = None,
        threads: int = 1,
    ) -> None:
        """Bind to a library.

        Args:
            lib: The library.
            model_dir: Recommender directory; :func:`default_model_dir` when None.
            encoder: Text encoder (or factory) for item content; the default MiniLM when None.
            tz: Time zone of "evening" and friends in reasons; the system's when None.
            threads: onnxruntime threads of the recommender.
        """
        self.lib = lib
        self.model_dir = model_dir
        self._encoder = encoder or default_encoder
        self.tz = tz
        self.threads = threads
        self.state_encodes = 0

    def model(self) -> tuple[Recommender, str]:
        """The recommender and its model id."""
        return load_model(self.model_dir or default_model_dir(self.lib), threads=self.threads)

    def items(self) -> ItemTable:
        """The recommendable items (see :func:`item_table`)."""
        return item_table(self.lib, self._encoder)

    def representations(self, table: ItemTable) -> F32:
        """Item representations under the model (content path), cached per content version."""
        rec, model_id = self.model()
        key = (self.lib.db.path, model_id, table.content_version)
        with cache_lock:
            hit = _reps.get(key)
        if hit is not None and hit.shape[0] == len(table):
            return hit
        reps = (
            rec.content_representations(table.content)
            if len(table)
            else np.zeros((0, rec.config.d_model), dtype=np.float32)
        )
        with cache_lock:
            _reps[key] = reps
            while len(_reps) > 4:
                _reps.popitem(last=False)
        return reps

    def state(self, table: ItemTable | None = None) -> tuple[UserState | None, bool]:
        """The user state after the newest event, from ``recommend_state`` when valid.

        Args:
            table: The item table (looked up when None).

        Returns:
            ``(state, cached)``; state is None when no viewing of a current item exists.
        """
        last = ev.last_event_id(self.lib)
        if last == 0:
            return None, False
        table = table if table is not None else self.items()
        rec, model_id = self.model()
        db = self.lib.db
        row = db.query_one(
            "SELECT content_version, state, intent_embedding, intents FROM recommend_state "
            "WHERE last_event_id = ? AND model_id = ?",
            (last, model_id),
        )
        if row is not None and int(row["content_version"]) == table.content_version:
            return (
                UserState(
                    state=np.frombuffer(row["state"], dtype=np.float32).copy(),
                    intent_embedding=np.frombuffer(
                        row["intent_embedding"], dtype=np.float32
                    ).copy(),
                    intents={
                        k: np.asarray(v, dtype=np.float32)
                        for k, v in json.loads(row["intents"]).items()
                    },
                ),
                True,
            )
        index = table.index()
        history = [
            HistoryEvent(v.ts, v.engagement, content=table.content[index[v.media_id]])
            for v in ev.views(self.lib)
            if v.media_id in index
        ]
        if not history:
            return None, False
        state = rec.encode_state(history)
        self.state_encodes += 1
        with db.atomic():
            db.execute("DELETE FROM recommend_state WHERE model_id = ?", (model_id,))
            db.execute(
                "INSERT INTO recommend_state (last_event_id, model_id, content_version, state, "
                "intent_embedding, intents, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    last,
                    model_id,
                    table.content_version,
                    state.state.astype(np.float32).tobytes(),
                    state.intent_embedding.astype(np.float32).tobytes(),
                    json.dumps({k: v.tolist() for k, v in state.intents.items()}),
                    utcnow(),
                ),
            )
        return state, False

    def home(
        self, at: datetime | str | None = None, *, max_rows: int = 6, per_row: int = 10
    ) -> Home:
        """The home rows (see the module docstring).

        Args:
            at: The moment (ISO string or datetime); now when None.
            max_rows: Most rows after "Continue".
            per_row: Most items per row.

        Returns:
            The rows, with the intents and whether the state was cached.
        """
        with _one_blas_thread():
            return self._home(at, max_rows=max_rows, per_row=per_row)

    def _home(self, at: datetime | str | None, *, max_rows: int, per_row: int) -> Home:
        moment = ev.to_utc(at)
        table = self.items()
        if not len(table):
            return Home((), moment.isoformat())
        state, cached = self.state(table)
        if state is None:
            return Home(cold_rows(table, moment, max_rows, per_row), moment.isoformat())
        rec, _ = self.model()
        scores = rec.score_representations(state, self.representations(table)).astype(np.float64)
        index = table.index()
        history = [v for v in ev.views(self.lib) if v.media_id in index]
        scores += AFFINITY_WEIGHT * content_affinity(
            table.content, [index[v.media_id] for v in history], [v.engagement for v in history]
        )
        request = Request(
            table,
            scores,
            intent_values(state),
            history,
            ev.progress(self.lib),
            moment,
            self.tz,
        )
        builder = RowBuilder(request, per_row=per_row)
        return Home(
            builder.build(max_rows),
            moment.isoformat(),
            model=rec.config.name,
            intents=builder.intent_values,
            state_cached=cached,
        )


def home(
    lib: Library,
    at: datetime | str | None = None,
    *,
    model_dir: Path | None = None,
    encoder: Any = None,
    tz: tzinfo | None = None,
    max_rows: int = 6,
    per_row: int = 10,
) -> Home:
    """The home rows of a library (convenience wrapper of :class:`Recommendations`)."""
    recs = Recommendations(lib, model_dir=model_dir, encoder=encoder, tz=tz)
    return recs.home(at, max_rows=max_rows, per_row=per_row)
