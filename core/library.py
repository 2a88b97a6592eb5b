"""A library: a directory with one SQLite file of media items, transcripts and chunks."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from core.db import Database, utcnow
from core.errors import DiskFullError, LibraryError, NotFoundError
from core.paths import DB_FILENAME
from core.transcript import ChunkSpan, Segment, Word, make_chunks

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MediaItem:
    """One item of the library (a media file, a subtitle file or an imported transcript)."""

    id: int
    path: str
    sha256: str | None
    size: int | None
    mtime: float | None
    duration: float | None
    container: str | None
    codec: str | None
    kind: str
    title: str
    language: str | None
    status: str
    error: str | None
    transcript_source: str | None
    added_at: str
    updated_at: str

    def summary(self) -> dict[str, Any]:
        """The fields ``mediamind library --json`` prints."""
        return {
            "id": self.id,
            "title": self.title,
            "path": self.path,
            "duration": self.duration,
            "status": self.status,
            "kind": self.kind,
            "language": self.language,
            "error": self.error,
        }


@dataclass(frozen=True)
class Chunk:
    """A stored ~30 s window of an item's transcript, linked to its neighbours."""

    id: int
    media_id: int
    idx: int
    start: float
    end: float
    text: str
    first_segment: int
    last_segment: int
    prev_id: int | None
    next_id: int | None


@dataclass(frozen=True)
class ItemMetadata:
    """What ingest learned about a file, written together with its transcript."""

    sha256: str | None
    size: int | None
    mtime: float | None
    duration: float | None
    container: str | None
    codec: str | None
    kind: str
    title: str
    language: str | None
    transcript_source: str


_ITEM_COLUMNS = ", ".join(f.name for f in fields(MediaItem))
_CHUNK_COLUMNS = ", ".join(f.name for f in fields(Chunk))


def _words_json(words: tuple[Word, ...] | None) -> str | None:
    if not words:
        return None
    return json.dumps(
        [[round(w.start, 3), round(w.end, 3), w.word, round(w.probability, 4)] for w in words]
    )


def _words_from_json(raw: str | None) -> tuple[Word, ...] | None:
    if not raw:
        return None
    return tuple(Word(float(a), float(b), str(c), float(d)) for a, b, c, d in json.loads(raw))


class Library:
    """The media library stored in ``<directory>/library.sqlite``."""

    def __init__(self, directory: Path | str) -> None:
        """Open the library in ``directory``, creating it if needed.

        Raises:
            LibraryError: The directory cannot be created or the database cannot be opened.
            DiskFullError: There is no room to create it.
        """
        self.directory = Path(directory).expanduser()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            if exc.errno == 28:
                raise DiskFullError(
                    f"No space left to create the library {self.directory}.",
                    fix="Free some disk space.",
                ) from exc
            raise LibraryError(
                f"Cannot create the library directory {self.directory} ({exc.strerror}).",
                fix="Choose a folder you may write to with --library or MEDIAMIND_LIBRARY.",
            ) from exc
        self.db = Database(self.directory / DB_FILENAME)

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- items --------------------------------------------------------------------------------

    def items(self, status: str | None = None) -> list[MediaItem]:
        """Return all items (optionally of one status), oldest first."""
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows = self.db.query(f"SELECT {_ITEM_COLUMNS} FROM media_items {where} ORDER BY id", params)
        return [MediaItem(**r) for r in rows]

    def get_item(self, item_id: int) -> MediaItem:
        """Return the item with id ``item_id``.

        Raises:
            NotFoundError: There is no such item.
        """
        row = self.db.query_one(f"SELECT {_ITEM_COLUMNS} FROM media_items WHERE id = ?", (item_id,))
        if row is None:
            raise NotFoundError(
                f"There is no item {item_id} in the library {self.directory}.",
                fix="Run 'mediamind library' to list the items and their ids.",
            )
        return MediaItem(**row)

    def item_by_path(self, path: str) -> MediaItem | None:
        """Return the item stored for ``path``, if any."""
        row = self.db.query_one(f"SELECT {_ITEM_COLUMNS} FROM media_items WHERE path = ?", (path,))
        return MediaItem(**row) if row else None

    def upsert_pending(self, path: str, title: str, kind: str) -> int:
        """Record that ``path`` is being ingested (status ``ingesting``); return its id.

        An existing item keeps its transcript and metadata until :meth:`store_transcript`
        replaces them in one transaction.
        """
        now = utcnow()
        with self.db.atomic():
            existing = self.item_by_path(path)
            if existing:
                self.db.execute(
                    "UPDATE media_items SET status='ingesting', error=NULL, updated_at=? "
                    "WHERE id=?",
                    (now, existing.id),
                )
                return existing.id
            self.db.execute(
                "INSERT INTO media_items (path, title, kind, status, added_at, updated_at) "
                "VALUES (?, ?, ?, 'ingesting', ?, ?)",
                (path, title, kind, now, now),
            )
            return self.db.last_insert_rowid()

    def mark_failed(self, item_id: int, error: str) -> None:
        """Set an item's status to ``error`` with a message; its stored rows stay as they were."""
        with self.db.atomic():
            self.db.execute(
                "UPDATE media_items SET status='error', error=?, updated_at=? WHERE id=?",
                (error, utcnow(), item_id),
            )

    def touch(self, item_id: int, mtime: float) -> None:
        """Record a new mtime for an item whose content did not change."""
        with self.db.atomic():
            self.db.execute("UPDATE media_items SET mtime=? WHERE id=?", (mtime, item_id))

    def store_transcript(
        self,
        item_id: int,
        meta: ItemMetadata,
        segments: Sequence[Segment],
        embed: Callable[[list[str]], Any] | None = None,
    ) -> list[Chunk]:
        """Replace an item's segments, chunks and vectors and mark it ready, in one transaction.

        Args:
            item_id: The item.
            meta: What ingest learned about the file.
            segments: The full transcript.
            embed: Turns chunk texts into vectors (called before the transaction starts, so
                the write lock is held only for the writes).

        Returns:
            The new chunks, with their ids and neighbour links.
        """
        spans = make_chunks(segments)
        vectors = embed([c.text for c in spans]) if embed is not None and spans else None
        with self.db.atomic():
            self.db.execute("DELETE FROM chunks WHERE media_id=?", (item_id,))
            self.db.execute("DELETE FROM segments WHERE media_id=?", (item_id,))
            self.db.executemany(
                "INSERT INTO segments (media_id, idx, start, end, text, words) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (item_id, i, s.start, s.end, s.text, _words_json(s.words))
                    for i, s in enumerate(segments)
                ],
            )
            chunks = self._insert_chunks(item_id, spans)
            if vectors is not None:
                from core.search import write_vectors  # search builds on library: no cycle

                added = self.db.scalar("SELECT added_at FROM media_items WHERE id=?", (item_id,))
                write_vectors(
                    self.db,
                    [
                        (c.id, v, item_id, meta.kind, added)
                        for c, v in zip(chunks, vectors, strict=True)
                    ],
                )
            self.db.execute(
                "UPDATE media_items SET sha256=?, size=?, mtime=?, duration=?, container=?, "
                "codec=?, kind=?, title=?, language=?, transcript_source=?, status='ready', "
                "error=NULL, updated_at=? WHERE id=?",
                (
                    meta.sha256,
                    meta.size,
                    meta.mtime,
                    meta.duration,
                    meta.container,
                    meta.codec,
                    meta.kind,
                    meta.title,
                    meta.language,
                    meta.transcript_source,
                    utcnow(),
                    item_id,
                ),
            )
            self._bump_content_version()
        return chunks

    def _insert_chunks(self, item_id: int, spans: Sequence[ChunkSpan]) -> list[Chunk]:
        ids: list[int] = []
        for c in spans:
            self.db.execute(
                "INSERT INTO chunks (media_id, idx, start, end, text, first_segment, "
                "last_segment) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (item_id, c.idx, c.start, c.end, c.text, c.first_segment, c.last_segment),
            )
            ids.append(self.db.last_insert_rowid())
        self.db.executemany(
            "UPDATE chunks SET prev_id=?, next_id=? WHERE id=?",
            [
                (ids[i - 1] if i > 0 else None, ids[i + 1] if i + 1 < len(ids) else None, ids[i])
                for i in range(len(ids))
            ],
        )
        return self.chunks(item_id)

    def delete_item(self, item_id: int) -> None:
        """Remove an item with its segments and chunks."""
        with self.db.atomic():
            self.db.execute("DELETE FROM media_items WHERE id=?", (item_id,))
            self._bump_content_version()

    # -- transcripts --------------------------------------------------------------------------

    def segments(self, item_id: int) -> list[Segment]:
        """Return an item's transcript segments in order."""
        rows = self.db.query(
            "SELECT start, end, text, words FROM segments WHERE media_id=? ORDER BY idx",
            (item_id,),
        )
        return [
            Segment(r["start"], r["end"], r["text"], _words_from_json(r["words"])) for r in rows
        ]

    def chunks(self, item_id: int) -> list[Chunk]:
        """Return an item's chunks in order."""
        rows = self.db.query(
            f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE media_id=? ORDER BY idx", (item_id,)
        )
        return [Chunk(**r) for r in rows]

    def get_chunk(self, chunk_id: int) -> Chunk:
        """Return one chunk by id.

        Raises:
            NotFoundError: There is no such chunk.
        """
        row = self.db.query_one(f"SELECT {_CHUNK_COLUMNS} FROM chunks WHERE id=?", (chunk_id,))
        if row is None:
            raise NotFoundError(f"There is no chunk {chunk_id} in the library.")
        return Chunk(**row)

    # -- bookkeeping --------------------------------------------------------------------------

    @property
    def content_version(self) -> int:
        """A counter that changes whenever any transcript is added, replaced or removed."""
        return int(
            self.db.scalar("SELECT value FROM library_meta WHERE key='content_version'") or 0
        )

    def _bump_content_version(self) -> None:
        self.db.execute(
            "UPDATE library_meta SET value = CAST(value AS INTEGER) + 1 WHERE key='content_version'"
        )
