"""Listing, transcripts and export of one library."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from app.services.connection import LazyLibrary, no_attachment
from app.services.records import LibraryItem, TranscriptLine

if TYPE_CHECKING:
    from core.store import Library


# The library_meta key of the files removed from the library: path -> [size, mtime].
REMOVED_KEY = "removed_files"


class LibraryService:
    """Listing, transcripts and export for one library directory.

    The database is opened on first use (so it can happen in a worker). Calls are serialised
    by the library's own lock; the ingest process and the search worker use their own
    connections (SQLite WAL lets them read while ingest writes).
    """

    def __init__(self, directory: Path) -> None:
        """Bind to ``directory``; nothing is opened yet."""
        self.directory = Path(directory).expanduser()
        self._connection: LazyLibrary[None] = LazyLibrary(self.directory, no_attachment)

    @property
    def jobs_file(self) -> Path:
        """Where the job queue is persisted."""
        return self.directory / "jobs.json"

    def library(self) -> Library:
        """The open library (opened, created and migrated on first call).

        Raises:
            LibraryError: The directory or database cannot be used.
        """
        with self._connection.lock:
            return self._connection.open()[0]

    def items(self) -> list[LibraryItem]:
        """Every item, oldest first, with its topics, mood and rating once annotated."""
        from core.annotate.store import library_facets

        lib = self.library()
        facets = library_facets(lib)
        items = []
        for i in lib.items():
            status, error = lib.shown_status(i)  # 'interrupted' when its ingest died
            items.append(
                LibraryItem.from_core(replace(i, status=status, error=error), facets.get(i.id))
            )
        return items

    def item(self, item_id: int) -> LibraryItem:
        """One item.

        Raises:
            NotFoundError: There is no such item.
        """
        return LibraryItem.from_core(self.library().get_item(item_id))

    def transcript(self, item_id: int) -> list[TranscriptLine]:
        """An item's transcript segments."""
        return [TranscriptLine(s.start, s.end, s.text) for s in self.library().segments(item_id)]

    def export(self, item_id: int, fmt: str) -> str:
        """An item's transcript as SRT, WebVTT or plain text."""
        from core.transcript import to_srt, to_txt, to_vtt

        render = {"srt": to_srt, "vtt": to_vtt, "txt": to_txt}[fmt]
        return render(self.library().segments(item_id))

    def export_to(self, item_id: int, fmt: str, target: Path) -> None:
        """Write an export to ``target`` (atomically)."""
        text = self.export(item_id, fmt)
        tmp = target.with_name(target.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)

    def mark_interrupted(self, item_id: int, reason: str) -> None:
        """Record that an ingest was cancelled, so the item does not stay 'ingesting'."""
        lib = self.library()
        item = lib.get_item(item_id)
        if item.status == "ingesting":
            lib.mark_failed(item_id, reason)

    def remove(self, item_ids: Iterable[int]) -> list[int]:
        """Remove items with their transcripts, tags and history (their files stay on disk).

        One transaction: either every item goes or, on an error, none. The files are then
        remembered as removed, so a watched folder holding them does not add them back
        (until a file changes, or the user adds it again by hand).

        Raises:
            NotFoundError: One of them is not in the library any more.
        """
        lib = self.library()
        removed = lib.remove_items(list(item_ids))
        gone = self._removed_files()
        gone.update({i.path: [i.size, i.mtime] for i in removed if i.path})
        with lib.db.atomic():
            lib.db.execute(
                "INSERT OR REPLACE INTO library_meta (key, value) VALUES (?, ?)",
                (REMOVED_KEY, json.dumps(gone)),
            )
        return [i.id for i in removed]

    def _removed_files(self) -> dict[str, list[float]]:
        raw = self.library().db.scalar("SELECT value FROM library_meta WHERE key=?", (REMOVED_KEY,))
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:  # a damaged entry only means files may be offered again
            return {}
        return data if isinstance(data, dict) else {}

    def rename(self, item_id: int, title: str) -> LibraryItem:
        """Give an item a new title (Library, Search, Player and answers show it).

        Raises:
            UsageError: The title is empty.
        """
        return LibraryItem.from_core(self.library().rename_item(item_id, title))

    def relocate(self, item_id: int, path: Path) -> LibraryItem:
        """Point an item at the file it was moved to (the content must be the same).

        Raises:
            UsageError: The file is another recording or already another item.
        """
        from core.registry import sha256_file

        digest = sha256_file(Path(path))  # before taking the lock: it reads the whole file
        return LibraryItem.from_core(self.library().relocate_item(item_id, path, digest))

    def discover(self, paths: Iterable[Path]) -> list[Path]:
        """Expand files and folders into the files ingest would take (folders recursively)."""
        from core.ingest import discover

        files, missing = discover(paths)
        return files + [m.path for m in missing]

    def changed_files(self, paths: Iterable[Path]) -> list[Path]:
        """Like :meth:`discover`, without files stored unchanged (same size and mtime).

        Files the user removed from the library are left out too, until they change.
        """
        lib = self.library()
        removed = self._removed_files()
        out = []
        for path in self.discover(paths):
            item = lib.item_by_path(str(path))
            try:
                st = path.stat()
            except OSError:
                continue
            if item is None and removed.get(str(path)) == [st.st_size, st.st_mtime]:
                continue
            if (
                item
                and item.status == "ready"
                and (item.size, item.mtime)
                == (
                    st.st_size,
                    st.st_mtime,
                )
            ):
                continue
            out.append(path)
        return out

    def close(self) -> None:
        """Close the database."""
        self._connection.close()
