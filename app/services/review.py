"""The annotation review queue."""

from __future__ import annotations

from pathlib import Path

from app.services.connection import LazyLibrary, no_attachment
from app.services.records import ReviewCard


class ReviewService:
    """The annotation review queue, on its own connection (call from a worker)."""

    def __init__(self, directory: Path) -> None:
        """Bind to a library directory; the connection opens on first use."""
        self.directory = Path(directory).expanduser()
        self._connection: LazyLibrary[None] = LazyLibrary(self.directory, no_attachment)

    def queue(self, n: int = 20) -> list[ReviewCard]:
        """The next tags to review: lowest confidence first, then the random sample."""
        from core.annotate import review_queue

        with self._connection.lock:
            tasks = review_queue(self._connection.open()[0], n)
        return [
            ReviewCard(
                t.tag.id,
                t.tag.media_id,
                t.title,
                t.tag.type,
                t.tag.value,
                t.tag.display,
                t.tag.confidence,
                t.source,
                tuple((start, text) for _cid, start, text in t.context),
                t.choices,
                t.tag.status,
            )
            for t in tasks
        ]

    def decide(self, card: ReviewCard, decision: str, new_value: str | None = None) -> ReviewCard:
        """Accept, reject or edit a tag; it becomes gold and annotation never overwrites it.

        Raises:
            UsageError: An edit value that is not allowed (e.g. an entity not in the item).
        """
        from dataclasses import replace

        from core.annotate import record_review

        with self._connection.lock:
            tag = record_review(self._connection.open()[0], card.tag_id, decision, new_value)
        return replace(card, value=tag.value, display=tag.display, status=tag.status)

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()
