"""Render every view on the demo library, offscreen, into PNGs.

``python -m app.screenshots [--out docs/screenshots] [--library DIR]``

The demo media are imported through the Library view exactly as a user would (so the Jobs
shot shows a real queue), then each view is captured once everything has been ingested.
Settings are kept in a throwaway file; the user's preferences are never touched.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "media"


def main(argv: Sequence[str] | None = None) -> int:
    """Write the screenshots; return 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m app.screenshots")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--library", type=Path, help="library to use (default: a new temp one)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for ingest")
    args = parser.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")

    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    from app import theme
    from app.services import Services, SettingsService
    from app.window import MainWindow

    app = QApplication.instance() or QApplication(["mediamind-screenshots"])
    assert isinstance(app, QApplication)
    with tempfile.TemporaryDirectory(prefix="mediamind-shots-") as tmp:
        scratch = Path(tmp)
        library = args.library or scratch / "library"
        settings = SettingsService(
            QSettings(str(scratch / "settings.ini"), QSettings.Format.IniFormat)
        )
        theme.apply(app, dark=False)
        window = MainWindow(Services.open(library, settings))
        window.resize(1280, 800)
        window.show()
        out: Path = args.out
        out.mkdir(parents=True, exist_ok=True)

        def wait(pred: Callable[[], bool], timeout: float, what: str) -> None:
            end = time.monotonic() + timeout
            while not pred():
                if time.monotonic() > end:
                    raise TimeoutError(f"timed out waiting for {what}")
                app.processEvents()
                time.sleep(0.01)

        def shot(name: str, settle: bool = True) -> None:
            for _ in range(5 if settle else 0):
                app.processEvents()
            pixmap = window.grab()
            _paint_video_frame(window, pixmap)
            path = out / f"{name}.png"
            pixmap.save(str(path))
            sys.stderr.write(f"wrote {path}\n")

        try:
            wait(lambda: window.is_ready, 30, "the window")
            broken = scratch / "corrupted_interview.mp3"
            broken.write_bytes(b"\x00not really an mp3\x00" * 2000)
            window.library_view.import_paths([DEMO, broken])
            jobs = window.jobs
            wait(lambda: jobs.rowCount() >= 7, 60, "the demo files to be queued")
            window.show_view("Jobs")
            failed = next((r for r, j in enumerate(jobs.jobs) if j.name == broken.name), 0)
            window.jobs_view.table.selectRow(failed)
            wait(
                lambda: (
                    any(j.state == "running" and 0.3 < j.progress < 0.9 for j in jobs.jobs)
                    and sum(j.state in ("done", "failed") for j in jobs.jobs) >= 3
                ),
                args.timeout,
                "a job in progress",
            )
            shot("jobs", settle=False)
            wait(lambda: jobs.active_count() == 0, args.timeout, "ingest to finish")
            window.library_view.reload()
            wait(
                lambda: all(i.status != "ingesting" for i in window.library_view.model.items),
                30,
                "the library",
            )

            window.show_view("Library")
            shot("library")

            search = window.search_view
            window.show_view("Search")
            search.query.setText("when did they talk about the budget")
            answered: list[object] = []
            search.results_ready.connect(answered.append)
            search.run()
            wait(lambda: bool(answered), 120, "search results")
            shot("search")

            hit = search.hits[0]
            window.open_at(hit.media_id, hit.start)
            player = window.player_view
            wait(lambda: player._pending_ms is None and player.current_line >= 0, 30, "the player")
            if player.player is not None:
                player.player.pause()
            shot("player")

            video = next(
                (
                    i
                    for i in window.library_view.model.items
                    if i.kind == "video" and i.status == "ready"
                ),
                None,
            )
            if video is not None:
                window.open_at(video.id, 20.0)
                wait(lambda: player._pending_ms is None, 30, "the video")
                time.sleep(0.5)
                app.processEvents()
                if player.player is not None:
                    player.player.pause()
                shot("player-video")

            ask = window.ask_view
            window.ask("What did they decide about the budget?")
            wait(lambda: ask.answer is not None and not ask.runner.busy, 300, "an answer")
            shot("ask")

            home = window.home_view
            window.show_view("Home")
            wait(lambda: not home.loading and bool(home.shelves), 120, "the home rows")
            wait(lambda: not home.pool.busy, 60, "the thumbnails")
            app.processEvents()
            shot("home")

            review = window.review_view
            window.show_view("Review")
            wait(lambda: not review.loading and bool(review.cards), 60, "the review queue")
            shot("review")

            window.show_view("Settings")
            shot("settings")

            window.set_dark(True)
            window.show_view("Library")
            shot("library-dark")
            window.show_view("Search")
            shot("search-dark")
            window.show_view("Ask")
            shot("ask-dark")
            window.set_dark(False)
        finally:
            window.shutdown()
            window.close()
    return 0


def _paint_video_frame(window: object, pixmap: object) -> None:
    """Draw the player's current video frame where the video widget is.

    Offscreen, ``QVideoWidget`` renders through a native surface that ``grab()`` cannot see;
    the frame itself is real (decoded by the player into the widget's video sink).
    """
    from PySide6.QtCore import QPoint, QRect, Qt
    from PySide6.QtGui import QColor, QPainter, QPixmap
    from PySide6.QtWidgets import QWidget

    player = getattr(window, "player_view", None)
    video = getattr(player, "video", None)
    if not isinstance(window, QWidget) or not isinstance(pixmap, QPixmap) or video is None:
        return
    if not video.isVisible():
        return
    frame = video.videoSink().videoFrame()
    if not frame.isValid():
        return
    image = frame.toImage()
    area = QRect(video.mapTo(window, QPoint(0, 0)), video.size())
    scaled = image.scaled(area.size(), Qt.AspectRatioMode.KeepAspectRatio)
    painter = QPainter(pixmap)
    painter.fillRect(area, QColor("black"))
    x = area.x() + (area.width() - scaled.width()) // 2
    y = area.y() + (area.height() - scaled.height()) // 2
    painter.drawImage(x, y, scaled)
    painter.end()


if __name__ == "__main__":
    sys.exit(main())
