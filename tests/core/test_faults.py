"""Fault injection: kills, damaged files and a full disk at seeded random points.

Every scenario ends the same way: the library passes SQLite's integrity check (and FTS5's),
holds no partial item (a ready item's chunks are exactly its segments cut by make_chunks, each
chunk has its vectors and nothing else does, a viewing is a whole play...pause run, an item's
machine tags come with the annotation row that says what they were made from), and running the
same command again finishes with the result an uninterrupted run gives.

The random points come from ``random.Random(SEED)``, so a failure reproduces. Runtime is a few
minutes on 2 busy cores: the media are three copies of the 11 s JFK clip and subtitle files.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from core.paths import DB_FILENAME
from core.store import Library
from core.transcript import Segment, make_chunks, to_srt
from tests.conftest import REPO, require
from tests.core.test_ingest import louder_copy, run_cli

pytestmark = pytest.mark.slow

SEED = 16


def one_clear_line(proc: subprocess.CompletedProcess[str]) -> None:
    """A failed command says what went wrong in a 'mediamind: error:' line, no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert proc.returncode != 0
    assert any(line.startswith("mediamind: error:") for line in proc.stderr.splitlines()), (
        proc.stderr
    )


def kill_after(cmd: list[str], delay: float) -> int:
    """Start a command, SIGKILL it after ``delay`` seconds; its exit code (-9 if killed)."""
    proc = subprocess.Popen(
        cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    try:
        proc.wait(delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    return proc.returncode


def check_library(library: Path) -> dict[str, object]:
    """Assert the invariants above; return a summary of what the library holds."""
    with Library(library) as lib:
        db = lib.db
        assert db.scalar("PRAGMA integrity_check") == "ok"
        assert db.query("PRAGMA foreign_key_check") == []
        db.execute("INSERT INTO chunk_fts(chunk_fts) VALUES ('integrity-check')")
        chunk_ids = {r["id"] for r in db.query("SELECT id FROM chunks")}
        for table in ("chunk_vec", "chunk_vec_bits", "chunk_vec_int8"):
            stored = [r["id"] for r in db.query(f"SELECT chunk_id AS id FROM {table}")]
            assert sorted(stored) == sorted(chunk_ids), f"{table} out of step with chunks"
        summary: dict[str, object] = {}
        for item in lib.items():
            segments = lib.segments(item.id)
            idx = [
                r["idx"] for r in db.query("SELECT idx FROM segments WHERE media_id=?", (item.id,))
            ]
            assert sorted(idx) == list(range(len(segments))), f"segment gap in {item.path}"
            chunks = lib.chunks(item.id)
            assert all(c.last_segment < len(segments) for c in chunks)
            if item.status == "ready":
                expected = make_chunks(segments)
                assert segments and [(c.start, c.end, c.text) for c in chunks] == [
                    (e.start, e.end, e.text) for e in expected
                ], f"ready item {item.path} is not whole"
            summary[Path(item.path).name] = (item.status, [s.text for s in segments])
        # A viewing is written whole: play, progress..., pause (and complete at the end).
        runs = _watch_runs(db.query("SELECT kind FROM watch_events ORDER BY id"))
        summary["watch_runs"] = runs
        # Machine tags only with the annotation row that records what made them.
        tagged = {r["m"] for r in db.query("SELECT DISTINCT media_id AS m FROM tags")}
        annotated = {r["m"] for r in db.query("SELECT media_id AS m FROM annotations")}
        assert tagged <= annotated, "tags without their annotation row"
        summary["tags"] = sorted(
            (r["media_id"], r["type"], r["value"])
            for r in db.query("SELECT media_id, type, value FROM tags")
        )
        return summary


def _watch_runs(rows: list[dict[str, object]]) -> int:
    """Count whole viewings in the id-ordered event kinds; fail on a partial one."""
    runs, state = 0, "idle"
    for row in rows:
        kind = row["kind"]
        if state == "idle":
            assert kind == "play", f"a viewing starts with {kind}"
            state = "playing"
        elif state == "playing":
            assert kind in ("progress", "pause"), f"{kind} inside a viewing"
            if kind == "pause":
                state, runs = "paused", runs + 1
        elif state == "paused":
            if kind == "complete":
                state = "idle"
            else:
                assert kind == "play", f"{kind} after a pause"
                state = "playing"
    assert state in ("idle", "paused"), "a viewing without its pause"
    return runs


MEDIA_NAMES = ("take0.flac", "take1.flac", "take2.flac", "council.srt", "short.srt")


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory, jfk: Path) -> Path:
    """Three recordings (distinct bytes) and two subtitle files, one of them two hours long."""
    folder = tmp_path_factory.mktemp("media")
    for i in range(3):
        louder_copy(jfk, folder / f"take{i}.flac", 0.5 + 0.2 * i)
    lines = ["the budget for the new library", "a vote on the school roof", "questions"]
    cues = [Segment(60.0 * i, 60.0 * i + 5, f"{lines[i % 3]} part {i}") for i in range(120)]
    (folder / "council.srt").write_text(to_srt(cues), encoding="utf-8")
    (folder / "short.srt").write_text(to_srt(cues[:3]), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, media: Path) -> tuple[Path, float]:
    """An uninterrupted ingest of the media, and how long it took."""
    library = tmp_path_factory.mktemp("reference") / "lib"
    t0 = time.monotonic()
    proc = run_cli("ingest", str(media), library=library)
    assert proc.returncode == 0, proc.stderr
    return library, time.monotonic() - t0


def test_sigkill_at_random_points_of_ingest(
    tmp_path: Path, media: Path, reference: tuple[Path, float]
) -> None:
    ref_library, seconds = reference
    library = tmp_path / "lib"
    rng = random.Random(SEED)
    cmd = [sys.executable, "-m", "core.cli", "--library", str(library), "ingest", str(media)]
    for _ in range(3):
        kill_after(cmd, rng.uniform(0.2, 1.0) * seconds)
        check_library(library)
    proc = run_cli("ingest", str(media), library=library)
    assert proc.returncode == 0, proc.stderr
    done, ref = check_library(library), check_library(ref_library)
    assert done == ref  # same items, all ready, same transcripts


def _library_copy(ref: Path, tmp_path: Path) -> Path:
    library = tmp_path / "lib"
    shutil.copytree(ref, library)
    return library


def _item_id(library: Path, name: str) -> int:
    with Library(library) as lib:
        return next(i.id for i in lib.items() if Path(i.path).name == name)


def test_sigkill_at_random_points_of_watch(tmp_path: Path, reference: tuple[Path, float]) -> None:
    library = _library_copy(reference[0], tmp_path)
    item = _item_id(library, "council.srt")  # two hours: a viewing writes ~120 events
    cmd = [sys.executable, "-m", "core.cli", "--library", str(library), "watch", str(item)]
    t0 = time.monotonic()
    proc = run_cli("watch", str(item), "--seconds", "7000", library=library)
    assert proc.returncode == 0, proc.stderr
    seconds = time.monotonic() - t0
    rng = random.Random(SEED)
    runs = check_library(library)["watch_runs"]
    assert runs == 1
    for _ in range(6):
        code = kill_after([*cmd, "--seconds", "7000"], rng.uniform(0.3, 1.1) * seconds)
        after = check_library(library)["watch_runs"]
        # Killed before its commit: nothing; after it (or not killed): the whole viewing.
        assert after == runs + 1 if code == 0 else after in (runs, runs + 1)
        runs = after
    assert run_cli("watch", str(item), "--seconds", "60", library=library).returncode == 0
    assert check_library(library)["watch_runs"] == runs + 1


def test_sigkill_at_random_points_of_annotate(
    tmp_path: Path, reference: tuple[Path, float]
) -> None:
    complete = _library_copy(reference[0], tmp_path / "complete")
    t0 = time.monotonic()
    proc = run_cli("annotate", "--all", "--no-llm", library=complete)
    assert proc.returncode == 0, proc.stderr
    seconds = time.monotonic() - t0
    expected = check_library(complete)["tags"]
    assert expected
    library = _library_copy(reference[0], tmp_path / "killed")
    cmd = [sys.executable, "-m", "core.cli", "--library", str(library)]
    rng = random.Random(SEED)
    for _ in range(3):
        kill_after([*cmd, "annotate", "--all", "--no-llm"], rng.uniform(0.3, 1.0) * seconds)
        check_library(library)
    proc = run_cli("annotate", "--all", "--no-llm", library=library)
    assert proc.returncode == 0, proc.stderr
    assert check_library(library)["tags"] == expected


# -- damaged files -------------------------------------------------------------------------------


def _checkpointed(ref: Path, tmp_path: Path) -> Path:
    """A copy of the reference library with everything in the main database file."""
    library = _library_copy(ref, tmp_path)
    with Library(library) as lib:
        lib.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return library


def test_a_damaged_header_is_one_clear_line(tmp_path: Path, reference: tuple[Path, float]) -> None:
    library = _checkpointed(reference[0], tmp_path)
    db = library / DB_FILENAME
    require(db.is_file(), f"the library database is not at {db}", ci_provides=True)
    data = bytearray(db.read_bytes())
    data[:16] = b"not a database!!"
    db.write_bytes(bytes(data))
    for args in (("library",), ("search", "budget"), ("ingest", str(tmp_path))):
        proc = run_cli(*args, library=library)
        one_clear_line(proc)
    assert db.read_bytes()[:16] == b"not a database!!"  # nothing was written into it


def test_corrupt_pages_give_one_clear_line_and_are_never_written_to(
    tmp_path: Path, reference: tuple[Path, float]
) -> None:
    library = _checkpointed(reference[0], tmp_path)
    db = library / DB_FILENAME
    page = 4096
    pages = db.stat().st_size // page
    rng = random.Random(SEED)
    for trial in range(2):
        damaged = tmp_path / f"trial{trial}"
        shutil.copytree(library, damaged)
        data = bytearray((damaged / DB_FILENAME).read_bytes())
        # The first 16 bytes of 3 pages: the b-tree page header and cell pointers (or a
        # freelist or overflow link), which SQLite's checks see. Bytes flipped inside a
        # record's payload are invisible to them (SQLite keeps no page checksums), so that
        # case is not claimed here; docs/reliability.md says so.
        for n in rng.sample(range(1, pages), 3):  # page 0 holds the header: tested above
            at = n * page
            data[at : at + 16] = bytes(rng.randrange(256) for _ in range(16))
        (damaged / DB_FILENAME).write_bytes(bytes(data))
        before = (damaged / DB_FILENAME).read_bytes()
        for args in (("library",), ("search", "budget"), ("ask", "what about the budget")):
            proc = run_cli(*args, library=damaged)
            assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
        proc = run_cli("ingest", str(REPO / "tests" / "fixtures" / "jfk.flac"), library=damaged)
        one_clear_line(proc)
        assert (damaged / DB_FILENAME).read_bytes() == before


def test_a_truncated_wal_loses_at_most_the_tail_and_a_rerun_finishes(
    tmp_path: Path, media: Path, reference: tuple[Path, float]
) -> None:
    """Kill an ingest (the WAL holds its commits), cut the WAL short at seeded lengths."""
    ref_library, _ = reference
    killed = tmp_path / "killed"
    cmd = [sys.executable, "-m", "core.cli", "--library", str(killed), "ingest", str(media)]
    # Killed right after its third file is committed (not after a time: under load a timed
    # kill may land before the first commit), so the WAL holds whole items.
    proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    done = 0
    for line in proc.stderr:
        done += line.startswith("ingested")
        if done == 3:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    wal = killed / f"{DB_FILENAME}-wal"
    assert wal.is_file() and wal.stat().st_size > 0, "the killed ingest left no WAL"
    size = wal.stat().st_size
    rng = random.Random(SEED)
    for trial, cut in enumerate([32, *sorted(rng.sample(range(33, size), 3))]):
        library = tmp_path / f"cut{trial}"
        shutil.copytree(killed, library)
        with open(library / f"{DB_FILENAME}-wal", "r+b") as fh:
            fh.truncate(cut)
        check_library(library)
        proc = run_cli("ingest", str(media), library=library)
        assert proc.returncode == 0, proc.stderr
        assert check_library(library) == check_library(ref_library)


# -- disk full -----------------------------------------------------------------------------------

# Runs inside `unshare -rm` with a small tmpfs mounted on argv[1]. For each point: ingest into
# a library there and fill the disk to the last byte when that many files have been ingested
# (-1: before the command starts, 0: as it starts); then free the space and run it again.
_DISK_FULL = r"""
import json, os, subprocess, sys
mount, media, points = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
filler = os.path.join(mount, "filler")

def fill():
    with open(filler, "ab") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass

out = []
for n, after in enumerate(points):
    library = os.path.join(mount, f"lib{n}")
    cmd = [sys.executable, "-m", "core.cli", "--library", library, "ingest", media]
    if after < 0:
        fill()
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    if after == 0:
        fill()
    lines, done = [], 0
    for line in proc.stderr:
        lines.append(line)
        done += line.startswith("ingested")
        if after > 0 and done == after and not os.path.exists(filler):
            fill()
    proc.wait()
    os.remove(filler)
    again = subprocess.run(cmd, capture_output=True, text=True)
    out.append({"after": after, "full_code": proc.returncode, "full_err": "".join(lines),
                "again_code": again.returncode, "again_err": again.stderr})
    # The library is checked here, while the mount exists.
    check = subprocess.run([sys.executable, "-c", sys.argv[4], library], capture_output=True,
                           text=True)
    out[-1]["check"] = check.returncode
    out[-1]["check_err"] = check.stderr[-3000:]
    subprocess.run(["rm", "-rf", library])
print(json.dumps(out))
"""

_CHECK = r"""
import sys
from tests.core.test_faults import check_library
from pathlib import Path
summary = check_library(Path(sys.argv[1]))
assert {s[0] for k, s in summary.items() if k.endswith((".flac", ".srt"))} == {"ready"}, summary
assert len([k for k in summary if k.endswith((".flac", ".srt"))]) == 5, summary
"""


@pytest.fixture(scope="module")
def disk_full_runs(tmp_path_factory: pytest.TempPathFactory, media: Path) -> list[dict[str, Any]]:
    """Ingests on a full disk at seeded points, each followed by a re-run with space freed."""
    import json

    base = tmp_path_factory.mktemp("disk")
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m none {base}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if shutil.which("unshare") is None or probe.returncode:
        pytest.skip(f"cannot mount a small tmpfs here (unshare -rm refused: {probe.stderr!r})")
    mount = base / "disk"
    mount.mkdir()
    rng = random.Random(SEED)
    # Full before the start, and after a seeded number of the 5 files.
    points = [-1, *sorted(rng.sample(range(5), 2))]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [
            *("unshare", "-rm", "sh", "-c"),
            'mount -t tmpfs -o size=24m none "$0" && exec "$1" -c "$2" "$0" "$3" "$4" "$5"',
            *(str(mount), sys.executable, _DISK_FULL, str(media), json.dumps(points), _CHECK),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs: list[dict[str, Any]] = json.loads(proc.stdout)
    return runs


def test_disk_full_at_random_points_of_ingest(disk_full_runs: list[dict[str, Any]]) -> None:
    # A point may let the rest of the batch through (space freed by SQLite is reused), which
    # is fine as long as what it stored is whole; the disk full before the start never is.
    assert disk_full_runs[0]["full_code"] != 0
    for run in disk_full_runs:
        assert "Traceback" not in run["full_err"], run["full_err"][-3000:]
        if run["full_code"] != 0:
            assert "full" in run["full_err"].lower(), run
        assert run["again_code"] == 0, run["again_err"]
        assert run["check"] == 0, run["check_err"]


def test_disk_full_says_it_once_per_file_and_ends_with_the_summary(
    disk_full_runs: list[dict[str, Any]],
) -> None:
    batches = [r for r in disk_full_runs if r["full_code"] and "ingested (" in r["full_err"]]
    assert batches, f"no seeded point fell inside the batch: {disk_full_runs}"
    for run in batches:
        lines = [ln for ln in run["full_err"].splitlines() if ln.strip()]
        full = [ln for ln in lines if "full" in ln.lower()]
        assert len(full) == len(set(full)), f"an error repeats: {full}"
        assert all(any(n in ln for n in MEDIA_NAMES) for ln in full), full
        assert re.fullmatch(r"\d+ ingested, \d+ unchanged, \d+ failed", lines[-1]), lines[-1]
