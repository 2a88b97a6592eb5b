"""Regression tests for the defects a hostile test of the command line found (issue 16).

Each test reproduces one defect as it was found and checks what the user sees now; the table
in docs/reliability-defects.md points here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import apsw
import numpy as np
import pytest

from core.errors import LibraryError
from core.search import mark_terms, query_terms
from core.store import Library, list_backups, take_backup
from core.store.db import APPLICATION_ID, MIGRATIONS, Database
from core.transcript import Segment, Word, parse_subtitles_checked, read_subtitles
from tests.conftest import REPO, mediamind

SR = 16_000


def mm(*args: str, library: Path | None, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return mediamind(
        *args, library=library, cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600
    )


def srt(*cues: tuple[float, float, str]) -> str:
    def t(x: float) -> str:
        ms = round(x * 1000)
        h, m, sec = ms // 3_600_000, ms // 60_000 % 60, ms // 1000 % 60
        return f"{h:02d}:{m:02d}:{sec:02d},{ms % 1000:03d}"

    return "\n".join(f"{i}\n{t(a)} --> {t(b)}\n{text}\n" for i, (a, b, text) in enumerate(cues, 1))


CUES = (
    (1.0, 4.0, "The council approved the budget for the new library."),
    (5.0, 9.0, "Residents argued against closing the swimming pool."),
)


@pytest.fixture
def subtitle_library(tmp_path: Path) -> Path:
    """A real library holding one ingested subtitle file."""
    media = tmp_path / "media"
    media.mkdir()
    (media / "council.srt").write_text(srt(*CUES), encoding="utf-8")
    lib = tmp_path / "lib"
    out = mm("ingest", str(media), library=lib)
    assert out.returncode == 0, out.stderr
    return lib


def no_traceback(out: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in out.stderr and "apsw." not in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


# -- 1. silence becomes words -------------------------------------------------------------------


def _music(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    out = np.zeros_like(t)
    for i, f in enumerate([220, 277, 330, 440, 330, 277] * int(seconds)):
        a = int(i * 0.5 * SR)
        if a >= t.size:
            break
        tt = t[a : a + SR // 2] - t[a]
        out[a : a + tt.size] = (
            0.25
            * np.exp(-3 * tt)
            * (np.sin(2 * np.pi * f * tt) + 0.5 * np.sin(2 * np.pi * 1.5 * f * tt))
        )
    return out.astype(np.float32)


@pytest.mark.slow
def test_silence_music_and_noise_give_no_text_and_speech_stays_inside_the_media(jfk: Path) -> None:
    from core.ingest import decode_audio
    from core.ingest.transcribe import Transcriber

    rng = np.random.default_rng(0)
    tr = Transcriber("tiny.en", threads=1)
    cases = {
        "10 minutes of digital silence": np.zeros(600 * SR, np.float32),
        "0.2 s of silence": np.zeros(int(0.2 * SR), np.float32),
        "white noise": (0.1 * rng.standard_normal(30 * SR)).astype(np.float32),
        "music": _music(30),
    }
    for name, audio in cases.items():
        _, segments = tr.transcribe(audio)
        assert list(segments) == [], name
    speech = decode_audio(jfk)
    _, segments = tr.transcribe(speech)
    found = list(segments)
    assert "country" in " ".join(s.text for s in found).lower()
    assert all(s.end <= speech.shape[0] / SR for s in found)


def test_segments_without_speech_or_past_the_end_are_dropped_or_clamped() -> None:
    from core.ingest.transcribe import heard_segments, spoken_windows

    regions = [(1.0, 3.0), (10.0, 11.9)]
    segs = [
        Segment(0.0, 0.5, "you"),  # silence before the speech
        Segment(1.1, 2.9, "spoken words"),
        Segment(5.0, 8.0, "you"),  # silence between
        Segment(10.2, 12.5, "last", (Word(10.2, 11.0, " la", 0.9), Word(11.0, 12.5, "st", 0.9))),
        Segment(12.1, 12.6, "."),  # after the end of the media
    ]
    kept = heard_segments(segs, regions, total=12.0)
    assert [s.text for s in kept] == ["spoken words", "last"]
    assert kept[-1].end == 12.0 and kept[-1].words is not None
    assert max(w.end for w in kept[-1].words) <= 12.0
    assert spoken_windows([(0.0, 4.0), (4.0, 9.5), (9.5, 12.0)], regions) == [
        (0.0, 4.0),
        (9.5, 12.0),
    ]
    assert spoken_windows([(0.0, 600.0)], []) == []


# -- 2. symbolic links --------------------------------------------------------------------------


def test_symlink_loops_and_broken_links_are_one_line_each_and_the_batch_goes_on(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "good.srt").write_text(srt(*CUES), encoding="utf-8")
    (folder / "loop.srt").symlink_to("loop.srt")
    (folder / "a.mp3").symlink_to("b.mp3")
    (folder / "b.mp3").symlink_to("a.mp3")
    (folder / "dangling.srt").symlink_to("nowhere.srt")
    lib = tmp_path / "lib"
    # The folder, a loop named directly (relative) and a dangling link named directly.
    out = mm("ingest", "media", "media/loop.srt", "media/dangling.srt", library=lib, cwd=tmp_path)
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert "Traceback" not in out.stderr
    assert lines[-1] == "1 ingested, 0 unchanged, 4 failed"
    errors = [ln for ln in lines if ln.startswith("error:")]
    assert len(errors) == 4  # one line per link, even the ones named twice
    for name in ("loop.srt", "a.mp3", "b.mp3"):
        (line,) = [e for e in errors if f"{folder / name}:" in e]
        assert "symbolic link loop" in line
    (line,) = [e for e in errors if f"{folder / 'dangling.srt'}:" in e]
    assert "broken symbolic link" in line and "nowhere.srt" in line
    assert any(ln.startswith("ingested") and "good.srt" in ln for ln in lines)


# -- 3. a damaged library -----------------------------------------------------------------------


def _trash_table(lib: Path, table: str) -> None:
    """Overwrite the root page of ``table`` with garbage (as a bad sector or a bad copy would)."""
    db = lib / "library.sqlite"
    conn = apsw.Connection(str(db))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    root = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = ?", (table,)).fetchone()[0]
    conn.close()
    with db.open("r+b") as fh:
        fh.seek((root - 1) * page_size)
        fh.write(bytes(range(256)) * (page_size // 256))


def test_a_damaged_library_is_refused_for_writing_and_reads_fail_in_one_line(
    subtitle_library: Path, tmp_path: Path
) -> None:
    lib = subtitle_library
    take = mm("backup", library=lib)
    assert take.returncode == 0, take.stderr
    _trash_table(lib, "chunks")
    before = hashlib.sha256((lib / "library.sqlite").read_bytes()).hexdigest()

    more = tmp_path / "more.srt"
    more.write_text(srt((1.0, 2.0, "Another file.")), encoding="utf-8")
    for command in (["ingest", str(more)], ["search", "budget"], ["ask", "what was approved?"]):
        out = mm(*command, library=lib)
        assert out.returncode == 1, (command, out.stderr)
        no_traceback(out)
        assert "is damaged" in out.stderr and "will not write" in out.stderr
        assert "restore" in out.stderr
    assert hashlib.sha256((lib / "library.sqlite").read_bytes()).hexdigest() == before

    check = mm("check", library=lib)
    assert check.returncode == 1 and "damaged" in check.stdout and "restore" in check.stdout

    # A read that meets the damage (listing items skips the check) is one line, not a traceback.
    _trash_table(lib, "segments")
    out = mm("transcript", "1", library=lib)
    assert out.returncode == 1
    no_traceback(out)
    assert "could not be read" in out.stderr and "mediamind --library" in out.stderr

    # The advice works: restore brings the backup back and keeps the damaged file aside.
    restored = mm("restore", library=lib)
    assert restored.returncode == 0, restored.stderr
    assert mm("check", library=lib).stdout.strip().endswith(": ok")
    assert "budget" in mm("search", "budget", library=lib).stdout
    aside = [p for p in (lib / "backups").iterdir() if p.name.startswith("replaced-")]
    assert len(aside) == 1 and (aside[0] / "library.sqlite").is_file()


def test_the_quick_check_reads_everything_of_a_small_library_and_the_precious_tables_of_a_large_one(
    subtitle_library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import core.store.db

    _trash_table(subtitle_library, "chunks")
    db = Database(subtitle_library / "library.sqlite")
    try:
        assert db.quick_check()  # small: every page is read, the damage is found
        monkeypatch.setattr(core.store.db, "FULL_QUICK_CHECK_BYTES", 0)
        assert db.quick_check() == []  # "large": chunks are recomputable and not read
        assert db.integrity_check()  # the full check on demand still finds it
    finally:
        db.close()
    _trash_table(subtitle_library, "media_items")
    db = Database(subtitle_library / "library.sqlite")
    try:
        assert db.quick_check()  # the items table is always checked
    finally:
        db.close()


def test_search_in_process_turns_a_damaged_page_into_a_library_error(
    subtitle_library: Path,
) -> None:
    """What the desktop app calls: no raw SQLite exception escapes, even from direct reads."""
    from core.errors import DamagedLibraryError
    from core.search import Searcher

    _trash_table(subtitle_library, "chunk_fts_data")
    with (
        Library(subtitle_library, check=False) as lib,
        pytest.raises(DamagedLibraryError, match="could not be read"),
    ):
        Searcher(lib).search("budget", mode="bm25")


# -- 4. backups ---------------------------------------------------------------------------------


def test_a_backup_is_taken_before_every_migration_and_the_last_few_are_kept(
    tmp_path: Path,
) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    path = lib / "library.sqlite"
    old = [m for m in MIGRATIONS if m.number < 7]
    db = Database(path, migrations=old)
    db.execute(
        "INSERT INTO media_items (path, title, status, added_at, updated_at) "
        "VALUES ('/x.mp3', 'kept', 'ready', '2024-01-01', '2024-01-01')"
    )
    db.close()
    assert list_backups(lib) == []
    Library(lib).close()  # applies the newer migrations
    (backup,) = list_backups(lib)
    assert "before-schema-7" in backup.name
    copy = Database(backup)  # a whole, consistent database with the old schema and the item
    try:
        assert copy.scalar("SELECT title FROM media_items") == "kept"
        assert copy.integrity_check() == []
    finally:
        copy.close()

    with Library(lib) as library:
        for _ in range(5):
            take_backup(library.db, "before-schema-99", keep=3)
        take_backup(library.db, "manual", keep=None)
    names = [p.name for p in list_backups(lib)]
    assert sum("before-" in n for n in names) == 3 and sum("manual" in n for n in names) == 1
    assert not list((lib / "backups").glob("*.partial"))


def test_backup_and_restore_on_the_command_line(subtitle_library: Path, tmp_path: Path) -> None:
    lib = subtitle_library
    out = mm("backup", library=lib)
    assert out.returncode == 0 and Path(out.stdout.strip()).is_file()
    extra = tmp_path / "extra.srt"
    extra.write_text(srt((1.0, 2.0, "Added after the backup.")), encoding="utf-8")
    assert mm("ingest", str(extra), library=lib).returncode == 0
    assert len(json.loads(mm("library", "--json", library=lib).stdout)) == 2
    listed = mm("restore", "--list", library=lib)
    assert listed.returncode == 0 and "manual" in listed.stdout
    out = mm("restore", library=lib)
    assert out.returncode == 0 and "restored" in out.stdout
    assert len(json.loads(mm("library", "--json", library=lib).stdout)) == 1
    missing = mm("restore", "no-such-backup.sqlite", library=lib)
    assert missing.returncode == 1 and "no backup no-such-backup.sqlite" in missing.stderr


# -- 5. --since / --until -----------------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--since", "--until"])
@pytest.mark.parametrize("value", ["notadate", "2020-13-45", "yesterday"])
def test_invalid_dates_are_usage_errors(subtitle_library: Path, flag: str, value: str) -> None:
    out = mm("search", "budget", flag, value, library=subtitle_library)
    assert out.returncode == 2 and f"argument {flag}" in out.stderr and value in out.stderr
    assert out.stdout == ""


def test_valid_dates_filter_by_the_time_added(subtitle_library: Path) -> None:
    def hits(*flags: str) -> int:
        out = mm("search", "budget", "--json", *flags, library=subtitle_library)
        assert out.returncode == 0, out.stderr
        return len(json.loads(out.stdout))

    assert hits("--since", "2000-01-01") == 1
    assert hits("--since", "2999-01-01") == 0
    assert hits("--until", "2000-01-01T00:00:00+02:00") == 0
    assert hits("--until", "2999-01-01") == 1


# -- 6, 7. subtitle encodings and timestamps ----------------------------------------------------


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be", "utf-8-sig", "cp1252"])
def test_subtitles_in_any_common_encoding_are_read(tmp_path: Path, encoding: str) -> None:
    text = srt((1.0, 2.0, "Café crème, déjà vu."), (3.0, 4.0, "Second cue."))
    path = tmp_path / "sub.srt"
    path.write_bytes(text.encode(encoding))
    parsed = read_subtitles(path)
    assert [s.text for s in parsed.segments] == ["Café crème, déjà vu.", "Second cue."]


def test_an_unreadable_subtitle_file_names_the_encoding_it_was_read_with(tmp_path: Path) -> None:
    from core.errors import UnsupportedMediaError

    path = tmp_path / "sub.srt"
    path.write_bytes("no cues in here at all\n".encode("utf-16"))
    with pytest.raises(UnsupportedMediaError, match="decoded as utf-16-le"):
        read_subtitles(path)


def test_malformed_cues_are_counted_and_impossible_times_rejected(tmp_path: Path) -> None:
    text = (
        "1\n00:00:01,000 --> 00:00:02,000\nfirst\n\n"
        "2\n99:99:99,999 --> 99:99:99,999\nimpossible\n\n"
        "3\n00:00:03,000 -> 00:00:04,000\nbroken arrow\n\n"
        "4\n00:00:05,000 --> 00:00:04,000\nends before it starts\n\n"
        "5\n00:00:06,000 --> 00:00:07,000\nlast\n"
    )
    parsed = parse_subtitles_checked(text)
    assert [s.text for s in parsed.segments] == ["first", "last"]
    assert parsed.skipped_lines == [6, 9, 14]
    assert parsed.skipped_note() == "skipped 3 malformed cues (the first at line 6)"

    media = tmp_path / "talk.srt"
    media.write_text(text, encoding="utf-8")
    lib = tmp_path / "lib"
    out = mm("ingest", str(media), library=lib)
    assert out.returncode == 0
    assert "ingested (1/1) talk.srt (skipped 3 malformed cues (the first at line 6))" in out.stderr
    (item,) = json.loads(mm("library", "--json", library=lib).stdout)
    assert item["duration"] == 7.0  # not 100 hours


# -- 8. disk full -------------------------------------------------------------------------------


def _can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /mnt"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.mark.skipif(
    not _can_mount_tmpfs(),
    reason="needs 'unshare -rm' to mount a small tmpfs (user namespaces are disabled here)",
)
def test_a_full_disk_gives_one_line_per_file_then_the_summary(tmp_path: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    words = [
        "budget",
        "road",
        "school",
        "park",
        "library",
        "council",
        "vote",
        "tax",
        "water",
        "police",
        "fire",
        "street",
    ]
    rng = np.random.default_rng(1)
    for f in range(6):
        cues = [
            (i * 3.0, i * 3.0 + 2.0, " ".join(rng.choice(words, 12)) + f" {f} {i}")
            for i in range(1500)
        ]
        (media / f"file{f}.srt").write_text(srt(*cues), encoding="utf-8")
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    script = (
        f"mount -t tmpfs -o size=4m tmpfs {mnt} && "
        f"{sys.executable} -m core.cli --library {mnt / 'lib'} ingest {media}; echo rc=$?"
    )
    out = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO,
        timeout=600,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    lines = out.stderr.strip().splitlines()
    assert out.stdout.strip() == "rc=1", out.stderr
    assert "Traceback" not in out.stderr
    per_file = lines[:-1]
    assert len(per_file) == 6  # every file of the batch has exactly one line
    for f, line in enumerate(per_file):
        assert f"file{f}.srt" in line
    failed = [ln for ln in per_file if ln.startswith("error:")]
    assert failed and "is full" in failed[0] and "Free some disk space" in failed[0]
    assert sum("Free some disk space" in ln for ln in failed) == 1  # said once, not per file
    done = len(per_file) - len(failed)
    assert lines[-1] == f"{done} ingested, 0 unchanged, {len(failed)} failed"


def test_a_disk_full_error_inside_ingest_reports_the_file_and_continues_reporting(
    subtitle_library: Path, tmp_path: Path
) -> None:
    """The same path without a tmpfs: SQLite's page limit makes every write hit SQLITE_FULL."""
    from core.ingest import ingest

    files = []
    for n in range(3):
        p = tmp_path / f"new{n}.srt"
        p.write_text(srt(*[(i, i + 0.5, f"line {n} {i} " * 30) for i in range(300)]), "utf-8")
        files.append(p)
    with Library(subtitle_library) as lib:
        pages = lib.db.scalar("PRAGMA page_count")
        lib.db.execute(f"PRAGMA max_page_count = {pages + 2}")
        evs = [e for e in ingest(lib, files) if e.kind in ("done", "failed")]
    assert [e.kind for e in evs] == ["failed"] * 3
    assert [e.path.name for e in evs] == ["new0.srt", "new1.srt", "new2.srt"]
    assert "is full" in evs[0].message and all(str(e.path) in e.message for e in evs)


# -- 9. another application's SQLite file -------------------------------------------------------


@pytest.mark.parametrize("with_media_items", [True, False])
def test_another_applications_database_is_refused_and_left_unchanged(
    tmp_path: Path, with_media_items: bool
) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    db = lib / "library.sqlite"
    conn = apsw.Connection(str(db))
    conn.execute("CREATE TABLE contacts (name TEXT); INSERT INTO contacts VALUES ('Ada')")
    if with_media_items:
        conn.execute("CREATE TABLE media_items (id INTEGER PRIMARY KEY, path TEXT)")
    conn.close()
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    for command in (["library"], ["search", "x"], ["ingest", str(tmp_path)]):
        out = mm(*command, library=lib)
        assert out.returncode == 1, out.stderr
        no_traceback(out)
        assert "another application's SQLite database" in out.stderr
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    with pytest.raises(LibraryError, match="not a MediaMind library"):
        Library(lib)


def test_a_library_carries_the_marker_and_one_from_before_the_marker_still_opens(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lib.sqlite"
    Database(path, migrations=[m for m in MIGRATIONS if m.number < 8]).close()
    db = Database(path)
    try:
        assert db.scalar("PRAGMA application_id") == APPLICATION_ID
    finally:
        db.close()


# -- 10. control characters in names ------------------------------------------------------------


def test_control_characters_in_file_names_are_escaped_everywhere_they_are_printed(
    tmp_path: Path,
) -> None:
    media = tmp_path / "media"
    media.mkdir()
    evil = "evil\x1b[31mred\nsecond line\u202etxt.srt"
    (media / evil).write_text(srt(*CUES), encoding="utf-8")
    (media / "bad\x07bell.srt").write_text("not subtitles", encoding="utf-8")
    lib = tmp_path / "lib"
    out = mm("ingest", str(media), library=lib)
    assert out.returncode == 1
    for text in (out.stdout, out.stderr):
        assert "\x1b" not in text and "\x07" not in text and "\u202e" not in text
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 3  # one per file and the summary
    assert any("evil\\x1b[31mred\\nsecond line\\u202etxt.srt" in ln for ln in lines)
    listing = mm("library", library=lib).stdout
    assert "\x1b" not in listing and "\x07" not in listing
    assert len(listing.strip().splitlines()) == 3  # two items, one with its error line
    found = mm("search", "budget", library=lib).stdout
    assert "\x1b" not in found and "\\x1b[31mred" in found


def test_control_characters_inside_subtitle_cues_never_reach_the_terminal() -> None:
    from core.transcript import parse_subtitles

    (cue,) = parse_subtitles("1\n00:00:01,000 --> 00:00:02,000\nred \x1b[31mtext\x07 here\n")
    assert cue.text == "red [31mtext here"


# -- 11. smaller ones ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["library"], ["search", "x"], ["transcript", "1"], ["tags", "1"], ["home"]]
)
def test_reading_commands_do_not_create_a_library(tmp_path: Path, command: list[str]) -> None:
    lib = tmp_path / "typo"
    out = mm(*command, library=lib)
    assert out.returncode == 1 and f"There is no library at {lib}" in out.stderr
    assert not lib.exists()


def test_an_item_left_ingesting_by_a_killed_run_shows_as_interrupted(tmp_path: Path) -> None:
    with Library(tmp_path / "lib") as lib:
        item_id = lib.upsert_pending("/media/talk.mp3", "talk", "audio")
        with lib.ingest_running():
            assert lib.shown_status(lib.get_item(item_id))[0] == "ingesting"
        assert lib.shown_status(lib.get_item(item_id)) == (
            "interrupted",
            "interrupted; run ingest again to finish it",
        )
    out = mm("library", "--json", library=tmp_path / "lib")
    (item,) = json.loads(out.stdout)
    assert item["status"] == "interrupted"
    assert "interrupted" in mm("library", library=tmp_path / "lib").stdout


_PAUSED_INGEST = """
import sys
from core.ingest.pipeline import ingest
from core.store.library import Library
lib = Library(sys.argv[1])
for ev in ingest(lib, [sys.argv[2]]):
    if ev.kind == "started":
        print(ev.item_id, flush=True)
        sys.stdin.readline()  # hold here, mid-ingest, until killed
"""


def test_an_ingest_killed_with_sigkill_leaves_its_item_shown_as_interrupted(
    tmp_path: Path,
) -> None:
    import signal

    media = tmp_path / "talk.srt"
    media.write_text(srt(*CUES), encoding="utf-8")
    lib = tmp_path / "lib"
    child = subprocess.Popen(
        [sys.executable, "-c", _PAUSED_INGEST, str(lib), str(media)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "1"
        (running,) = json.loads(mm("library", "--json", library=lib).stdout)
        assert running["status"] == "ingesting"  # the run is alive: not called interrupted
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    (item,) = json.loads(mm("library", "--json", library=lib).stdout)
    assert item["status"] == "interrupted" and "run ingest again" in item["error"]
    assert mm("ingest", str(media), library=lib).returncode == 0
    (item,) = json.loads(mm("library", "--json", library=lib).stdout)
    assert item["status"] == "ready"


def test_transcript_of_a_failed_item_says_why_instead_of_advising_the_same_ingest(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "broken.srt"
    bad.write_text("this is not a subtitle file", encoding="utf-8")
    lib = tmp_path / "lib"
    assert mm("ingest", str(bad), library=lib).returncode == 1
    out = mm("transcript", "1", library=lib)
    assert out.returncode == 2
    assert "its ingest failed" in out.stderr and "no subtitle cues" in out.stderr
    assert "Run 'mediamind ingest" not in out.stderr and "Fix the file" in out.stderr
    bad.unlink()
    gone = mm("transcript", "1", library=lib)
    assert "mediamind prune" in gone.stderr


@pytest.mark.parametrize("query", ['"', "''", "  ", "?!", "()"])
def test_a_query_without_words_finds_nothing(subtitle_library: Path, query: str) -> None:
    out = mm("search", query, library=subtitle_library)
    assert out.returncode == 0 and out.stdout.strip() == "No matches."


def test_the_highlighter_marks_only_words_that_match_a_query_term() -> None:
    text = "A council against the budgets; budgeting is an art, and apart from that, approved."
    assert mark_terms(text, query_terms("a")) == (
        "**A** council against the budgets; budgeting is an art, and apart from that, approved."
    )
    assert mark_terms(text, query_terms("the budget")) == (
        "A council against the **budgets**; **budgeting** is an art, and apart from that, approved."
    )
    assert mark_terms("Résumé of the resume", ["resume"]) == "**Résumé** of the **resume**"
    assert mark_terms("nothing here", []) == "nothing here"
