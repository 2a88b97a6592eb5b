"""The library's speaker profiles for the Speakers view: list, rename, merge."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.services.connection import LazyLibrary, no_attachment


@dataclass(frozen=True)
class SpeakerRow:
    """One voice found across the library, as the Speakers view lists it.

    Attributes:
        id: The profile id (``mediamind speakers`` shows the same).
        name: The name a person gave it, or the default ``Speaker <id>``.
        named: Whether a person named it.
        items: How many items it speaks in.
        seconds: Its total speech time across the library.
    """

    id: int
    name: str
    named: bool
    items: int
    seconds: float


class SpeakersService:
    """Speaker profiles on their own connection (call from a worker)."""

    def __init__(self, directory: Path) -> None:
        """Bind to a library directory; the connection opens on first use."""
        self.directory = Path(directory).expanduser()
        self._connection: LazyLibrary[None] = LazyLibrary(self.directory, no_attachment)

    def profiles(self) -> list[SpeakerRow]:
        """Every profile, most speech first."""
        from core.speakers.profiles import list_profiles

        with self._connection.lock:
            found = list_profiles(self._connection.open()[0].db)
        rows = [SpeakerRow(p.id, p.name, p.named, p.items, p.seconds) for p in found]
        return sorted(rows, key=lambda r: (-r.seconds, r.id))

    def rename(self, profile_id: int, name: str) -> SpeakerRow:
        """Name a voice; every item it speaks in shows the name from now on.

        Raises:
            UsageError: The name is empty or another voice already has it.
            NotFoundError: The profile no longer exists.
        """
        from core.speakers.profiles import rename_profile

        with self._connection.lock:
            p = rename_profile(self._connection.open()[0].db, profile_id, name)
        return SpeakerRow(p.id, p.name, p.named, p.items, p.seconds)

    def merge(self, keep: int, other: int) -> SpeakerRow:
        """Make ``other`` part of ``keep`` (the same person); ``other`` disappears.

        Raises:
            UsageError: Both are the same profile.
            NotFoundError: Either profile no longer exists.
        """
        from core.speakers.profiles import merge_profiles

        with self._connection.lock:
            p = merge_profiles(self._connection.open()[0].db, keep, other)
        return SpeakerRow(p.id, p.name, p.named, p.items, p.seconds)

    def close(self) -> None:
        """Close the connection."""
        self._connection.close()
