"""Hybrid search over one library."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from app.services.connection import LazyLibrary
from app.services.records import SearchHit, marked_to_html
from app.services.speakers import SpeakersService

if TYPE_CHECKING:
    from core.search import Searcher
    from core.store import Library


def _searcher(library: Library) -> Searcher:
    from core.search import Searcher

    return Searcher(library)


class SearchService:
    """Hybrid search; the first query loads the embedding model (call it from a worker)."""

    def __init__(self, directory: Path) -> None:
        """Bind to a library directory; the searcher gets its own connection on first use."""
        self.directory = Path(directory).expanduser()
        self._connection: LazyLibrary[Searcher] = LazyLibrary(self.directory, _searcher)
        # Its own light connection: the searcher's would load the search model.
        self._speakers = SpeakersService(self.directory)

    @property
    def loaded(self) -> bool:
        """Whether the searcher (and so the model) exists yet."""
        return self._connection.is_open

    def search(
        self,
        query: str,
        kind: str | None = None,
        k: int = 20,
        *,
        topic: str | None = None,
        mood: str | None = None,
        max_rating: str | None = None,
        speaker: int | None = None,
    ) -> list[SearchHit]:
        """The best ``k`` moments for ``query``, with optional facets.

        Args:
            query: What to look for.
            kind: Only this kind of media.
            k: How many moments.
            topic: Only items tagged with this topic.
            mood: Only items with this mood.
            max_rating: Only items rated at most this (unrated items are left out).
            speaker: Only moments where this speaker profile (its id) talks.
        """
        from core.search import RELEVANCE_FLOOR, SearchFilters

        with self._connection.lock:
            _, searcher = self._connection.open()
            filters = SearchFilters(
                kinds=(kind,) if kind else (),
                topics=(topic,) if topic else (),
                moods=(mood,) if mood else (),
                max_rating=max_rating,
                speakers=(speaker,) if speaker is not None else (),
            )
            # Only hits at least as close as the calibrated floor: a query about something the
            # library does not hold finds nothing instead of k unrelated moments.
            results = searcher.search(query, k=k, filters=filters, floor=RELEVANCE_FLOOR)
        return [
            SearchHit(
                r.media_id,
                r.title,
                r.kind,
                r.start,
                r.end,
                r.text,
                marked_to_html(r.marked),
                r.score,
                r.relevance if r.relevance is not None else 0.0,
                tuple(r.speakers),
            )
            for r in results
        ]

    def speakers(self) -> list[tuple[int, str]]:
        """The library's speaker profiles as (id, name), most speech first, for the facet."""
        return [(r.id, r.name) for r in self._speakers.profiles()]

    def has_items(self) -> bool:
        """Whether the library holds anything at all (to tell "empty" from "no match")."""
        with self._connection.lock:
            library, _ = self._connection.open()
            return library.db.scalar("SELECT 1 FROM media_items LIMIT 1") is not None

    def close(self) -> None:
        """Close the searcher's and the speaker list's connections."""
        self._connection.close()
        self._speakers.close()
