"""Ingest with the real tiny.en model on real speech."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from bench.wer import normalize
from core.errors import ModelError
from core.ingest import IngestOptions, ingest, prune
from core.store import Library
from core.transcript import make_chunks
from tests.conftest import REPO, mediamind, write_silent_video

pytestmark = pytest.mark.slow


run_cli = mediamind


def events(lib: Library, *paths: Path, **opts) -> list:  # type: ignore[no-untyped-def]
    return list(ingest(lib, list(paths), IngestOptions(**opts)))


def louder_copy(src: Path, dst: Path, gain: float) -> Path:
    """A real variant of a recording with different bytes (so a different sha256)."""
    import av

    from core.ingest import decode_audio

    audio = np.clip(decode_audio(src) * gain, -1, 1)
    with av.open(str(dst), "w") as out:
        stream = out.add_stream("flac", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray(
            (audio * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
        )
        frame.rate = 16000
        for p in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(p)
    return dst


def test_ingest_transcribes_chunks_and_skips_unchanged(
    tmp_path: Path, jfk: Path, no_network
) -> None:  # type: ignore[no-untyped-def]
    media = tmp_path / "media"
    media.mkdir()
    clip = shutil.copy(jfk, media / "jfk.flac")
    lib = Library(tmp_path / "lib")
    evs = events(lib, media)
    assert [e.kind for e in evs][-1] == "done"
    assert any(e.kind == "progress" and 0 < e.fraction < 1 for e in evs)
    (item,) = lib.items()
    assert item.status == "ready" and item.language == "en" and item.kind == "audio"
    assert (
        item.duration == pytest.approx(11.0, abs=0.1)
        and item.transcript_source == "whisper:tiny.en"
    )
    text = " ".join(normalize(" ".join(s.text for s in lib.segments(item.id))))
    for phrase in (
        "my fellow americans",
        "ask not what your country can do for you",
        "for your country",
    ):
        assert phrase in text
    segments = lib.segments(item.id)
    assert all(s.words for s in segments)
    assert segments[0].words[0].start < 1.0  # word timings are real
    chunks = lib.chunks(item.id)
    assert len(chunks) == 1 and chunks[0].prev_id is None and chunks[0].next_id is None

    version = lib.content_version
    started = time.perf_counter()
    again = events(lib, media)
    assert time.perf_counter() - started < 1.0
    assert [e.kind for e in again] == ["skipped"]

    os.utime(clip, (time.time() + 100, time.time() + 100))  # touched, same bytes
    assert [e.kind for e in events(lib, media)] == ["skipped"]
    assert lib.content_version == version

    louder_copy(jfk, Path(clip), 0.5)  # same path, new content
    kinds = [e.kind for e in events(lib, media)]
    assert kinds[-1] == "done"
    assert len(lib.items()) == 1 and lib.content_version > version
    assert lib.db.scalar("SELECT count(*) FROM segments") == len(lib.segments(item.id))

    Path(clip).unlink()
    assert prune(lib) == [item.id]
    assert lib.items() == [] and lib.db.scalar("SELECT count(*) FROM chunks") == 0


def test_same_bytes_elsewhere_reuse_the_transcript(tmp_path: Path, jfk: Path) -> None:
    lib = Library(tmp_path / "lib")
    a = Path(shutil.copy(jfk, tmp_path / "a.flac"))
    events(lib, a)
    b = Path(shutil.copy(jfk, tmp_path / "b.flac"))
    evs = events(lib, b)
    assert not any(e.kind == "progress" and e.fraction < 1 for e in evs)  # nothing transcribed
    ia, ib = lib.items()
    assert lib.segments(ia.id) == lib.segments(ib.id)


def test_prefer_subtitles_uses_the_sidecar(tmp_path: Path, jfk: Path) -> None:
    clip = Path(shutil.copy(jfk, tmp_path / "talk.flac"))
    (tmp_path / "talk.srt").write_text("1\n00:00:00,500 --> 00:00:04,000\nSidecar words here\n")
    lib = Library(tmp_path / "lib")
    events(lib, tmp_path, prefer_subtitles=True)
    (item,) = lib.items()  # the sidecar is part of the media item, not an item of its own
    assert item.path == str(clip.resolve()) and item.transcript_source == "subtitle:talk.srt"
    assert [s.text for s in lib.segments(item.id)] == ["Sidecar words here"]


def test_subtitle_files_are_transcript_only_items(tmp_path: Path) -> None:
    vtt = tmp_path / "lecture.vtt"
    vtt.write_text(
        "WEBVTT\n\n00:00:01.000 --> 00:00:31.000\nPart one\n\n"
        "00:00:31.000 --> 00:01:05.000\nPart two\n"
    )
    lib = Library(tmp_path / "lib")
    events(lib, vtt)
    (item,) = lib.items()
    assert item.kind == "subtitle" and item.duration == 65.0
    assert [c.text for c in lib.chunks(item.id)] == ["Part one", "Part two"]
    c1, c2 = lib.chunks(item.id)
    assert c1.next_id == c2.id and c2.prev_id == c1.id


def test_bad_inputs_get_one_line_each_and_the_rest_goes_on(tmp_path: Path, jfk: Path) -> None:
    media = tmp_path / "media"
    (media / "sub").mkdir(parents=True)
    shutil.copy(jfk, media / "sub" / "good.flac")
    (media / "empty.mp3").write_bytes(b"")
    (media / "notes.mp4").write_text("not a video\n" * 50)
    data = jfk.read_bytes()
    (media / "truncated.flac").write_bytes(data[: len(data) // 3])
    write_silent_video(media / "silent.mp4")
    (media / "README.txt").write_text("ignored inside folders")
    stray = tmp_path / "slides.pdf"
    stray.write_bytes(b"%PDF-1.4")
    result = run_cli(
        "ingest", str(media), str(tmp_path / "missing.mp3"), str(stray), library=tmp_path / "lib"
    )
    assert result.returncode == 1, result.stderr
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error:")]
    expected = {
        "empty.mp3": "empty",
        "notes.mp4": "not a media file",
        "truncated.flac": "truncated",
        "silent.mp4": "no audio stream",
        "missing.mp3": "no such file",
        "slides.pdf": "not a media or subtitle file",
    }
    assert len(errors) == len(expected), result.stderr
    for name, why in expected.items():
        assert any(name in ln and why in ln for ln in errors), (name, result.stderr)
    assert "README.txt" not in result.stderr
    listing = run_cli("library", "--json", library=tmp_path / "lib")
    import json

    items = {Path(i["path"]).name: i for i in json.loads(listing.stdout)}
    assert items["good.flac"]["status"] == "ready"
    assert {i["status"] for n, i in items.items() if n != "good.flac"} == {"error"}
    assert set(items["good.flac"]) >= {"id", "title", "path", "duration", "status"}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX permissions")
def test_unreadable_file(jfk: Path) -> None:
    import tempfile

    # pytest's tmp dirs are private to their owner; the unprivileged child needs a public one.
    tmp_path = Path(tempfile.mkdtemp(prefix="mediamind-perm-"))
    tmp_path.chmod(0o755)
    secret = Path(shutil.copy(jfk, tmp_path / "secret.flac"))
    secret.chmod(0o000)
    lib_dir = tmp_path / "lib"
    lib_dir.mkdir(mode=0o777)
    lib_dir.chmod(0o777)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: root reads anything, so drop to an unprivileged user first
        try:
            if os.getuid() == 0:
                os.setgid(65534)
                os.setuid(65534)
            lib = Library(lib_dir)
            msgs = [e.message for e in ingest(lib, [secret]) if e.kind == "failed"]
            os.write(write_fd, "\n".join(msgs).encode())
        except BaseException as exc:
            os.write(write_fd, f"child failed: {exc!r}".encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    with os.fdopen(read_fd) as fh:
        out = fh.read()
    os.waitpid(pid, 0)
    shutil.rmtree(tmp_path, ignore_errors=True)
    assert "secret.flac" in out and "permission denied" in out, out


def test_damaged_or_missing_model_names_the_fix(tmp_path: Path, jfk: Path) -> None:
    from core.registry import whisper_model_dir

    broken = tmp_path / "my-model"
    shutil.copytree(whisper_model_dir("tiny.en"), broken)
    (broken / "model.bin").write_bytes(b"\0" * 1000)
    lib = Library(tmp_path / "lib")
    with pytest.raises(ModelError, match=r"could not be loaded.*reinstall"):
        events(lib, jfk, model=str(broken))
    (broken / "model.bin").unlink()
    with pytest.raises(ModelError, match=r"missing model\.bin"):
        events(lib, jfk, model=str(broken))
    result = run_cli(
        "ingest", str(jfk), "--model", str(tmp_path / "nope"), library=tmp_path / "lib2"
    )
    assert (
        result.returncode == 1
        and "Unknown Whisper model" in result.stderr
        and "tiny.en" in result.stderr
    )


def test_kill_9_and_rerun_leave_each_item_exactly_once(tmp_path: Path, jfk: Path) -> None:
    media = tmp_path / "media"
    media.mkdir()
    for i in range(4):
        louder_copy(jfk, media / f"take{i}.flac", 0.4 + 0.15 * i)
    library = tmp_path / "lib"
    cmd = [sys.executable, "-m", "core.cli", "--library", str(library), "ingest", str(media)]
    for delay_after_first in (0.0, 0.7):
        proc = subprocess.Popen(cmd, cwd=REPO, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith(("ingested", "unchanged")):
                break
        time.sleep(delay_after_first)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    result = run_cli("ingest", str(media), library=library)
    assert result.returncode == 0, result.stderr
    lib = Library(library)
    assert lib.db.scalar("PRAGMA integrity_check") == "ok"
    items = lib.items()
    assert sorted(Path(i.path).name for i in items) == [f"take{i}.flac" for i in range(4)]
    assert {i.status for i in items} == {"ready"}
    for item in items:
        segments = lib.segments(item.id)
        assert segments and len(lib.chunks(item.id)) == len(make_chunks(segments))
    assert lib.db.scalar("SELECT count(*) FROM segments") == sum(
        len(lib.segments(i.id)) for i in items
    )


# -- long files: searchable chunk by chunk ------------------------------------------------------

PODCAST = REPO / "demo" / "media" / "printing_history_podcast.mp3"  # 110 s of speech (Piper)

# Run in a child process: ingest with one-chunk batches, report the first committed batch,
# then wait (on stdin, not a timer) to be killed mid-file.
_KILLED_MID_FILE = """
import sys
from core.ingest.pipeline import IngestOptions, ingest
from core.store.library import Library
lib = Library(sys.argv[1])
for ev in ingest(lib, [sys.argv[2]], IngestOptions(batch_chunks=1)):
    if ev.kind == "progress" and ev.chunks_indexed:
        print(ev.item_id, ev.chunks_indexed, flush=True)
        sys.stdin.readline()
"""


def assert_whole_transcript(lib: Library, item_id: int) -> None:
    """The item's rows are one complete transcript: chunks as make_chunks cuts them, linked,
    each with its full-text row and vectors, and no row left over from an earlier run."""
    item = lib.get_item(item_id)
    assert item.status == "ready" and item.sha256
    segments = lib.segments(item_id)
    assert lib.db.query("SELECT idx FROM segments WHERE media_id=? ORDER BY idx", (item_id,)) == [
        {"idx": i} for i in range(len(segments))
    ]
    chunks = lib.chunks(item_id)
    expected = make_chunks(segments)
    assert len(expected) >= 3
    assert [(c.idx, c.start, c.end, c.text, c.first_segment, c.last_segment) for c in chunks] == [
        (e.idx, e.start, e.end, e.text, e.first_segment, e.last_segment) for e in expected
    ]
    ids = [c.id for c in chunks]
    assert [c.prev_id for c in chunks] == [None, *ids[:-1]]
    assert [c.next_id for c in chunks] == [*ids[1:], None]
    for table, column in (
        ("chunk_vec", "chunk_id"),
        ("chunk_vec_bits", "chunk_id"),
        ("chunk_vec_int8", "chunk_id"),
        ("chunk_fts", "rowid"),
    ):
        stored = lib.db.query(f"SELECT {column} AS id FROM {table} ORDER BY {column}")
        assert [r["id"] for r in stored] == sorted(ids), table  # no orphans of the dead run
    assert lib.db.scalar("PRAGMA integrity_check") == "ok"


def test_long_file_is_searchable_chunk_by_chunk_and_a_kill_leaves_nothing_partial(
    tmp_path: Path,
) -> None:
    from core.search import Searcher

    clip = Path(shutil.copy(PODCAST, tmp_path / "podcast.mp3"))
    library = tmp_path / "lib"
    Library(library).close()

    # 1. A run killed mid-file leaves whole committed batches of an unfinished item.
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_MID_FILE, str(library), str(clip)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    with Library(library) as other:
        (item,) = other.items()
        dead_chunks = other.chunks(item.id)
        assert item.status == "ingesting" and item.sha256 is None
        assert 1 <= len(dead_chunks) == int(line.split()[1])
    child.send_signal(signal.SIGKILL)
    child.wait()

    # 2. The next run redoes the file; while it runs, a second connection (what another
    #    'mediamind search' process opens) finds each committed batch, and the dead run's rows
    #    are gone from the first commit on (deleted in the same transaction).
    lib = Library(library)
    other = Library(library)
    searcher = Searcher(other)
    seen: list[int] = []
    gen = ingest(lib, [clip], IngestOptions(batch_chunks=1))
    for ev in gen:
        if ev.kind != "progress" or ev.fraction == 1 or ev.chunks_indexed in (0, *seen):
            continue
        seen.append(ev.chunks_indexed)
        item = other.get_item(ev.item_id)
        chunks = other.chunks(ev.item_id)
        assert item.status == "ingesting"
        assert len(chunks) == ev.chunks_indexed  # the dead run's rows went with batch 1
        assert chunks[-1].prev_id == (chunks[-2].id if len(chunks) > 1 else None)
        newest = chunks[-1]
        hits = searcher.search(newest.text, k=3)
        assert hits and hits[0].chunk_id == newest.id, (newest.text, hits)
    assert ev.kind == "done"
    total = len(lib.chunks(ev.item_id))
    assert ev.chunks_indexed == total
    # Searchable before the end: at least two batches were seen while the file was running.
    assert len(seen) >= 2 and seen[0] < total, (seen, total)
    assert_whole_transcript(other, ev.item_id)
    assert lib.items()[0].id == item.id  # the same item, redone
    other.close()
    lib.close()


def test_reingest_keeps_the_old_transcript_searchable_until_the_new_one_is_complete(
    tmp_path: Path,
) -> None:
    clip = louder_copy(PODCAST, tmp_path / "podcast.flac", 1.0)
    shutil.copy(PODCAST.with_suffix(".srt"), tmp_path / "podcast.srt")
    library = tmp_path / "lib"
    lib = Library(library)
    assert events(lib, clip, prefer_subtitles=True)[-1].kind == "done"
    (item,) = lib.items()
    old = lib.chunks(item.id)
    assert item.transcript_source == "subtitle:podcast.srt" and len(old) >= 3

    louder_copy(PODCAST, clip, 0.6)  # changed content: transcribed anew by Whisper
    other = Library(library)
    version = other.content_version
    paused = 0
    for ev in ingest(lib, [clip], IngestOptions(batch_chunks=1)):
        if ev.kind == "progress" and 0 < ev.fraction < 1:
            paused += 1
            assert ev.chunks_indexed == 0
            assert other.chunks(item.id) == old  # untouched and still searchable
            assert other.content_version == version
    assert ev.kind == "done" and paused >= 3
    new = lib.chunks(item.id)
    assert ev.chunks_indexed == len(new)
    assert lib.get_item(item.id).transcript_source == "whisper:tiny.en"
    assert [c.text for c in new] != [c.text for c in old]
    assert_whole_transcript(other, item.id)
    assert other.content_version > version
    other.close()
    lib.close()


def test_failed_run_removes_the_partial_rows_of_a_new_item(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib")
    clip = Path(shutil.copy(PODCAST, tmp_path / "podcast.mp3"))
    gen = ingest(lib, [clip], IngestOptions(batch_chunks=1))
    for ev in gen:
        if ev.kind == "progress" and ev.chunks_indexed:
            break
    assert lib.chunks(ev.item_id) and lib.get_item(ev.item_id).status == "ingesting"
    version = lib.content_version
    gen.close()  # what Ctrl-C does mid-file
    item = lib.get_item(ev.item_id)
    assert item.status == "error" and "interrupted" in (item.error or "")
    assert lib.chunks(item.id) == [] and lib.segments(item.id) == []
    assert lib.db.scalar("SELECT count(*) FROM chunk_vec") == 0
    assert lib.content_version > version
