"""The library's watch-event log: what was played, when, and how far.

Events (``play``, ``pause``, ``seek``, ``progress``, ``complete``) are stored in the
``watch_events`` table with the item, the playback position in seconds, the wall-clock time
(UTC ISO-8601, plus unix seconds for ordering) and a session id. A session is a run of events
with no gap longer than :data:`SESSION_GAP_SECONDS` (30 minutes) between one event and the
previous one in time, whatever the item.

The recommender does not see raw events: :func:`views` collapses them into *viewings* — one per
(session, item) — with the time the viewing started and an engagement bucket from how far into
the item it got (the model's ``engagement`` input: completion ratio in 5 equal buckets 1..5).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, get_args

import numpy as np
from numpy.typing import NDArray

from core.errors import UsageError
from core.recommend.scorer import event_context
from core.store import Library

EventKind = Literal["play", "pause", "seek", "progress", "complete"]
EVENT_KINDS: tuple[str, ...] = get_args(EventKind)
SESSION_GAP_SECONDS = 30 * 60
# watch() writes a progress event every this many seconds of playback, like a player would.
PROGRESS_INTERVAL_SECONDS = 60.0
# A viewing within this many seconds of the end counts as reaching it (players stop early).
COMPLETE_TOLERANCE_SECONDS = 1.0
N_ENGAGEMENT_BUCKETS = 5


@dataclass(frozen=True)
class WatchEvent:
    """One stored event.

    Attributes:
        id: Row id; increases with every recorded event.
        media_id: The library item.
        kind: ``play``, ``pause``, ``seek``, ``progress`` or ``complete``.
        position: Playback position in seconds.
        at: Wall-clock time, UTC ISO-8601.
        ts: The same time in unix seconds.
        session_id: Session the event belongs to.
    """

    id: int
    media_id: int
    kind: str
    position: float
    at: str
    ts: int
    session_id: int


@dataclass(frozen=True)
class View:
    """One viewing: the events of one item within one session, collapsed.

    Attributes:
        media_id: The item.
        session_id: The session.
        ts: Unix seconds of the viewing's first event.
        last_ts: Unix seconds of its last event.
        last_event_id: Id of its last event.
        position: Position of its last event (where playback stopped).
        max_position: Furthest position reached.
        completed: A ``complete`` event was recorded.
        engagement: Completion-ratio bucket 1..5 (5 = completed); 1 when the duration is unknown.
    """

    media_id: int
    session_id: int
    ts: int
    last_ts: int
    last_event_id: int
    position: float
    max_position: float
    completed: bool
    engagement: int


@dataclass(frozen=True)
class ItemProgress:
    """Where the user is with one item, over all sessions.

    Attributes:
        media_id: The item.
        position: Position of the latest event (where to resume).
        last_ts: Unix seconds of the latest event.
        finished: A ``complete`` event was ever recorded for it.
    """

    media_id: int
    position: float
    last_ts: int
    finished: bool


def to_utc(at: datetime | str | None) -> datetime:
    """Normalise a time to an aware UTC datetime (whole seconds).

    Args:
        at: An aware or naive datetime (naive = local time), an ISO-8601 string (``Z`` allowed;
            without an offset it is local time), or None for now.

    Returns:
        The UTC time.

    Raises:
        UsageError: The string is not ISO-8601.
    """
    if at is None:
        moment = datetime.now(UTC)
    elif isinstance(at, str):
        try:
            moment = datetime.fromisoformat(at.strip())
        except ValueError as exc:
            raise UsageError(
                f"{at!r} is not an ISO-8601 time.",
                fix="Write it like 2024-05-01T20:30:00Z or 2024-05-01T21:30:00+01:00.",
            ) from exc
    else:
        moment = at
    return moment.astimezone(UTC).replace(microsecond=0)


def _session_for(lib: Library, ts: int) -> int:
    """The session of an event at ``ts``: that of the latest earlier event if close enough."""
    prev = lib.db.query_one(
        "SELECT ts, session_id FROM watch_events WHERE ts <= ? ORDER BY ts DESC, id DESC LIMIT 1",
        (ts,),
    )
    if prev is not None and ts - int(prev["ts"]) <= SESSION_GAP_SECONDS:
        return int(prev["session_id"])
    return int(lib.db.scalar("SELECT COALESCE(MAX(session_id), 0) + 1 FROM watch_events"))


def record_event(
    lib: Library,
    media_id: int,
    kind: str,
    position: float,
    at: datetime | str | None = None,
) -> WatchEvent:
    """Append one event to the log.

    Args:
        lib: The library.
        media_id: The item (must exist).
        kind: One of :data:`EVENT_KINDS`.
        position: Playback position in seconds (>= 0).
        at: When it happened; now when None (see :func:`to_utc`).

    Returns:
        The stored event.

    Raises:
        UsageError: Unknown kind or a negative / non-finite position.
        NotFoundError: There is no such item.
    """
    if kind not in EVENT_KINDS:
        raise UsageError(
            f"Unknown watch event {kind!r}.", fix=f"Use one of {', '.join(EVENT_KINDS)}."
        )
    if not math.isfinite(position) or position < 0:
        raise UsageError(
            f"Playback position {position} is not a time in the item.",
            fix="Give the position in seconds from the start, 0 or more.",
        )
    lib.get_item(media_id)  # NotFoundError with a fix
    moment = to_utc(at)
    iso, ts = moment.isoformat(), int(moment.timestamp())
    with lib.db.atomic():
        session = _session_for(lib, ts)
        lib.db.execute(
            "INSERT INTO watch_events (media_id, kind, position, at, ts, session_id) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (media_id, kind, float(position), iso, ts, session),
        )
        event_id = lib.db.last_insert_rowid()
    return WatchEvent(event_id, media_id, kind, float(position), iso, ts, session)


def watch(
    lib: Library, media_id: int, seconds: float, at: datetime | str | None = None
) -> list[WatchEvent]:
    """Record a viewing of ``seconds`` of playback from the item's current position.

    Writes ``play`` at the current position (0 for an item never started or already finished),
    a ``progress`` event every :data:`PROGRESS_INTERVAL_SECONDS` of playback, ``pause`` where it
    stops, and ``complete`` when that is the item's end. Wall-clock times advance with playback.

    Args:
        lib: The library.
        media_id: The item.
        seconds: Playback length (> 0); clipped at the item's end.
        at: When playback started; now when None.

    Returns:
        The events written, in order.

    Raises:
        UsageError: ``seconds`` is not positive.
        NotFoundError: There is no such item.
    """
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(
            f"Cannot watch {seconds} seconds.", fix="Give a positive number of seconds."
        )
    item = lib.get_item(media_id)
    start_time = to_utc(at)
    t0 = start_time.timestamp()
    duration = item.duration if item.duration and item.duration > 0 else None
    current = progress(lib).get(media_id)
    start = 0.0
    if current is not None and not (current.finished and _latest_kind(lib, media_id) == "complete"):
        start = current.position
    if duration is not None and start >= duration - COMPLETE_TOLERANCE_SECONDS:
        start = 0.0
    end = start + seconds if duration is None else min(start + seconds, duration)

    def when(pos: float) -> datetime:
        return datetime.fromtimestamp(t0 + (pos - start), UTC)

    out: list[WatchEvent] = []
    with lib.db.atomic():
        out.append(record_event(lib, media_id, "play", start, start_time))
        pos = start + PROGRESS_INTERVAL_SECONDS
        while pos < end:
            out.append(record_event(lib, media_id, "progress", pos, when(pos)))
            pos += PROGRESS_INTERVAL_SECONDS
        out.append(record_event(lib, media_id, "pause", end, when(end)))
        if duration is not None and end >= duration - COMPLETE_TOLERANCE_SECONDS:
            out.append(record_event(lib, media_id, "complete", end, when(end)))
    return out


def _latest_kind(lib: Library, media_id: int) -> str | None:
    row = lib.db.scalar(
        "SELECT kind FROM watch_events WHERE media_id = ? ORDER BY ts DESC, id DESC LIMIT 1",
        (media_id,),
    )
    return None if row is None else str(row)


def events(lib: Library, media_id: int | None = None) -> list[WatchEvent]:
    """The stored events in time order (ties by id), optionally of one item."""
    where, params = ("WHERE media_id = ?", (media_id,)) if media_id is not None else ("", ())
    rows = lib.db.query(
        "SELECT id, media_id, kind, position, at, ts, session_id FROM watch_events "
        f"{where} ORDER BY ts, id",
        params,
    )
    return [WatchEvent(**r) for r in rows]


def last_event_id(lib: Library) -> int:
    """Id of the newest event (0 when the log is empty); the key of the cached user state."""
    return int(lib.db.scalar("SELECT COALESCE(MAX(id), 0) FROM watch_events"))


def engagement_bucket(max_position: float, duration: float | None, completed: bool) -> int:
    """Completion ratio in 5 equal buckets 1..5 (the model's app engagement definition).

    Args:
        max_position: Furthest position reached, seconds.
        duration: Item length; None or 0 when unknown (bucket 1).
        completed: A ``complete`` event was seen (bucket 5).

    Returns:
        The bucket.
    """
    if completed:
        return N_ENGAGEMENT_BUCKETS
    if not duration or duration <= 0:
        return 1
    ratio = max(0.0, min(1.0, max_position / duration))
    return min(N_ENGAGEMENT_BUCKETS, 1 + int(ratio * N_ENGAGEMENT_BUCKETS))


def views(lib: Library) -> list[View]:
    """Collapse the log into viewings (one per session and item), oldest first.

    Returns:
        The viewings, ordered by their first event's time.
    """
    rows = lib.db.query(
        "SELECT e.media_id, e.session_id, MIN(e.ts) AS ts, MAX(e.ts) AS last_ts, "
        "MAX(e.id) AS last_event_id, MAX(e.position) AS max_position, "
        "MAX(e.kind = 'complete') AS completed, m.duration, "
        "(SELECT position FROM watch_events x WHERE x.media_id = e.media_id "
        " AND x.session_id = e.session_id ORDER BY x.ts DESC, x.id DESC LIMIT 1) AS position "
        "FROM watch_events e JOIN media_items m ON m.id = e.media_id "
        "GROUP BY e.session_id, e.media_id ORDER BY MIN(e.ts), MIN(e.id)"
    )
    return [
        View(
            media_id=int(r["media_id"]),
            session_id=int(r["session_id"]),
            ts=int(r["ts"]),
            last_ts=int(r["last_ts"]),
            last_event_id=int(r["last_event_id"]),
            position=float(r["position"]),
            max_position=float(r["max_position"]),
            completed=bool(r["completed"]),
            engagement=engagement_bucket(
                float(r["max_position"]), r["duration"], bool(r["completed"])
            ),
        )
        for r in rows
    ]


def view_context(
    history: Sequence[View],
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Hour, weekday and gap bucket of viewings (the model's context inputs, UTC)."""
    return event_context(np.asarray([v.ts for v in history], dtype=np.int64))


def progress(lib: Library) -> dict[int, ItemProgress]:
    """Per item: resume position, time of the latest event, and whether it was ever finished."""
    rows = lib.db.query(
        "SELECT media_id, MAX(kind = 'complete') AS finished, "
        "(SELECT position FROM watch_events x WHERE x.media_id = e.media_id "
        " ORDER BY x.ts DESC, x.id DESC LIMIT 1) AS position, MAX(ts) AS last_ts "
        "FROM watch_events e GROUP BY media_id"
    )
    return {
        int(r["media_id"]): ItemProgress(
            int(r["media_id"]), float(r["position"]), int(r["last_ts"]), bool(r["finished"])
        )
        for r in rows
    }


def sessions(lib: Library) -> list[list[WatchEvent]]:
    """The log split into sessions, oldest first."""
    out: dict[int, list[WatchEvent]] = {}
    for event in events(lib):
        out.setdefault(event.session_id, []).append(event)
    return sorted(out.values(), key=lambda s: (s[0].ts, s[0].id))
