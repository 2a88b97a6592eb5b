from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import DiskFullError, LibraryError
from core.store.db import MIGRATIONS, Database, Migration


def test_migrations_are_numbered_recorded_and_idempotent(tmp_path: Path) -> None:
    path = tmp_path / "lib.sqlite"
    db = Database(path)
    assert db.applied_migrations() == [m.number for m in MIGRATIONS]
    db.close()
    db = Database(path)  # reopening applies nothing twice
    assert db.applied_migrations() == [m.number for m in MIGRATIONS]
    assert db.scalar("PRAGMA journal_mode") == "wal"
    assert db.scalar("PRAGMA foreign_keys") == 1
    assert db.scalar("SELECT vec_version()").startswith("v")


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "lib.sqlite"
    extra = [*MIGRATIONS, Migration(999, "from the future", "CREATE TABLE future (x)")]
    Database(path, migrations=extra).close()
    with pytest.raises(LibraryError, match="newer MediaMind"):
        Database(path)


def test_nested_atomic_rolls_back_only_the_inner_block(tmp_path: Path) -> None:
    db = Database(tmp_path / "lib.sqlite")
    db.execute("CREATE TABLE t (x INTEGER)")
    with db.atomic():
        db.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(ZeroDivisionError), db.atomic():
            db.execute("INSERT INTO t VALUES (2)")
            raise ZeroDivisionError
        db.execute("INSERT INTO t VALUES (3)")
    assert [r["x"] for r in db.query("SELECT x FROM t ORDER BY x")] == [1, 3]

    with pytest.raises(RuntimeError), db.atomic():
        db.execute("INSERT INTO t VALUES (4)")
        raise RuntimeError
    assert db.scalar("SELECT count(*) FROM t") == 2


def test_a_full_disk_rolls_back_and_says_so(tmp_path: Path) -> None:
    db = Database(tmp_path / "lib.sqlite")
    db.execute("CREATE TABLE t (x TEXT)")
    with db.atomic():
        db.execute("INSERT INTO t VALUES ('kept')")
    pages = db.scalar("PRAGMA page_count")
    # SQLite reports SQLITE_FULL when it may not grow the file: the same path as a full disk.
    db.execute(f"PRAGMA max_page_count = {pages + 1}")
    with pytest.raises(DiskFullError, match="Free some disk space"), db.atomic():
        db.executemany("INSERT INTO t VALUES (?)", [("x" * 4000,) for _ in range(50)])
    assert [r["x"] for r in db.query("SELECT x FROM t")] == ["kept"]


def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "lib.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(LibraryError, match="not a readable MediaMind library"):
        Database(path)


def test_embedding_cache_keeps_its_vectors_through_the_rowid_migration(tmp_path: Path) -> None:
    before = [m for m in MIGRATIONS if m.number < 7]
    db = Database(tmp_path / "lib.sqlite", migrations=before)
    rows = [("m", f"{n:064x}", bytes([n]) * 1536) for n in range(5)]
    db.executemany(
        "INSERT INTO embedding_cache (model_id, text_sha256, vector) VALUES (?, ?, ?)", rows
    )
    db.close()

    db = Database(tmp_path / "lib.sqlite")
    try:
        assert 7 in db.applied_migrations()
        stored = db.query(
            "SELECT id, model_id, text_sha256, vector FROM embedding_cache ORDER BY id"
        )
        assert [(r["model_id"], r["text_sha256"], r["vector"]) for r in stored] == rows
        # The key stays unique: writing a vector again replaces it rather than adding a row.
        db.execute(
            "INSERT OR REPLACE INTO embedding_cache (model_id, text_sha256, vector) "
            "VALUES (?, ?, ?)",
            ("m", rows[0][1], b"\x01" * 1536),
        )
        assert db.scalar("SELECT COUNT(*) FROM embedding_cache") == 5
    finally:
        db.close()


def test_processes_opening_a_new_library_at_once_apply_each_migration_once(
    tmp_path: Path,
) -> None:
    # The app and a command opening one new library at the same moment both found every step
    # pending; the second to record one failed with "UNIQUE constraint failed".
    import subprocess
    import sys

    from tests.conftest import REPO

    # Each process opens the same 10 new libraries in turn, so they collide on every step of
    # a library's birth, switching it to WAL included (which SQLite answers "busy" at once).
    opener = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from core.store.db import Database\n"
        "while time.time() < float(sys.argv[2]): pass\n"  # start together
        "for n in range(10):\n"
        "    Database(Path(sys.argv[1]) / f'lib{n}.sqlite').close()\n"
    )
    import time

    start = str(time.time() + 3)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", opener, str(tmp_path), start],
            cwd=REPO,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors
    for n in range(10):
        db = Database(tmp_path / f"lib{n}.sqlite")
        assert db.applied_migrations() == [m.number for m in MIGRATIONS]
        db.close()
