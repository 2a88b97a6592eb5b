"""What the integrity check costs when a library is opened for writing, on a large library.

Run ``python -m bench.integrity [--chunks 100000] [--repeats 5] [--cache-dir DIR]``. It builds
(or reuses from ``--cache-dir``) a library of N chunks with ``bench.search_scale``'s builder
(real schema, FTS5, sqlite-vec and quantized vectors, embedding cache; qmsum text from
``../shared/data``), adds a segment row per chunk and a watch history so the tables of what
cannot be recomputed are not empty, then times, interleaved and with a warm page cache:

* ``open``: ``Library(dir, check=False)``, the open that reading commands use;
* ``open+quick``: ``Library(dir)``, the open for writing, whose quick check reads every page
  below ``core.store.db.FULL_QUICK_CHECK_BYTES`` and otherwise the header, schema and
  precious tables;
* ``quick_check (all pages)``: SQLite's ``PRAGMA quick_check`` of the whole file, the peer;
* ``integrity_check``: what ``mediamind check`` runs.

It prints medians and the ratio of the quick check's added cost to the peer's.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from core.store import Library, utcnow


def _fill_user_tables(folder: Path) -> None:
    lib = Library(folder, check=False)
    db = lib.db
    now = utcnow()
    items = [r["id"] for r in db.query("SELECT id FROM media_items")]
    with db.atomic():
        db.execute(
            "INSERT INTO segments (media_id, idx, start, end, text) "
            "SELECT media_id, idx, start, end, text FROM chunks"
        )
        db.executemany(
            "INSERT INTO watch_events (media_id, kind, position, at, ts, session_id) "
            "VALUES (?, 'progress', ?, ?, ?, ?)",
            [
                (items[i % len(items)], float(i % 600), now, 1_700_000_000 + i, i // 20)
                for i in range(20_000)
            ],
        )
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    lib.close()


def _timed(fn: object) -> float:
    start = time.perf_counter()
    fn()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()

    from bench.search_scale import open_library

    tmp = Path(tempfile.mkdtemp(prefix="mm-integrity-"))
    folder, _ = open_library(args.chunks, 0, args.cache_dir, tmp)
    if not (folder / "user-tables.done").exists():
        _fill_user_tables(folder)
        (folder / "user-tables.done").write_text("1")
    db_file = folder / "library.sqlite"
    size = db_file.stat().st_size

    def open_plain() -> None:
        Library(folder, check=False).close()

    def open_checked() -> None:
        Library(folder).close()

    def pragma(statement: str) -> object:
        def run() -> None:
            lib = Library(folder, check=False)
            try:
                lib.db.query(statement)
            finally:
                lib.close()

        return run

    runs: dict[str, list[float]] = {
        "open": [],
        "open+quick": [],
        "quick_check (all pages)": [],
        "integrity_check": [],
    }
    jobs = {
        "open": open_plain,
        "open+quick": open_checked,
        "quick_check (all pages)": pragma("PRAGMA quick_check"),
        "integrity_check": pragma("PRAGMA integrity_check"),
    }
    open_plain()  # warm the page cache
    for _ in range(args.repeats):
        for name, job in jobs.items():
            runs[name].append(_timed(job))
    med = {k: statistics.median(v) for k, v in runs.items()}
    added = med["open+quick"] - med["open"]
    peer = med["quick_check (all pages)"] - med["open"]
    result = {
        "chunks": args.chunks,
        "db_mb": round(size / 1e6, 1),
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "quick_check_added_s": round(added, 4),
        "ratio_to_full_quick_check": round(added / peer, 4) if peer > 0 else None,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
