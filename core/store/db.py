"""The library database: one SQLite file, one connection owner, numbered migrations.

SQLite comes from ``apsw`` (which bundles its own SQLite) because the stdlib ``sqlite3`` of many
Python builds cannot load extensions, and the vector index needs the sqlite-vec extension.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from core.errors import DamagedLibraryError, DiskFullError, LibraryError

log = logging.getLogger(__name__)

SqlParams = Sequence[Any] | dict[str, Any]


@dataclass(frozen=True)
class Migration:
    """One numbered schema step; applied once, in order, inside a transaction."""

    number: int
    name: str
    sql: str


# "MMLB" in the SQLite header field that names the application owning a database file.
APPLICATION_ID = 0x4D4D4C42
# A library made before the marker existed is recognised by its first recorded schema step.
_FIRST_MIGRATION_NAME = "media items, transcript segments, chunks"
# Below this size (database plus WAL) the quick check reads every page; above it only the
# tables of what cannot be recomputed (items, reviews, history) and the schema are checked, so
# opening a large library stays fast. ``mediamind check`` always reads everything.
FULL_QUICK_CHECK_BYTES = 64 << 20
_PRECIOUS_TABLES = (
    "_migrations",
    "library_meta",
    "media_items",
    "annotations",
    "annotation_runs",
    "tags",
    "reviews",
    "review_draws",
    "watch_events",
)

# Append only: a migration that shipped is never edited, a new number is added instead.
MIGRATIONS: list[Migration] = [
    Migration(
        1,
        "media items, transcript segments, chunks",
        """
        CREATE TABLE media_items (
            id INTEGER PRIMARY KEY,
            path TEXT NOT NULL UNIQUE,
            sha256 TEXT,
            size INTEGER,
            mtime REAL,
            duration REAL,
            container TEXT,
            codec TEXT,
            kind TEXT NOT NULL DEFAULT 'audio'
                CHECK (kind IN ('audio', 'video', 'subtitle', 'transcript')),
            title TEXT NOT NULL,
            language TEXT,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'ingesting', 'ready', 'error')),
            error TEXT,
            transcript_source TEXT,
            added_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX media_items_sha256 ON media_items(sha256);

        CREATE TABLE segments (
            id INTEGER PRIMARY KEY,
            media_id INTEGER NOT NULL REFERENCES media_items(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            start REAL NOT NULL,
            end REAL NOT NULL,
            text TEXT NOT NULL,
            words TEXT,
            UNIQUE (media_id, idx)
        );

        CREATE TABLE chunks (
            id INTEGER PRIMARY KEY,
            media_id INTEGER NOT NULL REFERENCES media_items(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            start REAL NOT NULL,
            end REAL NOT NULL,
            text TEXT NOT NULL,
            first_segment INTEGER NOT NULL,
            last_segment INTEGER NOT NULL,
            prev_id INTEGER,
            next_id INTEGER,
            UNIQUE (media_id, idx)
        );

        -- Small key/value facts about the library, e.g. its content version for caches.
        CREATE TABLE library_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        INSERT INTO library_meta (key, value) VALUES ('content_version', '0');
        """,
    ),
    Migration(
        2,
        "full-text index, vector index and embedding cache for chunks",
        """
        -- BM25 over chunk text; an external-content table kept in step by triggers.
        CREATE VIRTUAL TABLE chunk_fts USING fts5(
            text, content='chunks', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        INSERT INTO chunk_fts (chunk_fts) VALUES ('rebuild');
        CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
            INSERT INTO chunk_fts (rowid, text) VALUES (new.id, new.text);
        END;
        CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
            INSERT INTO chunk_fts (chunk_fts, rowid, text) VALUES ('delete', old.id, old.text);
        END;
        CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text ON chunks BEGIN
            INSERT INTO chunk_fts (chunk_fts, rowid, text) VALUES ('delete', old.id, old.text);
            INSERT INTO chunk_fts (rowid, text) VALUES (new.id, new.text);
        END;

        -- One unit vector per chunk (all-MiniLM-L6-v2, 384-d). The metadata columns let
        -- sqlite-vec apply search filters during the KNN scan instead of after it.
        CREATE VIRTUAL TABLE chunk_vec USING vec0(
            chunk_id INTEGER PRIMARY KEY,
            embedding float[384] distance_metric=cosine,
            media_id INTEGER,
            kind TEXT,
            added_at TEXT
        );
        CREATE TRIGGER chunks_vec_delete AFTER DELETE ON chunks BEGIN
            DELETE FROM chunk_vec WHERE chunk_id = old.id;
        END;

        -- Vectors by (model, text): re-ingesting, re-chunking or importing the same text
        -- never runs the encoder again.
        CREATE TABLE embedding_cache (
            model_id TEXT NOT NULL,
            text_sha256 TEXT NOT NULL,
            vector BLOB NOT NULL,
            PRIMARY KEY (model_id, text_sha256)
        ) WITHOUT ROWID;
        """,
    ),
    Migration(
        3,
        "quantized companions of the chunk vectors for search at scale",
        """
        -- The sign bits of each chunk vector (vec_quantize_binary, 48 bytes). Search loads
        -- them into memory once and scans them by Hamming distance to pick candidates; ``id``
        -- orders the rows so that rows added since the last load can be read on their own.
        CREATE TABLE chunk_vec_bits (
            id INTEGER PRIMARY KEY,
            chunk_id INTEGER NOT NULL UNIQUE,
            media_id INTEGER NOT NULL,
            bits BLOB NOT NULL
        );
        -- The int8 copy of each vector (vec_quantize_int8 'unit', 384 bytes), read by chunk id
        -- to re-rank the Hamming candidates before the exact float re-rank.
        CREATE TABLE chunk_vec_int8 (
            chunk_id INTEGER PRIMARY KEY,
            vector BLOB NOT NULL
        );
        INSERT INTO chunk_vec_bits (chunk_id, media_id, bits)
            SELECT chunk_id, media_id, vec_quantize_binary(embedding) FROM chunk_vec
            ORDER BY chunk_id;
        INSERT INTO chunk_vec_int8 (chunk_id, vector)
            SELECT chunk_id, vec_quantize_int8(embedding, 'unit') FROM chunk_vec;
        CREATE TRIGGER chunks_vec_quantized_delete AFTER DELETE ON chunks BEGIN
            DELETE FROM chunk_vec_bits WHERE chunk_id = old.id;
            DELETE FROM chunk_vec_int8 WHERE chunk_id = old.id;
        END;
        -- Counts removed bit rows, so an in-memory copy knows when it must reload everything
        -- (rows only added are read incrementally by id).
        INSERT INTO library_meta (key, value) VALUES ('vector_bits_deleted', '0');
        CREATE TRIGGER chunk_vec_bits_delete AFTER DELETE ON chunk_vec_bits BEGIN
            UPDATE library_meta SET value = CAST(value AS INTEGER) + 1
            WHERE key = 'vector_bits_deleted';
        END;
        """,
    ),
    Migration(
        4,
        "answer cache for 'ask'",
        """
        -- Finished answers by (normalised question, options, model, content version); a row
        -- of an older content version can never match and is purged on the next write.
        CREATE TABLE answer_cache (
            key TEXT PRIMARY KEY,
            content_version INTEGER NOT NULL,
            question TEXT NOT NULL,
            answer TEXT NOT NULL,
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;
        """,
    ),
    Migration(
        5,
        "watch-event log and recommender caches",
        """
        -- Playback events; ``ts`` (unix seconds) orders them, ``at`` is the same UTC time in
        -- ISO-8601. A session is a run of events with gaps of at most 30 minutes.
        CREATE TABLE watch_events (
            id INTEGER PRIMARY KEY,
            media_id INTEGER NOT NULL REFERENCES media_items(id) ON DELETE CASCADE,
            kind TEXT NOT NULL
                CHECK (kind IN ('play', 'pause', 'seek', 'progress', 'complete')),
            position REAL NOT NULL CHECK (position >= 0),
            at TEXT NOT NULL,
            ts INTEGER NOT NULL,
            session_id INTEGER NOT NULL
        );
        CREATE INDEX watch_events_ts ON watch_events(ts, id);
        CREATE INDEX watch_events_media ON watch_events(media_id, ts);
        CREATE INDEX watch_events_session ON watch_events(session_id, media_id);

        -- The recommender's user state after the log's newest event, per model; a request
        -- whose key matches only runs the scorer.
        CREATE TABLE recommend_state (
            last_event_id INTEGER NOT NULL,
            model_id TEXT NOT NULL,
            content_version INTEGER NOT NULL,
            state BLOB NOT NULL,
            intent_embedding BLOB NOT NULL,
            intents TEXT NOT NULL,
            created_at TEXT NOT NULL,
            PRIMARY KEY (last_event_id, model_id)
        ) WITHOUT ROWID;

        -- Per item: the text the recommender embeds, its content vector and topic, valid for
        -- the library content version they were computed at.
        CREATE TABLE recommend_items (
            media_id INTEGER PRIMARY KEY REFERENCES media_items(id) ON DELETE CASCADE,
            content_version INTEGER NOT NULL,
            model_id TEXT NOT NULL,
            text_sha256 TEXT NOT NULL,
            vector BLOB NOT NULL,
            topic TEXT NOT NULL
        );
        """,
    ),
    Migration(
        6,
        "annotation: tags with provenance, human reviews, annotation runs",
        """
        -- One batch of 'mediamind annotate'; counts are updated as it goes, so an interrupted
        -- run shows how far it got.
        CREATE TABLE annotation_runs (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            model_id TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            items_total INTEGER NOT NULL DEFAULT 0,
            items_done INTEGER NOT NULL DEFAULT 0,
            items_skipped INTEGER NOT NULL DEFAULT 0,
            items_failed INTEGER NOT NULL DEFAULT 0
        );

        -- Per item: what its current tags were computed from. An item is annotated again only
        -- when its content hash, the model or the prompt version differs from this row.
        -- ``features`` keeps the item embedding and the raw classifier scores so topics can be
        -- re-scored after reviews without running the language model again.
        CREATE TABLE annotations (
            media_id INTEGER PRIMARY KEY REFERENCES media_items(id) ON DELETE CASCADE,
            content_sha256 TEXT NOT NULL,
            model_id TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            run_id INTEGER REFERENCES annotation_runs(id) ON DELETE SET NULL,
            annotated_at TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('done', 'error')),
            error TEXT,
            embedding BLOB,
            features TEXT
        );

        -- One tag of an item. ``status`` 'auto' is the machine's; 'accepted', 'edited' and
        -- 'rejected' were set by a reviewer and are gold: annotation never changes or deletes
        -- them. ``detail`` is JSON (entity type, safety reasons); ``chunk_ids`` JSON list.
        CREATE TABLE tags (
            id INTEGER PRIMARY KEY,
            media_id INTEGER NOT NULL REFERENCES media_items(id) ON DELETE CASCADE,
            type TEXT NOT NULL
                CHECK (type IN ('summary', 'topic', 'mood', 'entity', 'safety')),
            value TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT '{}',
            confidence REAL NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
            chunk_ids TEXT NOT NULL DEFAULT '[]',
            model_id TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            annotated_at TEXT NOT NULL,
            run_id INTEGER REFERENCES annotation_runs(id) ON DELETE SET NULL,
            status TEXT NOT NULL DEFAULT 'auto'
                CHECK (status IN ('auto', 'accepted', 'edited', 'rejected')),
            original_value TEXT,
            reviewed_at TEXT
        );
        CREATE INDEX tags_media ON tags(media_id, type);
        CREATE INDEX tags_facet ON tags(type, value, media_id);

        -- Tags handed out in a review queue and from which part of it: the uniform random
        -- sample ('random') is kept apart from lowest-confidence-first ('lowest') so quality
        -- estimates use only the unbiased sample.
        CREATE TABLE review_draws (
            tag_id INTEGER PRIMARY KEY REFERENCES tags(id) ON DELETE CASCADE,
            source TEXT NOT NULL CHECK (source IN ('random', 'lowest')),
            drawn_at TEXT NOT NULL
        );

        -- Every review decision, with the tag as it was when reviewed (the tag row itself may
        -- later be edited again); the quality report and the review-trained head read this.
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY,
            tag_id INTEGER REFERENCES tags(id) ON DELETE SET NULL,
            media_id INTEGER NOT NULL REFERENCES media_items(id) ON DELETE CASCADE,
            tag_type TEXT NOT NULL,
            decision TEXT NOT NULL CHECK (decision IN ('accept', 'reject', 'edit')),
            old_value TEXT NOT NULL,
            new_value TEXT,
            confidence REAL NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('random', 'lowest', 'direct')),
            model_id TEXT NOT NULL,
            prompt_version TEXT NOT NULL,
            annotated_at TEXT NOT NULL,
            reviewed_at TEXT NOT NULL
        );
        CREATE INDEX reviews_media ON reviews(media_id);
        """,
    ),
    Migration(
        7,
        "embedding cache as a rowid table: one page read per vector, less than half the size",
        """
        -- In a WITHOUT ROWID table each 1.5 KB vector overflowed into a page of its own
        -- (4.7 KB a vector at 1M chunks). A rowid table keeps the key in a small unique index
        -- and packs vectors into the table's leaf pages.
        CREATE TABLE embedding_cache_v2 (
            id INTEGER PRIMARY KEY,
            model_id TEXT NOT NULL,
            text_sha256 TEXT NOT NULL,
            vector BLOB NOT NULL,
            UNIQUE (model_id, text_sha256)
        );
        INSERT INTO embedding_cache_v2 (model_id, text_sha256, vector)
            SELECT model_id, text_sha256, vector FROM embedding_cache;
        DROP TABLE embedding_cache;
        ALTER TABLE embedding_cache_v2 RENAME TO embedding_cache;
        """,
    ),
    Migration(
        8,
        "mark the file as a MediaMind library (application_id)",
        # SQLite keeps this number in the file header: opening another application's database
        # as a library is recognised and refused instead of adding MediaMind's tables to it.
        f"PRAGMA application_id = {APPLICATION_ID};",
    ),
    Migration(
        9,
        "English translations of transcripts",
        """
        -- Timed English text of a non-English item (Whisper's translate task), kept beside
        -- the original transcript; its chunks' vectors are embedded from it (core/translation).
        CREATE TABLE translations (
            id INTEGER PRIMARY KEY,
            media_id INTEGER NOT NULL REFERENCES media_items(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            start REAL NOT NULL,
            end REAL NOT NULL,
            text TEXT NOT NULL,
            model_id TEXT NOT NULL,
            UNIQUE (media_id, idx)
        );
        """,
    ),
    Migration(
        10,
        "speaker profiles and per-segment speakers",
        """
        -- A voice known across the library. ``name`` is NULL until the user names it (shown
        -- as 'Speaker <id>'); a named profile is never re-pointed, re-named or moved by
        -- ingest. ``centroid`` is a float32 unit vector (GE2E, 256-d), the seconds-weighted
        -- mean of the item voices matched to it.
        CREATE TABLE speaker_profiles (
            id INTEGER PRIMARY KEY,
            name TEXT,
            centroid BLOB NOT NULL,
            seconds REAL NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            named_at TEXT
        );
        CREATE UNIQUE INDEX speaker_profiles_name ON speaker_profiles(name COLLATE NOCASE)
            WHERE name IS NOT NULL;

        -- The voices diarization found in one item: item-local label (as in
        -- segments.speaker) -> profile, with the voice's own centroid and seconds of speech.
        CREATE TABLE item_speakers (
            media_id INTEGER NOT NULL REFERENCES media_items(id) ON DELETE CASCADE,
            label INTEGER NOT NULL,
            profile_id INTEGER NOT NULL REFERENCES speaker_profiles(id),
            centroid BLOB NOT NULL,
            seconds REAL NOT NULL,
            PRIMARY KEY (media_id, label)
        );
        CREATE INDEX item_speakers_profile ON item_speakers(profile_id);

        -- Item-local speaker label of a segment; NULL when the item was not diarized.
        ALTER TABLE segments ADD COLUMN speaker INTEGER;
        """,
    ),
]


def utcnow() -> str:
    """Return the current UTC time as an ISO-8601 string (what the library stores)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def _load_sqlite_vec(conn: Any) -> None:
    import sqlite_vec

    conn.enable_load_extension(True)
    try:
        conn.load_extension(sqlite_vec.loadable_path())
    finally:
        conn.enable_load_extension(False)


def _disk_full(path: str, exc: BaseException | None = None) -> DiskFullError:
    return DiskFullError(
        f"The disk holding the library database {path} is full.",
        fix="Free some disk space and run the command again; the interrupted step was rolled "
        "back and nothing stored before it was changed.",
    )


def library_error(path: str, exc: BaseException) -> LibraryError:
    """The one line a database error on any path becomes (the traceback goes to the log)."""
    import apsw

    if isinstance(exc, (apsw.BusyError, apsw.LockedError)):
        return LibraryError(
            f"The library database {path} is busy: another MediaMind process is writing to it.",
            fix="Wait for it to finish and run the command again.",
        )
    if isinstance(exc, (apsw.ReadOnlyError, apsw.PermissionsError, apsw.CantOpenError)):
        return LibraryError(
            f"The library database {path} cannot be written ({exc}).",
            fix="Check that you may write to the library directory and its files.",
        )
    directory = Path(path).parent
    return DamagedLibraryError(
        f"The library database {path} could not be read ({type(exc).__name__}: {exc}).",
        fix=f"Run 'mediamind --library {directory} check' for details; "
        f"'mediamind --library {directory} restore' brings back the newest backup.",
    )


class Database:
    """Owns the one SQLite connection of a library.

    Use :meth:`atomic` for every multi-statement write: it nests (savepoints), and either all of
    a block's rows land or none do, even if the process is killed half way. Every SQLite error
    leaves this class as a :class:`LibraryError` (a full disk as :class:`DiskFullError`).
    """

    def __init__(
        self,
        path: Path | str,
        *,
        migrations: Sequence[Migration] = MIGRATIONS,
        check: bool = False,
        backups: int = 3,
    ) -> None:
        """Open (creating if needed) and migrate the database at ``path``.

        Args:
            path: The SQLite file, or ``":memory:"``.
            migrations: The schema steps; the default is the application's.
            check: Run :meth:`quick_check` before anything is written (migrations included).
            backups: Backups kept in ``<dir>/backups`` when a migration is about to change an
                existing library (one is taken before every migration run).

        Raises:
            LibraryError: The file is not a MediaMind library or cannot be opened.
            DamagedLibraryError: ``check`` found damage; nothing was written.
        """
        import apsw

        self.path = str(path)
        self._lock = threading.RLock()
        self._depth = 0
        self.conn: Any = None
        try:
            self.conn = apsw.Connection(self.path)
            self.conn.set_busy_timeout(10_000)
            _load_sqlite_vec(self.conn)
            self._check_identity()
            if check:
                problems = self.quick_check()
                if problems:
                    raise damaged_error(self.path, problems)
            if self.path != ":memory:":
                self._enable_wal()
            self.conn.execute("PRAGMA foreign_keys=ON")
            self.conn.execute("PRAGMA synchronous=NORMAL")
            self._migrate(migrations, backups)
        except LibraryError:
            self._close_quietly()
            raise
        except apsw.FullError as exc:
            self._close_quietly()
            raise _disk_full(self.path) from exc
        except (apsw.NotADBError, apsw.CorruptError) as exc:
            self._close_quietly()
            raise LibraryError(
                f"{self.path} is not a readable MediaMind library database ({exc}).",
                fix="Point --library at another directory, or restore the file from a backup "
                "with 'mediamind restore'.",
            ) from exc
        except apsw.CantOpenError as exc:
            self._close_quietly()
            raise LibraryError(
                f"Cannot open the library database {self.path}.",
                fix="Check that the directory exists and that you may write to it.",
            ) from exc
        except apsw.Error as exc:
            self._close_quietly()
            raise library_error(self.path, exc) from exc

    def _enable_wal(self) -> None:
        # Switching to WAL needs the file to itself, and SQLite answers "busy" at once instead
        # of waiting when another process holds it (two processes opening one new library:
        # seen in CI), so retry until the busy timeout; once any process has switched, the
        # mode is stored in the file and there is nothing left to do.
        import apsw

        deadline = time.monotonic() + 10.0
        while True:
            if self.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            try:
                self.conn.execute("PRAGMA journal_mode=WAL")
                return
            except apsw.BusyError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def _close_quietly(self) -> None:
        if self.conn is not None:
            self.conn.close()

    # -- identity and integrity ---------------------------------------------------------------

    def _check_identity(self) -> None:
        """Refuse a database that some other application made.

        Raises:
            LibraryError: The file holds tables but is not a MediaMind library.
        """
        app_id = self.conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id == APPLICATION_ID:
            return
        tables = {
            r[0] for r in self.conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")
        }
        if not tables or tables == {"_migrations"}:
            # A new, empty file becomes a library; one holding only the step log is being
            # made a library by another process at this moment (its first step is pending).
            return
        if app_id == 0 and "_migrations" in tables:
            first = self.conn.execute("SELECT name FROM _migrations WHERE number = 1").fetchone()
            if first is not None and first[0] == _FIRST_MIGRATION_NAME:
                return  # a library from before the marker; migration 8 adds it
        raise LibraryError(
            f"{self.path} is another application's SQLite database, not a MediaMind library; "
            "it was not changed.",
            fix="Point --library at a new or existing MediaMind library directory.",
        )

    def quick_check(self) -> list[str]:
        """A check cheap enough for every open: return the problems found (empty when sound).

        Small libraries get SQLite's ``quick_check`` of every page; large ones the file header,
        the schema and the tables holding what cannot be recomputed.
        """
        if self.path == ":memory:":
            return []
        problems = _header_problems(Path(self.path))
        if problems:
            return problems
        size = sum(
            p.stat().st_size for p in (Path(self.path), Path(self.path + "-wal")) if p.exists()
        )
        if size <= FULL_QUICK_CHECK_BYTES:
            return self._pragma_check("quick_check")
        tables = {
            r[0] for r in self.conn.execute("SELECT name FROM sqlite_schema WHERE type='table'")
        }
        problems = []
        for table in ("sqlite_schema", *(t for t in _PRECIOUS_TABLES if t in tables)):
            problems += self._pragma_check(f"quick_check({table})")
        return problems

    def integrity_check(self) -> list[str]:
        """SQLite's full ``integrity_check`` of every page and index; the problems found."""
        if self.path == ":memory:":
            return []
        return _header_problems(Path(self.path)) or self._pragma_check("integrity_check(100)")

    def _pragma_check(self, pragma: str) -> list[str]:
        import apsw

        with self._lock:
            try:
                rows = [str(r[0]) for r in self.conn.execute(f"PRAGMA {pragma}")]
            except apsw.Error as exc:
                return [f"{type(exc).__name__}: {exc}"]
        return check_problems(rows)

    # -- transactions -------------------------------------------------------------------------

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """Run a block in a transaction; nested blocks become savepoints.

        Raises:
            DiskFullError: SQLite ran out of disk space; the block was rolled back.
        """
        import apsw

        with self._lock:
            self._depth += 1
            name = f"mm_atomic_{self._depth}"
            try:
                with self.errors():
                    self.conn.execute(f"SAVEPOINT {name}")
                try:
                    yield
                except BaseException:
                    # SQLite may already have rolled the whole transaction back itself (it does
                    # on SQLITE_FULL); only unwind the savepoint when it still exists.
                    if not self.conn.getautocommit():
                        self.conn.execute(f"ROLLBACK TO {name}; RELEASE {name}")
                    raise
                with self.errors():
                    self.conn.execute(f"RELEASE {name}")
            except (apsw.FullError, DiskFullError) as exc:
                if not self.conn.getautocommit() and self._depth == 1:
                    self.conn.execute("ROLLBACK")
                if isinstance(exc, DiskFullError):
                    raise
                raise _disk_full(self.path) from exc
            finally:
                self._depth -= 1

    @contextmanager
    def errors(self) -> Iterator[None]:
        """Turn SQLite errors into the engine's: a full disk, or one line naming the library.

        Code that reads through ``conn`` directly (search's hot paths) runs inside this too.
        """
        import apsw

        try:
            yield
        except apsw.FullError as exc:
            raise _disk_full(self.path) from exc
        except apsw.Error as exc:
            log.debug("database error on %s", self.path, exc_info=True)
            raise library_error(self.path, exc) from exc

    # -- queries ------------------------------------------------------------------------------

    def execute(self, sql: str, params: SqlParams = ()) -> None:
        """Run one statement (or a script when ``params`` is empty) for its effect."""
        with self._lock, self.errors():
            for _ in self.conn.execute(sql, params):
                pass

    def executemany(self, sql: str, rows: Sequence[SqlParams]) -> None:
        """Run one statement for each parameter set in ``rows``."""
        with self._lock, self.errors():
            self.conn.cursor().executemany(sql, rows)

    def query(self, sql: str, params: SqlParams = ()) -> list[dict[str, Any]]:
        """Run a query and return its rows as dicts keyed by column name."""
        with self._lock, self.errors():
            cur = self.conn.cursor()
            # The description is only readable while the statement runs, hence the row trace.
            cur.row_trace = lambda c, row: dict(
                zip((d[0] for d in c.get_description()), row, strict=True)
            )
            return list(cur.execute(sql, params))

    def query_one(self, sql: str, params: SqlParams = ()) -> dict[str, Any] | None:
        """Run a query and return its first row, or ``None``."""
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def scalar(self, sql: str, params: SqlParams = ()) -> Any:
        """Run a query and return the first column of its first row (``None`` if no row)."""
        with self._lock, self.errors():
            row = self.conn.execute(sql, params).fetchone()
            return None if row is None else row[0]

    def last_insert_rowid(self) -> int:
        """Return the rowid of the last inserted row on this connection."""
        return int(self.conn.last_insert_rowid())

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            self.conn.close()

    # -- migrations ---------------------------------------------------------------------------

    def applied_migrations(self) -> list[int]:
        """Return the numbers of the migrations recorded in this database, ascending."""
        return [
            int(r["number"]) for r in self.query("SELECT number FROM _migrations ORDER BY number")
        ]

    def _migrate(self, migrations: Sequence[Migration], backups: int) -> None:
        self.execute(
            "CREATE TABLE IF NOT EXISTS _migrations ("
            " number INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        applied = set(self.applied_migrations())
        known = {m.number for m in migrations}
        if applied - known:
            raise LibraryError(
                f"The library {self.path} was written by a newer MediaMind "
                f"(schema step {max(applied)}; this version knows up to {max(known)}).",
                fix="Upgrade MediaMind, or open another library with --library.",
            )
        pending = sorted((m for m in migrations if m.number not in applied), key=lambda m: m.number)
        if pending and applied and self.path != ":memory:" and backups > 0:
            from core.store.snapshot import take_backup

            take_backup(self, f"before-schema-{pending[0].number}", keep=backups)
        for migration in pending:
            with self.atomic():
                # Recording the step first takes the write lock. Another process that opened
                # the same library at the same moment (the app and a command, say) may have
                # applied it while this one waited: then nothing was recorded, and it is skipped.
                self.execute(
                    "INSERT OR IGNORE INTO _migrations (number, name, applied_at) VALUES (?, ?, ?)",
                    (migration.number, migration.name, utcnow()),
                )
                if self.conn.changes() == 0:
                    continue
                log.info("applying migration %d: %s", migration.number, migration.name)
                self.execute(migration.sql)


def check_problems(rows: Sequence[str]) -> list[str]:
    """The problems in the rows of an integrity or quick check: one per line, [] for "ok"."""
    lines = [ln.strip() for row in rows for ln in str(row).splitlines()]
    return [ln for ln in lines if ln and ln != "ok" and not ln.startswith("*** in database")]


_SQLITE_MAGIC = b"SQLite format 3\x00"


def _header_problems(path: Path) -> list[str]:
    """What is wrong with a database file's 100-byte header (an empty list when nothing)."""
    try:
        with path.open("rb") as fh:
            header = fh.read(100)
    except OSError as exc:
        return [f"cannot read {path}: {exc.strerror}"]
    if not header:
        return []  # not created yet
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        return ["the file header is not an SQLite header"]
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        return [f"the header's page size {page_size} is impossible"]
    return []


def damaged_error(path: str, problems: Sequence[str]) -> DamagedLibraryError:
    """The refusal to write into a library that failed a check, with how to recover."""
    from core.store.snapshot import list_backups

    directory = Path(path).parent
    found = list_backups(directory)
    if found:
        how = (
            f"Run 'mediamind --library {directory} restore' to go back to the newest backup "
            f"({found[0].name}); the damaged file is kept beside it."
        )
    else:
        how = (
            "No backup exists yet: move the library directory away and ingest again, or "
            "recover what is readable with SQLite's '.recover' command."
        )
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    shown = "; ".join(problems[:3]) + more
    return DamagedLibraryError(
        f"The library database {path} is damaged ({shown}); MediaMind will not write to it.",
        fix=how,
    )
