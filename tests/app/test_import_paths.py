"""The import paths of the Library view: drag and drop, folders, and watched folders."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

DEMO = Path(__file__).resolve().parents[2] / "demo" / "media"


def drop(view, paths: list[Path]) -> None:  # type: ignore[no-untyped-def]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(10, 10),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    view.dropEvent(event)


def test_dropped_files_and_folders_are_queued(
    make_window, library_dir: Path, tmp_path: Path, qtbot
) -> None:
    folder = tmp_path / "talks"
    (folder / "sub").mkdir(parents=True)
    a = Path(shutil.copy(DEMO / "printing_history_podcast.mp3", folder / "podcast.mp3"))
    shutil.copy(DEMO / "printing_history_podcast.srt", folder / "podcast.srt")  # belongs to it
    b = Path(shutil.copy(DEMO / "cooking_segment.ogg", folder / "sub" / "cooking.ogg"))
    (folder / "readme.txt").write_text("not media")
    single = Path(shutil.copy(DEMO / "jfk_inaugural.flac", tmp_path / "jfk.flac"))
    window = make_window(library_dir, autostart_jobs=False)  # queue only, run nothing
    with qtbot.waitSignals([window.library_view.import_requested] * 2, timeout=10_000):
        drop(window.library_view, [single, folder])
    assert sorted(j.path for j in window.jobs.jobs) == sorted(str(p) for p in (a, b, single))
    assert all(j.state == "queued" for j in window.jobs.jobs)
    # Dropping the same files again does not queue them twice.
    drop(window.library_view, [single])
    assert len(window.jobs.jobs) == 3


@pytest.mark.slow
def test_watched_folder_ingests_new_files(
    make_window, library_dir: Path, tmp_path: Path, embedding_model: Path, qtbot
) -> None:
    watched = tmp_path / "watched"
    watched.mkdir()
    shutil.copy(DEMO / "printing_history_podcast.srt", watched / "podcast.srt")
    window = make_window(library_dir)
    window.settings_view.add_watched(str(watched))  # what "Watch folder…" does
    qtbot.waitUntil(lambda: [j.state for j in window.jobs.jobs] == ["done"], timeout=60_000)

    # A file copied in later is noticed by the watcher and ingested too.
    (watched / "notes.srt").write_text("1\n00:00:01,000 --> 00:00:04,000\nHello from notes.\n")
    qtbot.waitUntil(lambda: len(window.jobs.jobs) == 2, timeout=15_000)
    qtbot.waitUntil(lambda: window.jobs.jobs[1].state == "done", timeout=60_000)
    assert window.services.settings.watched_folders == [str(watched)]
    # Nothing changed: a rescan queues nothing.
    with qtbot.waitSignal(window.watcher.scanned, timeout=10_000) as scanned:
        window.watcher.scan()
    assert scanned.args == [0]
