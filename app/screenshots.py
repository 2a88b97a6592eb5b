"""Render every view on the demo library, offscreen, into PNGs: light and dark, two sizes.

``python -m app.screenshots [--out docs/screenshots] [--library DIR] [--sizes 1440x900,800x600]``

The demo media are imported through the Library view exactly as a user would (so the Jobs
shot shows a real queue), then each view is captured once everything has been ingested: a
search, an answer, the Home rows, the review queue and the speakers are loaded first, and then
every view (see :data:`VIEWS`) is shot in the light and the dark theme at each size, as
``<view>-<light|dark>-<W>x<H>.png``. The README's pictures (``home.png``, ``library.png`` …)
are the light 1440×900 ones, plus the in-progress Jobs shot and the audio Player.
Settings are kept in a throwaway file; the user's preferences are never touched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "media"
SIZES = ((1440, 900), (800, 600))
# Every view of the window, by its sidebar name, and the file name it is shot as.
VIEWS = {
    "Home": "home",
    "Library": "library",
    "Search": "search",
    "Ask": "ask",
    "Player": "player-video",
    "Review": "review",
    "Speakers": "speakers",
    "Jobs": "jobs-done",
    "Settings": "settings",
}
# The README's pictures: light, at the first size.
README_SHOTS = ("home", "library", "search", "ask", "player-video", "review")


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``1440x900,800x600`` as ``[(1440, 900), (800, 600)]``."""
    sizes = []
    for part in text.split(","):
        w, _, h = part.strip().lower().partition("x")
        sizes.append((int(w), int(h)))
    return sizes


def main(argv: Sequence[str] | None = None) -> int:
    """Write the screenshots; return 0 on success."""
    parser = argparse.ArgumentParser(prog="python -m app.screenshots")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "screenshots")
    parser.add_argument("--library", type=Path, help="library to use (default: a new temp one)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for ingest")
    parser.add_argument(
        "--sizes",
        type=parse_sizes,
        default=list(SIZES),
        help="window sizes to shoot every view at (default 1440x900,800x600)",
    )
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
        window.resize(*args.sizes[0])
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
                time.sleep(0.02)
            pixmap = window.grab()
            _paint_video_frame(window, pixmap)
            path = out / f"{name}.png"
            pixmap.save(str(path))
            size = f"{pixmap.width()}x{pixmap.height()}"
            sys.stderr.write(f"wrote {path} ({size})\n")

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

            speakers = window.speakers_view
            window.show_view("Speakers")
            wait(lambda: speakers._loaded_once and not speakers.loading, 60, "the speakers")

            # The video item stays open in the Player for the matrix below.
            if video is not None:
                window.open_at(video.id, 20.0)
                wait(lambda: player._pending_ms is None, 30, "the video")
                if player.player is not None:
                    player.player.pause()
            shoot_views(window, out, args.sizes)
        finally:
            window.shutdown()
            window.close()
    return 0


def grab(window: object, path: Path) -> tuple[int, int]:
    """Save what ``window`` shows (with the Player's video frame) to ``path``; its size."""
    from PySide6.QtWidgets import QApplication, QWidget

    assert isinstance(window, QWidget)
    for _ in range(5):
        QApplication.processEvents()
        time.sleep(0.02)
    pixmap = window.grab()
    _paint_video_frame(window, pixmap)
    pixmap.save(str(path))
    sys.stderr.write(f"wrote {path} ({pixmap.width()}x{pixmap.height()})\n")
    return pixmap.width(), pixmap.height()


def shoot_views(
    window: Any, out: Path, sizes: Sequence[tuple[int, int]], timeout: float = 60
) -> list[Path]:
    """Shoot every view (:data:`VIEWS`) light and dark at each size; return the files.

    The light shots at the first size are also copied to the README's names (``home.png`` …).
    The window's theme is light again afterwards.

    Raises:
        TimeoutError: Home's rows did not load within ``timeout`` seconds.
    """
    from PySide6.QtWidgets import QApplication

    written: list[Path] = []
    home = window.home_view
    for dark in (False, True):
        window.set_dark(dark)
        for width, height in sizes:
            window.resize(width, height)
            for view, name in VIEWS.items():
                window.show_view(view)
                end = time.monotonic() + timeout
                while view == "Home" and home.loading:
                    if time.monotonic() > end:
                        raise TimeoutError("timed out waiting for the home rows")
                    QApplication.processEvents()
                    time.sleep(0.01)
                label = f"{name}-{'dark' if dark else 'light'}-{width}x{height}"
                path = out / f"{label}.png"
                grab(window, path)
                written.append(path)
                if not dark and (width, height) == sizes[0] and name in README_SHOTS:
                    shutil.copyfile(path, out / f"{name}.png")
    window.set_dark(False)
    return written


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
