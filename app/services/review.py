"""The annotation review queue."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from app.services.connection import LazyLibrary, no_attachment
from app.services.records import ReviewCard

if TYPE_CHECKING:
    from core.annotate import Tag


class ReviewService:
    """The annotation review queue, on its own connection (call from a worker)."""

    def __init__(self, directory: Path) -> None:
        """Bind to a library directory; the connection opens on first use."""
        self.directory = Path(directory).expanduser()
        self._connection: LazyLibrary[None] = LazyLibrary(self.directory, no_attachment)
        # Decisions of this session, last on top: the tag before it and the card shown then.
        self._undo: list[tuple[Tag, ReviewCard]] = []

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
        from core.annotate import get_tag, record_review

        with self._connection.lock:
            lib = self._connection.open()[0]
            before = get_tag(lib, card.tag_id)
            tag = record_review(lib, card.tag_id, decision, new_value)
            if before is not None:
                self._undo.append((before, card))
        return replace(card, value=tag.value, display=tag.display, status=tag.status)

    @property
    def can_undo(self) -> bool:
        """Whether a decision of this session can be taken back."""
        return bool(self._undo)

    def undo(self) -> ReviewCard | None:
        """Take back the last decision; the card as it is now (None when there was none)."""
        from core.annotate import undo_review

        with self._connection.lock:
            if not self._undo:
                return None
            before, card = self._undo.pop()
            tag = undo_review(self._connection.open()[0], before)
        return replace(card, value=tag.value, display=tag.display, status=tag.status)

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()
