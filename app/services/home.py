"""Home rows, the watch log and thumbnails."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from app.services.connection import LazyLibrary, no_attachment
from app.services.records import HomeCard, Shelf
from core.errors import MediaMindError

if TYPE_CHECKING:
    from core.recommend.home import Recommendations
    from core.store import Library

log = logging.getLogger(__name__)


def _recommendations(library: Library) -> Recommendations:
    from core.recommend.home import Recommendations

    return Recommendations(library)


class HomeService:
    """Home rows, watch events and thumbnails, on the service's own connection.

    Every method may touch the database or decode video, so call them from a worker.
    """

    def __init__(self, directory: Path) -> None:
        """Bind to a library directory; the connection opens on first use."""
        self.directory = Path(directory).expanduser()
        self._connection: LazyLibrary[Recommendations] = LazyLibrary(
            self.directory, _recommendations
        )
        # A second, plain connection for what is ready now: it never waits behind the rows.
        self._quick: LazyLibrary[None] = LazyLibrary(self.directory, no_attachment)

    def ready_now(self, limit: int = 12) -> list[Shelf]:
        """Rows that need no recommender: what was left half-watched, then what was added last.

        The Home view shows these at once while :meth:`shelves` computes the real rows (which
        can take a while when the library is busy ingesting).
        """
        from core.recommend.events import progress

        with self._quick.lock:
            lib = self._quick.open()[0]
            items = [i for i in lib.items() if i.status == "ready"]
            where = progress(lib)
        started = []
        for item in items:
            seen = where.get(item.id)
            if seen is None or seen.finished or not item.duration or seen.position <= 0:
                continue
            share = min(1.0, seen.position / item.duration)
            if share < 0.97:
                reason = "Pick up where you left off"
                card = HomeCard(
                    item.id, item.title, item.kind, item.duration, share, reason, item.path
                )
                started.append((seen.last_ts, card))
        shelves = []
        if started:
            started.sort(key=lambda pair: -pair[0])
            cards = tuple(card for _ts, card in started[:limit])
            shelves.append(Shelf("Continue", "continue_watching", cards))
        shown = {c.media_id for s in shelves for c in s.items}
        recent = [
            HomeCard(i.id, i.title, i.kind, i.duration, 0.0, "Added recently", i.path)
            for i in sorted(items, key=lambda i: i.added_at, reverse=True)
            if i.id not in shown and i.id not in where
        ][:limit]
        if recent:
            shelves.append(Shelf("Recently added", "recent", tuple(recent)))
        return shelves

    def shelves(self, at: str | None = None) -> list[Shelf]:
        """The home rows now (or at ISO time ``at``): Continue first, then rows by intent."""
        from core.recommend.events import progress

        with self._connection.lock:
            lib, recommendations = self._connection.open()
            home = recommendations.home(at)
            where = progress(lib)
            items = {i.id: i for i in lib.items()}
        shelves = []
        for row in home.rows:
            cards = []
            for rec in row.items:
                item = items.get(rec.media_id)
                if item is None:
                    continue
                seen = where.get(rec.media_id)
                share = 0.0
                if seen is not None and item.duration:
                    share = 1.0 if seen.finished else min(1.0, seen.position / item.duration)
                cards.append(
                    HomeCard(
                        item.id, item.title, item.kind, item.duration, share, rec.reason, item.path
                    )
                )
            if cards:
                shelves.append(Shelf(row.title, row.intent, tuple(cards)))
        return shelves

    def record(self, media_id: int, kind: str, position: float) -> None:
        """Append a player event (play, pause, seek, progress, complete) to the watch log."""
        from core.recommend.events import record_event

        with self._connection.lock:
            record_event(self._connection.open()[0], media_id, kind, position)

    def thumbnail(
        self, path: str, at: float = 5.0, width: int = 320
    ) -> tuple[int, int, bytes] | None:
        """A video frame as ``(width, height, rgb bytes)``; None for audio and transcripts.

        Errors are not raised: a file that cannot be decoded simply gets a generated cover.
        """
        from core.ingest import video_frame

        try:
            frame = video_frame(Path(path), at, width)
        except MediaMindError as exc:
            log.info("no thumbnail for %s: %s", path, exc.message)
            return None
        if frame is None:
            return None
        return frame.shape[1], frame.shape[0], frame.tobytes()

    def close(self) -> None:
        """Close the connections."""
        self._connection.close()
        self._quick.close()
