"""Backups, restore and the full check of a library database.

A backup is a consistent copy made with SQLite's online backup API while the library stays
open, written under a temporary name and renamed into ``<library>/backups`` so a crash never
leaves a half backup that looks whole. One is taken before every schema migration (the last
few are kept) and on demand (``mediamind backup``, kept until deleted by hand). A restore
never deletes anything: the files it replaces are moved into ``backups/replaced-<time>/``.
"""

from __future__ import annotations

import errno
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from core.errors import DamagedLibraryError, DiskFullError, LibraryError, NotFoundError
from core.paths import DB_FILENAME

log = logging.getLogger(__name__)

BACKUP_DIRNAME = "backups"
_PREFIX = "library-"
_SUFFIX = ".sqlite"
_AUTOMATIC = "-before-"


def backups_dir(library_dir: Path) -> Path:
    """Where a library's backups live."""
    return Path(library_dir) / BACKUP_DIRNAME


def list_backups(library_dir: Path) -> list[Path]:
    """The library's backups, newest first."""
    folder = backups_dir(library_dir)
    if not folder.is_dir():
        return []
    found = [
        p
        for p in folder.iterdir()
        if p.is_file() and p.name.startswith(_PREFIX) and p.name.endswith(_SUFFIX)
    ]
    # The name starts with the UTC time, so it sorts in time order.
    return sorted(found, key=lambda p: p.name, reverse=True)


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")


def _copy(source: Any, dest_path: Path) -> None:
    """Copy the main database of apsw connection ``source`` into a new file ``dest_path``."""
    import apsw

    tmp = dest_path.with_name(dest_path.name + ".partial")
    tmp.unlink(missing_ok=True)
    try:
        dest = apsw.Connection(str(tmp))
        try:
            with dest.backup("main", source, "main") as step:
                while not step.done:
                    step.step(4096)
        finally:
            dest.close()
        os.replace(tmp, dest_path)
    except (apsw.FullError, OSError) as exc:
        tmp.unlink(missing_ok=True)
        if isinstance(exc, apsw.FullError) or exc.errno == errno.ENOSPC:
            raise DiskFullError(
                f"No space left to write the backup {dest_path}.",
                fix="Free some disk space and run the command again; the library was not changed.",
            ) from exc
        raise LibraryError(
            f"Cannot write the backup {dest_path} ({exc.strerror}).",
            fix="Check that you may write to the library directory.",
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class OpenDatabase(Protocol):
    """What a backup reads from: an open library database (``core.db.Database``).

    A protocol rather than the class itself, because the database takes a backup before each
    migration and so depends on this module, not the other way round.
    """

    path: str
    conn: Any
    _lock: Any  # the RLock that serialises use of ``conn``


def take_backup(db: OpenDatabase, reason: str = "manual", keep: int | None = None) -> Path:
    """Write a consistent copy of an open library database into its backups folder.

    Args:
        db: The open library database.
        reason: Part of the file name: ``manual``, or ``before-schema-N`` for the automatic
            backup taken before a migration.
        keep: For automatic backups, how many of them to keep (older ones are deleted).

    Returns:
        The backup file.

    Raises:
        DiskFullError: There is no room for the copy; the library is unchanged.
    """
    folder = backups_dir(Path(db.path).parent)
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{_PREFIX}{_stamp()}-{reason}{_SUFFIX}"
    with db._lock:
        _copy(db.conn, dest)
    log.info("backed up %s to %s", db.path, dest)
    if keep is not None:
        automatic = [p for p in list_backups(folder.parent) if _AUTOMATIC in p.name]
        for old in automatic[keep:]:
            old.unlink(missing_ok=True)
    return dest


def _open_readonly(path: Path) -> Any:
    import apsw

    from core.db import _load_sqlite_vec

    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    _load_sqlite_vec(conn)
    return conn


def check_file(path: Path) -> list[str]:
    """SQLite's full integrity check of a library file (read-only); the problems found.

    Raises:
        NotFoundError: There is no such file.
    """
    import apsw

    from core.db import APPLICATION_ID, _header_problems, check_problems

    if not path.is_file():
        raise NotFoundError(
            f"There is no library database at {path}.",
            fix="Check the path given with --library or MEDIAMIND_LIBRARY.",
        )
    problems = _header_problems(path)
    if problems:
        return problems
    try:
        conn = _open_readonly(path)
    except apsw.Error as exc:
        return [f"cannot open it: {exc}"]
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        if app_id not in (0, APPLICATION_ID):
            return [f"it belongs to another application (application_id {app_id:#x})"]
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check(100)")]
    except apsw.Error as exc:
        return [f"{type(exc).__name__}: {exc}"]
    finally:
        conn.close()
    return check_problems(rows)


def find_backup(library_dir: Path, name: str | None) -> Path:
    """The backup named ``name`` (a file name in the backups folder or a path), or the newest.

    Raises:
        NotFoundError: There is no such backup, or none at all.
    """
    if name is None:
        found = list_backups(library_dir)
        if not found:
            raise NotFoundError(
                f"The library {library_dir} has no backups yet.",
                fix=f"Make one with 'mediamind --library {library_dir} backup'.",
            )
        return found[0]
    candidate = Path(name).expanduser()
    if not candidate.is_file():
        candidate = backups_dir(library_dir) / name
    if not candidate.is_file():
        raise NotFoundError(
            f"There is no backup {name}.",
            fix=f"List the backups with 'mediamind --library {library_dir} restore --list'.",
        )
    return candidate


def restore_backup(library_dir: Path, backup: Path) -> Path:
    """Make ``backup`` the library's database; the replaced files are moved aside, not deleted.

    Close the desktop app (and any running ingest) on this library first.

    Returns:
        The folder that now holds the replaced database files.

    Raises:
        DamagedLibraryError: The backup itself fails the integrity check; nothing was changed.
    """
    problems = check_file(backup)
    if problems:
        raise DamagedLibraryError(
            f"The backup {backup} is damaged too ({'; '.join(problems[:3])}); nothing was changed.",
            fix="Choose an older backup (see 'mediamind restore --list').",
        )
    target = Path(library_dir) / DB_FILENAME
    aside = backups_dir(library_dir) / f"replaced-{_stamp()}"
    aside.mkdir(parents=True, exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        current = target.with_name(target.name + suffix)
        if current.exists():
            os.replace(current, aside / current.name)
    source = _open_readonly(backup)
    try:
        _copy(source, target)
    except BaseException:
        # Put the replaced files back, so a failed restore leaves the library as it was.
        for moved in aside.iterdir():
            os.replace(moved, target.with_name(moved.name))
        raise
    finally:
        source.close()
    return aside
