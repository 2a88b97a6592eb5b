"""Import through the Library view, watch Jobs reach 100 %, cancel, retry, persistence."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pytest

from app.jobs import Job
from app.views.library import ItemRole
from tests.app.conftest import LoopLag

DEMO = Path(__file__).resolve().parents[2] / "demo" / "media"


def table_items(window):  # type: ignore[no-untyped-def]
    proxy = window.library_view.proxy
    return [proxy.data(proxy.index(r, 0), ItemRole) for r in range(proxy.rowCount())]


@pytest.mark.slow
def test_import_reaches_100_percent_and_appears_in_library(
    make_window, library_dir: Path, tmp_path: Path, jfk: Path, embedding_model: Path, qtbot
) -> None:
    clip = Path(shutil.copy(jfk, tmp_path / "jfk.flac"))
    window = make_window(library_dir, auto_annotate=True)
    window.library_view.import_paths([clip])  # what drop, Add files and Ctrl+O all call
    qtbot.waitUntil(lambda: window.jobs.rowCount() == 1)
    job = window.jobs.jobs[0]
    fractions: list[float] = []
    window.jobs.dataChanged.connect(lambda *_: fractions.append(job.progress))
    qtbot.waitUntil(lambda: job.state == "done", timeout=240_000)

    # Progress is by audio time, with elapsed time and speed (x real time) once done.
    assert job.progress == 1.0 and job.duration == pytest.approx(11, 0.1)
    assert window.jobs.index(0, 2).data() == "100% · 0:11 of 0:11"
    assert window.jobs.index(0, 1).data() == "Done"
    timing = window.jobs.index(0, 3).data()
    assert "elapsed" in timing and "\u00d7 real time" in timing, timing
    assert any(0 < f < 1 for f in fractions), "no intermediate progress was shown"
    qtbot.waitUntil(
        lambda: any(i.status == "ready" and i.path == str(clip) for i in table_items(window)),
        timeout=10_000,
    )
    (item,) = table_items(window)
    assert (
        item.kind == "audio" and item.language == "en" and item.duration == pytest.approx(11, 0.1)
    )
    row = [window.library_view.proxy.index(0, c).data() for c in range(5)]
    assert row[1:] == ["audio", "0:11", "Ready", "en"]
    # The queue is on disk, so it survives a restart.
    saved = json.loads((library_dir / "jobs.json").read_text())
    assert saved[0]["state"] == "done" and saved[0]["path"] == str(clip)

    # A finished ingest is followed by tagging, and the tags reach the library table.
    qtbot.waitUntil(lambda: window.jobs.rowCount() == 2)
    tag_job = window.jobs.jobs[1]
    assert tag_job.kind == "annotate" and tag_job.item_id == item.id
    assert window.jobs.index(1, 0).data() == "Tag: jfk"
    qtbot.waitUntil(lambda: tag_job.state in ("done", "failed"), timeout=240_000)
    assert tag_job.state == "done", tag_job.message
    qtbot.waitUntil(lambda: bool(table_items(window)[0].topics), timeout=10_000)
    tagged = table_items(window)[0]
    assert tagged.mood and tagged.rating


@pytest.mark.slow
def test_gui_event_loop_never_stalls_during_ingest(
    make_window, library_dir: Path, tmp_path: Path, jfk: Path, embedding_model: Path, qtbot
) -> None:
    clip = Path(shutil.copy(jfk, tmp_path / "jfk.flac"))
    window = make_window(library_dir)
    with LoopLag() as lag:
        window.library_view.import_paths([clip])
        qtbot.waitUntil(lambda: window.jobs.rowCount() == 1)
        job = window.jobs.jobs[0]
        qtbot.waitUntil(lambda: job.state == "done", timeout=240_000)
        qtbot.waitUntil(
            lambda: bool(table_items(window)) and table_items(window)[0].status == "ready"
        )
    lag.assert_no_stall()


@pytest.mark.slow
def test_cancel_kills_the_process_and_retry_runs_again(
    make_window, library_dir: Path, tmp_path: Path, embedding_model: Path, qtbot
) -> None:
    long_file = Path(shutil.copy(DEMO / "town_hall_q4.m4a", tmp_path / "town_hall.m4a"))
    window = make_window(library_dir)
    window.library_view.import_paths([long_file])
    qtbot.waitUntil(lambda: window.jobs.rowCount() == 1)
    job = window.jobs.jobs[0]
    qtbot.waitUntil(lambda: job.state == "running" and job.item_id is not None, timeout=60_000)
    pid = window.runner.process_pid
    assert pid is not None

    window.jobs.cancel(job.id)
    assert job.state == "cancelled" and window.runner.process_pid is None
    assert not multiprocessing.active_children()
    assert window.services.library.item(job.item_id).status == "error"  # not left 'ingesting'

    window.jobs.retry(job.id)
    qtbot.waitUntil(
        lambda: job.state == "running" and window.runner.process_pid is not None, timeout=10_000
    )
    assert window.runner.process_pid != pid  # a fresh spawned process
    window.jobs.cancel(job.id)
    assert job.state == "cancelled"


def test_failed_file_shows_its_error_and_the_queue_goes_on(
    make_window, library_dir: Path, tmp_path: Path, qtbot
) -> None:
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"this is not an mp3 file at all" * 100)
    notes = tmp_path / "notes.txt"
    notes.write_text("not media")
    window = make_window(library_dir)
    window.library_view.import_paths([broken, notes])
    qtbot.waitUntil(lambda: window.jobs.rowCount() == 2)
    qtbot.waitUntil(lambda: all(j.state == "failed" for j in window.jobs.jobs), timeout=60_000)
    first, second = window.jobs.jobs
    assert "broken.mp3" in first.message
    assert "not a media or subtitle file" in second.message
    window.jobs_view.table.selectRow(1)
    assert "not a media or subtitle file" in window.jobs_view.details.toPlainText()
    assert window.jobs_view.retry_button.isEnabled()
    assert not window.jobs.paused  # a bad file is not an engine error


def test_jobs_survive_a_restart(make_window, library_dir: Path, tmp_path: Path, qtbot) -> None:
    jobs = [
        Job(str(tmp_path / "a.mp3"), state="running", progress=0.4),
        Job(str(tmp_path / "b.mp3"), state="queued"),
        Job(str(tmp_path / "c.mp3"), state="failed", message="c.mp3: damaged"),
    ]
    (library_dir / "jobs.json").write_text(json.dumps([j.__dict__ for j in jobs]))
    window = make_window(library_dir, autostart_jobs=False)
    states = [(j.name, j.state, j.message) for j in window.jobs.jobs]
    # The job interrupted by the last exit is redone; the others keep their state.
    assert states == [
        ("a.mp3", "queued", ""),
        ("b.mp3", "queued", ""),
        ("c.mp3", "failed", "c.mp3: damaged"),
    ]
    assert window.sidebar.item(window.VIEWS.index("Jobs")).text() == "Jobs (2)"
