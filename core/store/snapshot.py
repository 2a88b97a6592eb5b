"""Consistent copies of an open library database (the half of backups the database needs).

A backup is made with SQLite's online backup API while the library stays open, written under
a temporary name and renamed into ``<library>/backups`` so a crash never leaves a half backup
that looks whole. The database takes one before every schema migration (:mod:`core.store.db`), so
this module depends on nothing of it; checking and restoring backups is :mod:`core.store.backup`.
"""

from __future__ import annotations

import errno
import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from core.errors import DiskFullError, LibraryError

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
    """What a backup reads from: an open library database (``core.store.db.Database``).

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
