"""What the Player shows beside the media: speaker-named transcript, translation, summary."""

from __future__ import annotations

from dataclasses import dataclass

from app.services.library import LibraryService
from app.services.records import TranscriptLine


@dataclass(frozen=True)
class ItemExtras:
    """Everything the Player loads for one item besides the item itself.

    Attributes:
        lines: The transcript, with speaker names when more than one voice speaks.
        translation: The stored English translation (empty when there is none).
        summary: The item's summary tag, when it was annotated ("" otherwise).
        topics: Its topics, for the audio card.
    """

    lines: tuple[TranscriptLine, ...]
    translation: tuple[TranscriptLine, ...] = ()
    summary: str = ""
    topics: tuple[str, ...] = ()


class PlayerService:
    """Reads what the Player shows, on the library service's connection (small queries)."""

    def __init__(self, library: LibraryService) -> None:
        """Share ``library``'s connection."""
        self.library = library

    def transcript(self, item_id: int) -> list[TranscriptLine]:
        """The transcript; a line carries its speaker's name when the item has two or more."""
        from core.speakers.profiles import speaker_names

        lib = self.library.library()
        segments = lib.segments(item_id)
        names = speaker_names(lib.db, item_id)
        used = {s.speaker for s in segments if s.speaker is not None and s.text.strip()}
        shown = names if len(used) > 1 else {}
        return [
            TranscriptLine(
                s.start, s.end, s.text, shown.get(s.speaker) if s.speaker is not None else None
            )
            for s in segments
        ]

    def extras(self, item_id: int) -> ItemExtras:
        """Transcript, translation and summary of an item.

        Raises:
            NotFoundError: There is no such item.
        """
        from core.annotate import item_tags
        from core.ingest import stored_translation

        lib = self.library.library()
        lib.get_item(item_id)  # NotFoundError for an unknown id
        lines = self.transcript(item_id)
        translation = tuple(
            TranscriptLine(s.start, s.end, s.text) for s in stored_translation(lib, item_id)
        )
        tags = item_tags(lib, item_id)
        summary = tags.summary.value if tags.summary else ""
        topics = tuple(t.value for t in tags.topics)
        return ItemExtras(tuple(lines), translation, summary, topics)
