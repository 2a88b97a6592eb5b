"""Backups on demand, restore and the full check of a library database.

Backups themselves are written by :mod:`core.store.snapshot` (one before every schema migration,
the last few kept, and on demand with ``mediamind backup``, kept until deleted by hand). A
restore never deletes anything: the files it replaces are moved into
``backups/replaced-<time>/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from core.errors import DamagedLibraryError, NotFoundError
from core.paths import DB_FILENAME
from core.store.snapshot import _copy, _stamp, backups_dir, list_backups, take_backup

__all__ = ["check_file", "find_backup", "list_backups", "restore_backup", "take_backup"]


def _open_readonly(path: Path) -> Any:
    import apsw

    from core.store.db import _load_sqlite_vec

    conn = apsw.Connection(str(path), flags=apsw.SQLITE_OPEN_READONLY)
    _load_sqlite_vec(conn)
    return conn


def check_file(path: Path) -> list[str]:
    """SQLite's full integrity check of a library file (read-only); the problems found.

    Raises:
        NotFoundError: There is no such file.
    """
    import apsw

    from core.store.db import APPLICATION_ID, _header_problems, check_problems

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
