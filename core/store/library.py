"""A library: a directory with one SQLite file of media items, transcripts and chunks."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import DiskFullError, LibraryError, NotFoundError, UsageError
from core.paths import DB_FILENAME
from core.store.db import Database, utcnow
from core.store.vectors import write_vectors
from core.transcript import ChunkSpan, Segment, Word, make_chunks

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

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
            "transcript_source": self.transcript_source,  # e.g. whisper:tiny.en, subtitle
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

    def __init__(self, directory: Path | str, *, create: bool = True, check: bool = True) -> None:
        """Open the library in ``directory``, creating it if needed.

        Args:
            directory: The library directory.
            create: Create the library when there is none; a command that only reads passes
                False, so a mistyped path is reported instead of becoming an empty library.
            check: Run the database's quick check before anything can be written; a damaged
                library is refused (see :meth:`core.store.db.Database.quick_check`).

        Raises:
            LibraryError: The directory cannot be created, holds no library (``create``
                False), or the database cannot be opened or is another application's.
            DamagedLibraryError: ``check`` found damage; nothing was written.
            DiskFullError: There is no room to create it.
        """
        self.directory = Path(directory).expanduser()
        if not create and not (self.directory / DB_FILENAME).is_file():
            raise LibraryError(
                f"There is no library at {self.directory}.",
                fix="Check the path given with --library or MEDIAMIND_LIBRARY; "
                "'mediamind ingest PATH' creates a library.",
            )
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
        self.db = Database(self.directory / DB_FILENAME, check=check)

    def close(self) -> None:
        """Close the database connection."""
        self.db.close()

    # -- running ingests ----------------------------------------------------------------------

    _INGEST_LOCK = ".ingest.lock"

    @contextmanager
    def ingest_running(self) -> Iterator[None]:
        """Hold a shared lock on the library while an ingest runs (several may run at once).

        The operating system drops the lock when the process dies, however it dies, so an item
        left ``ingesting`` with the lock free was interrupted (see :meth:`ingest_in_progress`).
        """
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock, items show as ingesting until the next run
            yield
            return
        fd = os.open(self.directory / self._INGEST_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

    def ingest_in_progress(self) -> bool:
        """Whether some process is ingesting into this library now (True when unknown)."""
        try:
            import fcntl
        except ImportError:
            return True
        try:
            fd = os.open(self.directory / self._INGEST_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        finally:
            os.close(fd)  # closing drops the lock taken just to test it
        return False

    def shown_status(self, item: MediaItem) -> tuple[str, str | None]:
        """An item's status and error as shown to the user.

        An item still marked ``ingesting`` while no ingest runs was cut off (a kill, a power
        cut): it shows as ``interrupted`` until an ingest finishes it.
        """
        if item.status == "ingesting" and not self.ingest_in_progress():
            return "interrupted", "interrupted; run ingest again to finish it"
        return item.status, item.error

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
        """Set an item's status to ``error`` with a message.

        A complete transcript stays as it was. The first batches of a transcript that was cut
        off (see :class:`TranscriptWriter`) are removed in the same transaction, so a failed
        item is never half searchable.
        """
        with self.db.atomic():
            if not self.has_complete_transcript(item_id):
                removed = self.db.scalar(
                    "SELECT count(*) FROM chunks WHERE media_id=?", (item_id,)
                ) or self.db.scalar("SELECT count(*) FROM segments WHERE media_id=?", (item_id,))
                if removed:
                    self.db.execute("DELETE FROM chunks WHERE media_id=?", (item_id,))
                    self.db.execute("DELETE FROM segments WHERE media_id=?", (item_id,))
                    self._bump_content_version()
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
        *,
        on_complete: Callable[[], None] | None = None,
    ) -> list[Chunk]:
        """Replace an item's segments, chunks and vectors and mark it ready, in one transaction.

        Args:
            item_id: The item.
            meta: What ingest learned about the file.
            segments: The full transcript.
            embed: Turns chunk texts into vectors (called before the transaction starts, so
                the write lock is held only for the writes).
            on_complete: More writes that belong to the item's completion (its speakers),
                run inside the same transaction.

        Returns:
            The new chunks, with their ids and neighbour links.
        """
        spans = make_chunks(segments)
        vectors = embed([c.text for c in spans]) if embed is not None and spans else None
        return self._replace_transcript(
            item_id, meta, segments, spans, vectors, on_complete=on_complete
        )

    def transcript_writer(
        self,
        item_id: int,
        meta: ItemMetadata,
        embed: Callable[[list[str]], Any] | None = None,
        *,
        batch_chunks: int = 4,
    ) -> TranscriptWriter:
        """A writer that stores an item's transcript while it is being produced.

        See :class:`TranscriptWriter` for when its chunks become searchable.

        Args:
            item_id: The item (made by :meth:`upsert_pending`).
            meta: What ingest learned about the file; written in full on completion.
            embed: Turns chunk texts into vectors; ``None`` stores chunks without vectors.
            batch_chunks: Finished chunks embedded (and, for a new item, committed) together.

        Returns:
            The writer; feed it with :meth:`TranscriptWriter.add`, end with
            :meth:`TranscriptWriter.finish`.
        """
        return TranscriptWriter(self, item_id, meta, embed, batch_chunks=batch_chunks)

    def has_complete_transcript(self, item_id: int) -> bool:
        """Whether the item's stored rows are a whole transcript (not one cut off mid-file).

        An item's ``sha256`` is written only in the transaction that completes its transcript
        (:meth:`store_transcript`, :meth:`TranscriptWriter.finish`), so an item without one
        holds nothing or the first batches of a run that has not finished (or died).
        """
        return self.db.scalar("SELECT sha256 FROM media_items WHERE id=?", (item_id,)) is not None

    def has_segments(self, item_id: int) -> bool:
        """Whether the item has any transcript text (media without speech has none)."""
        row = self.db.scalar("SELECT 1 FROM segments WHERE media_id=? LIMIT 1", (item_id,))
        return row is not None

    def _replace_transcript(
        self,
        item_id: int,
        meta: ItemMetadata,
        segments: Sequence[Segment],
        spans: Sequence[ChunkSpan],
        vectors: Any,
        *,
        on_complete: Callable[[], None] | None = None,
    ) -> list[Chunk]:
        """Swap an item's rows for a complete transcript and mark it ready, in one transaction."""
        with self.db.atomic():
            self.db.execute("DELETE FROM chunks WHERE media_id=?", (item_id,))
            self.db.execute("DELETE FROM segments WHERE media_id=?", (item_id,))
            self._insert_segments(item_id, segments, 0)
            ids = self._insert_chunk_rows(item_id, spans, None)
            if vectors is not None:
                self._write_vectors(item_id, meta.kind, ids, vectors)
            if on_complete is not None:
                on_complete()
            self._write_metadata(item_id, meta, complete=True)
            self._bump_content_version()
        return self.chunks(item_id)

    def _insert_segments(self, item_id: int, segments: Sequence[Segment], first_idx: int) -> None:
        self.db.executemany(
            "INSERT INTO segments (media_id, idx, start, end, text, words, speaker) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (item_id, first_idx + i, s.start, s.end, s.text, _words_json(s.words), s.speaker)
                for i, s in enumerate(segments)
            ],
        )

    def _insert_chunk_rows(
        self, item_id: int, spans: Sequence[ChunkSpan], prev_id: int | None
    ) -> list[int]:
        """Insert chunks in order, linked to each other and to the stored chunk ``prev_id``."""
        ids: list[int] = []
        for c in spans:
            self.db.execute(
                "INSERT INTO chunks (media_id, idx, start, end, text, first_segment, "
                "last_segment) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (item_id, c.idx, c.start, c.end, c.text, c.first_segment, c.last_segment),
            )
            ids.append(self.db.last_insert_rowid())
        if not ids:
            return ids
        chain = [prev_id, *ids]
        self.db.executemany(
            "UPDATE chunks SET prev_id=?, next_id=? WHERE id=?",
            [
                (chain[i], chain[i + 2] if i + 2 < len(chain) else None, chain[i + 1])
                for i in range(len(ids))
            ],
        )
        if prev_id is not None:
            self.db.execute("UPDATE chunks SET next_id=? WHERE id=?", (ids[0], prev_id))
        return ids

    def _write_vectors(self, item_id: int, kind: str, ids: Sequence[int], vectors: Any) -> None:
        added = self.db.scalar("SELECT added_at FROM media_items WHERE id=?", (item_id,))
        write_vectors(
            self.db, [(cid, v, item_id, kind, added) for cid, v in zip(ids, vectors, strict=True)]
        )

    def _write_metadata(self, item_id: int, meta: ItemMetadata, *, complete: bool) -> None:
        """Write what ingest learned; only ``complete`` writes sha256/size/mtime and 'ready'.

        An unfinished item keeps ``sha256`` NULL: that is what marks its rows as partial
        (:meth:`has_complete_transcript`), and size/mtime would let a later run skip it.
        """
        values = (
            meta.duration,
            meta.container,
            meta.codec,
            meta.kind,
            meta.title,
            meta.language,
            meta.transcript_source,
            utcnow(),
        )
        if not complete:
            self.db.execute(
                "UPDATE media_items SET duration=?, container=?, codec=?, kind=?, title=?, "
                "language=?, transcript_source=?, updated_at=? WHERE id=?",
                (*values, item_id),
            )
            return
        self.db.execute(
            "UPDATE media_items SET duration=?, container=?, codec=?, kind=?, title=?, "
            "language=?, transcript_source=?, updated_at=?, sha256=?, size=?, mtime=?, "
            "status='ready', error=NULL WHERE id=?",
            (*values, meta.sha256, meta.size, meta.mtime, item_id),
        )

    def delete_item(self, item_id: int) -> None:
        """Remove an item with everything stored about it (see :meth:`remove_items`)."""
        self.remove_items([item_id])

    # Every table that holds rows of one item, children first. Deleting a chunk also deletes
    # its full-text row and its vectors (float, bits, int8) through the triggers of
    # migrations 2 and 3; ``reviews`` and ``review_draws`` go before the tags they point at.
    _ITEM_TABLES = (
        "chunks",
        "segments",
        "translations",
        "review_draws",
        "reviews",
        "tags",
        "annotations",
        "watch_events",
        "item_speakers",
        "recommend_items",
    )

    def remove_items(self, item_ids: Sequence[int]) -> list[MediaItem]:
        """Remove items from the library, in one transaction; their files stay on disk.

        Goes: the items' chunks with their full-text rows and vectors, segments,
        translations, tags with their reviews, annotations, watch events, speaker links
        (and unnamed speaker profiles no other item uses), recommender rows, then the items.
        Either all of it happens or, on any error, none of it.

        Returns:
            The removed items, as they were.

        Raises:
            NotFoundError: One of the ids is not an item; nothing was removed.
        """
        ids = list(dict.fromkeys(int(i) for i in item_ids))
        with self.db.atomic():
            removed = [self.get_item(i) for i in ids]  # every id checked before any write
            for item_id in ids:
                self.db.execute(
                    "DELETE FROM review_draws WHERE tag_id IN "
                    "(SELECT id FROM tags WHERE media_id=?)",
                    (item_id,),
                )
                for table in self._ITEM_TABLES:
                    if table != "review_draws":
                        self.db.execute(f"DELETE FROM {table} WHERE media_id=?", (item_id,))
                self.db.execute("DELETE FROM media_items WHERE id=?", (item_id,))
            if ids:
                # A voice heard only in the removed items (named voices are the user's).
                self.db.execute(
                    "DELETE FROM speaker_profiles WHERE name IS NULL AND id NOT IN "
                    "(SELECT profile_id FROM item_speakers)"
                )
                self.db.execute("DELETE FROM recommend_state")  # built from the removed events
                self._bump_content_version()
        return removed

    def rename_item(self, item_id: int, title: str) -> MediaItem:
        """Give an item a new title (what every view and search result shows).

        Raises:
            NotFoundError: There is no such item.
            UsageError: The title is empty.
        """
        title = " ".join(title.split())
        if not title:
            raise UsageError(
                "A title cannot be empty.", fix="Type at least one letter for the new title."
            )
        with self.db.atomic():
            self.get_item(item_id)
            self.db.execute(
                "UPDATE media_items SET title=?, updated_at=? WHERE id=?",
                (title, utcnow(), item_id),
            )
            self._bump_content_version()  # search results and answers cache titles
        return self.get_item(item_id)

    def relocate_item(self, item_id: int, path: Path | str, sha256: str | None) -> MediaItem:
        """Point an item at the file it was moved to, keeping its transcript and tags.

        Args:
            item_id: The item.
            path: Where the file is now.
            sha256: The file's sha256 (the caller reads the file, outside the lock); it must
                be the one stored, so a different recording never takes over a transcript.

        Raises:
            NotFoundError: There is no such item.
            UsageError: The file is another recording, or another item already has it.
        """
        path = str(Path(path).expanduser().resolve())
        with self.db.atomic():
            item = self.get_item(item_id)
            if item.sha256 is not None and sha256 != item.sha256:
                raise UsageError(
                    f"{path} is not the file of '{item.title}' (its content differs).",
                    fix="Pick the moved file itself, or add this one to the library as new.",
                )
            other = self.item_by_path(path)
            if other is not None and other.id != item_id:
                raise UsageError(
                    f"{path} is already in the library as '{other.title}' (item {other.id}).",
                    fix="Remove one of the two items first.",
                )
            try:
                mtime: float | None = os.stat(path).st_mtime
            except OSError:
                mtime = item.mtime
            self.db.execute(
                "UPDATE media_items SET path=?, mtime=?, updated_at=? WHERE id=?",
                (path, mtime, utcnow(), item_id),
            )
        return self.get_item(item_id)

    # -- transcripts --------------------------------------------------------------------------

    def segments(self, item_id: int) -> list[Segment]:
        """Return an item's transcript segments in order."""
        rows = self.db.query(
            "SELECT start, end, text, words, speaker FROM segments WHERE media_id=? ORDER BY idx",
            (item_id,),
        )
        return [
            Segment(r["start"], r["end"], r["text"], _words_from_json(r["words"]), r["speaker"])
            for r in rows
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


class TranscriptWriter:
    """Stores one item's transcript while it is being produced, a batch of chunks at a time.

    Segments are fed in order with :meth:`add`. A chunk is *finished* once a later segment
    shows where it ends; the chunks are exactly those of :func:`make_chunks` over the whole
    transcript, and the last one is closed only by :meth:`finish`. Every ``batch_chunks``
    finished chunks are embedded together, so embedding keeps pace with transcription. What
    happens to a batch then depends on what the item held when the writer was made:

    * **Live** (no complete transcript: a new file, or one whose last run died): the batch is
      committed in one transaction (its segments, chunks, full-text rows, vectors and a
      content-version bump), so another connection's search finds it while the file is still
      being transcribed; the item stays ``ingesting``. The first commit also deletes whatever
      rows a dead earlier run left. :meth:`finish` commits the rest with the full metadata and
      status ``ready``.
    * **Staged** (a complete transcript exists, i.e. a changed file is re-ingested): the old
      transcript stays in place and searchable; the new chunks' vectors are kept in memory and
      :meth:`finish` swaps old rows for new in one transaction. (Writing the new rows beside
      the old would show both in search and in the item's chunk list until the swap.)

    If the run stops before :meth:`finish`, a live item keeps its committed batches (each one
    whole) with ``sha256`` NULL; :meth:`Library.mark_failed` or the next run removes them.
    """

    def __init__(
        self,
        library: Library,
        item_id: int,
        meta: ItemMetadata,
        embed: Callable[[list[str]], Any] | None,
        *,
        batch_chunks: int = 4,
    ) -> None:
        """Bind to an item; prefer :meth:`Library.transcript_writer`."""
        self.library = library
        self.item_id = item_id
        self.meta = meta
        self.batch_chunks = max(1, batch_chunks)
        self.live = not library.has_complete_transcript(item_id)
        self._embed = embed
        self._segments: list[Segment] = []
        self._spans: list[ChunkSpan] = []  # finished chunks, in order
        self._vectors: list[NDArray[np.float32]] = []  # one per embedded chunk (staged mode)
        self._embedded = 0  # chunks of _spans that went through a batch
        self._open_from = 0  # first segment not in a finished chunk
        self._segments_stored = 0  # live: segments already committed
        self._last_chunk_id: int | None = None  # live: the newest committed chunk
        self._cleared = False  # live: rows of an earlier run deleted
        self._finished = False
        self.indexed = 0  # chunks of this transcript that search finds
        # Extra writes of the completing transaction (the item's speakers); set before finish.
        self.on_complete: Callable[[], None] | None = None

    def add(self, segments: Sequence[Segment]) -> int:
        """Append segments; embed (and in live mode commit) a batch when one is full.

        Args:
            segments: The next segments of the transcript, in order.

        Returns:
            How many chunks became searchable by this call (0 in staged mode).
        """
        if self._finished:
            raise RuntimeError("TranscriptWriter.add() after finish()")
        self._segments.extend(segments)
        self._take_chunks(final=False)
        before = self.indexed
        if len(self._spans) - self._embedded >= self.batch_chunks:
            self._flush(final=False)
        return self.indexed - before

    def finish(self) -> list[Chunk]:
        """Close the last chunk and complete the item (status ``ready``) in one transaction.

        Returns:
            The item's chunks, with their ids and neighbour links.
        """
        if self._finished:
            raise RuntimeError("TranscriptWriter.finish() called twice")
        self._take_chunks(final=True)
        self._flush(final=True)
        self._finished = True
        return self.library.chunks(self.item_id)

    def _take_chunks(self, *, final: bool) -> None:
        """Move newly finished chunks (all remaining ones when ``final``) into ``_spans``.

        :func:`make_chunks` decides each cut from the segments up to the one that triggers
        it, so chunking only the segments after the last finished chunk gives the same chunks
        as chunking the whole transcript; all but the last are finished.
        """
        offset = self._open_from
        tail = make_chunks(self._segments[offset:])
        done = tail if final else tail[:-1]
        for span in done:
            self._spans.append(
                replace(
                    span,
                    idx=len(self._spans),
                    first_segment=span.first_segment + offset,
                    last_segment=span.last_segment + offset,
                )
            )
        if done:
            self._open_from = self._spans[-1].last_segment + 1

    def _flush(self, *, final: bool) -> None:
        spans = self._spans[self._embedded :]
        vectors = (
            self._embed([c.text for c in spans]) if self._embed is not None and spans else None
        )
        self._embedded = len(self._spans)
        if not self.live:
            if vectors is not None:
                self._vectors.extend(vectors)
            if final:
                self.library._replace_transcript(
                    self.item_id,
                    self.meta,
                    self._segments,
                    self._spans,
                    self._vectors if self._embed is not None and self._spans else None,
                    on_complete=self.on_complete,
                )
                self.indexed = len(self._spans)
            return
        lib, db = self.library, self.library.db
        # Segments up to the batch's last chunk; on completion all (trailing empty ones too).
        seg_end = len(self._segments) if final else spans[-1].last_segment + 1
        with db.atomic():
            if not self._cleared:
                db.execute("DELETE FROM chunks WHERE media_id=?", (self.item_id,))
                db.execute("DELETE FROM segments WHERE media_id=?", (self.item_id,))
                self._cleared = True
            lib._insert_segments(
                self.item_id,
                self._segments[self._segments_stored : seg_end],
                self._segments_stored,
            )
            ids = lib._insert_chunk_rows(self.item_id, spans, self._last_chunk_id)
            if vectors is not None:
                lib._write_vectors(self.item_id, self.meta.kind, ids, vectors)
            if final and self.on_complete is not None:
                self.on_complete()
            lib._write_metadata(self.item_id, self.meta, complete=final)
            lib._bump_content_version()
        self._segments_stored = seg_end
        if ids:
            self._last_chunk_id = ids[-1]
        self.indexed += len(ids)
