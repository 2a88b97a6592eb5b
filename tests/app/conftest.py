"""Fixtures for the desktop app: offscreen Qt, isolated settings, and a leak guard."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before pytest-qt creates the QApplication.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")

from tests.conftest import in_ci, requires

try:
    import PySide6.QtWidgets  # noqa: F401
except ImportError as exc:  # the gui extra, or a system library Qt links (the README's list)
    _why = (
        f"PySide6.QtWidgets cannot be imported ({exc}): pip install -e '.[gui]', and for a "
        "missing lib*.so the README's apt packages (make system)"
    )
    if in_ci():
        pytest.fail(f"CI=true, and a part CI must provide is missing: {_why}", pytrace=False)
    pytest.skip(_why, allow_module_level=True)

from PySide6.QtCore import QSettings

from app.services import Services, SettingsService
from app.views.player import HAVE_MULTIMEDIA, MULTIMEDIA_ERROR
from app.window import MainWindow
from app.workers import live_workers

# The reason is the import's own cause (a missing libpulse0 is not a missing PySide6-Addons);
# `make test` installs both, so in CI the player tests fail rather than skip without them.
requires_multimedia = requires(HAVE_MULTIMEDIA, MULTIMEDIA_ERROR or "")


def _python_threads() -> set[threading.Thread]:
    # Qt's own threads show up as _DummyThread once they run Python code; they are Qt's to
    # join, and the WorkerPool/IngestRunner registry below covers the ones we start.
    return {
        t
        for t in threading.enumerate()
        if t.is_alive() and not isinstance(t, threading._DummyThread)  # type: ignore[attr-defined]
    }


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    """Fail the test if it leaves threads, worker pools or child processes running."""
    threads_before = _python_threads()
    yield
    leaked_threads = [t.name for t in _python_threads() - threads_before]
    children = multiprocessing.active_children()  # also reaps finished ones
    workers = live_workers()
    for child in children:
        child.kill()
        child.join(5)
    assert not children, f"child processes leaked: {children}"
    assert not workers, f"workers not shut down: {workers}"
    assert not leaked_threads, f"threads leaked: {leaked_threads}"


@pytest.fixture(scope="session")
def embedding_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the int8 search model once per session (the ingest process and search use it).

    Session fixtures run before the function-scoped MEDIAMIND_MODELS of tests/conftest.py, so
    the same directory is named here explicitly.
    """
    models = tmp_path_factory.getbasetemp() / "models"
    models.mkdir(exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIAMIND_MODELS", str(models))
        from models.embedding.build import ensure_embedding_model

        return ensure_embedding_model()


@pytest.fixture
def settings(tmp_path: Path) -> SettingsService:
    """Preferences in a throwaway INI file."""
    return SettingsService(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))


@pytest.fixture
def library_dir(tmp_path: Path) -> Path:
    path = tmp_path / "library"
    path.mkdir()
    return path


@pytest.fixture
def make_window(qtbot, settings: SettingsService):  # type: ignore[no-untyped-def]
    """Build a main window on a library; it is shut down (and joined) after the test."""
    windows: list[MainWindow] = []

    def make(
        directory: Path, autostart_jobs: bool = True, auto_annotate: bool = False
    ) -> MainWindow:
        window = MainWindow(Services.open(directory, settings), autostart_jobs=autostart_jobs)
        # Ingest tests count their jobs; tagging after ingest is tested where it is asked for.
        window.jobs.auto_annotate = auto_annotate
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.is_ready, timeout=20_000)
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.shutdown()


PODCAST = Path(__file__).resolve().parents[2] / "demo" / "media" / "printing_history_podcast.mp3"


@pytest.fixture(scope="session")
def podcast_library(tmp_path_factory: pytest.TempPathFactory, embedding_model: Path) -> Path:
    """A library holding the demo podcast (transcript from its .srt: multi-chunk, no Whisper)."""
    from core.ingest import IngestOptions, ingest
    from core.store import Library

    directory = tmp_path_factory.mktemp("podcast-library")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIAMIND_MODELS", str(embedding_model.parent))
        with Library(directory) as lib:
            events = list(ingest(lib, [PODCAST], IngestOptions(prefer_subtitles=True)))
    assert events[-1].kind == "done", events
    return directory


class LoopLag:
    """Measures the GUI event loop's stalls: a 10 ms timer notes the gaps between its ticks."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.gaps: list[float] = []
        self._last = 0.0
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)

    def _tick(self) -> None:
        now = time.perf_counter()
        self.gaps.append(now - self._last)
        self._last = now

    def __enter__(self) -> LoopLag:
        self._last = time.perf_counter()
        self.timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.timer.stop()

    def assert_no_stall(self, limit: float = 0.100) -> None:
        """Fail when the loop ran too few ticks to judge, or stalled longer than ``limit``."""
        assert len(self.gaps) > 50, f"only {len(self.gaps)} timer ticks"
        worst = max(self.gaps)
        assert worst < limit, f"the event loop stalled for {worst * 1000:.0f} ms"


@pytest.fixture(scope="session")
def annotated_library(
    tmp_path_factory: pytest.TempPathFactory, podcast_library: Path, embedding_model: Path
) -> Path:
    """A copy of the podcast library with its item annotated by the real LLM and classifier."""
    import shutil

    from core.annotate import annotate
    from core.store import Library

    directory = Path(shutil.copytree(podcast_library, tmp_path_factory.mktemp("annot") / "lib"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIAMIND_MODELS", str(embedding_model.parent))
        with Library(directory) as lib:
            events = list(annotate(lib))
    assert events and events[-1].kind != "failed", events
    return directory
