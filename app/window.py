"""The main window: a sidebar of views, shortcuts, the error banner and orderly shutdown."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QFrame,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app import theme
from app.jobs import FolderWatcher, JobQueue
from app.services import Services, UserMessage, preload_engine_modules
from app.services.settings import demo_media_dir
from app.services.speakers import SpeakersService
from app.views.ask import AskView
from app.views.home import HomeView
from app.views.jobs import JobsView
from app.views.library import LibraryView
from app.views.player import NowPlayingBar, PlayerView
from app.views.review import ReviewView
from app.views.search import SearchView
from app.views.settings import SettingsView
from app.views.speakers import SpeakersView
from app.views.welcome import WelcomeStrip
from app.workers import AskRunner, ErrorNotifier, IngestRunner, WorkerPool

log = logging.getLogger(__name__)


class ErrorBanner(QFrame):
    """A dismissable strip at the top of the window showing the last error and its fix."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QPushButton("Dismiss")
        close.clicked.connect(self.hide)
        row = QHBoxLayout(self)
        row.addWidget(self.label, 1)
        row.addWidget(close)
        self.hide()

    def show_message(self, msg: UserMessage) -> None:
        """Show ``msg`` (its fix in a second line)."""
        text = f"<b>{_esc(msg.message)}</b>"
        if msg.fix:
            text += f"<br>{_esc(msg.fix)}"
        self.label.setText(text)
        self.label.setToolTip(msg.details or "")
        self.show()


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class MainWindow(QMainWindow):
    """MediaMind's window: a sidebar of views (see VIEWS), Ctrl+1.. switch between them."""

    first_paint = Signal()
    ready = Signal()  # painted once and the library's first data load has arrived

    VIEWS = (
        "Home",
        "Library",
        "Search",
        "Ask",
        "Player",
        "Review",
        "Speakers",
        "Jobs",
        "Settings",
    )

    def __init__(self, services: Services, autostart_jobs: bool = True) -> None:
        super().__init__()
        preload_engine_modules()  # on this (the GUI) thread, before any worker starts
        self.services = services
        self.setWindowTitle(f"MediaMind — {services.directory}")
        self.resize(1200, 760)
        self._painted = False
        self._loaded = False
        self._ready_sent = False
        self._closed = False

        self.notifier = ErrorNotifier(self)
        self.pool = WorkerPool(self.notifier, max_threads=2, parent=self)
        self.runner = IngestRunner(services.ingest, self)
        self.ask_runner = AskRunner(services.ask, self)
        self.jobs = JobQueue(
            self.runner, services.library, self.notifier, services.library.jobs_file, self
        )
        self.watcher = FolderWatcher(self.jobs, services.library, self.pool, self)

        self.home_view = HomeView(services.home, self.pool)
        self.library_view = LibraryView(services.library, self.pool)
        self.search_view = SearchView(services.search, self.pool)
        self.ask_view = AskView(self.ask_runner, self.notifier, services.ask, self.pool)
        self.player_view = PlayerView(services.library, self.notifier)
        self.review_view = ReviewView(services.review, self.pool)
        self.speakers_service = SpeakersService(services.directory)
        self.speakers_view = SpeakersView(self.speakers_service, self.pool)
        self.jobs_view = JobsView(self.jobs)
        self.settings_view = SettingsView(services.settings, services.directory, self.pool)
        self.views: list[QWidget] = [
            self.home_view,
            self.library_view,
            self.search_view,
            self.ask_view,
            self.player_view,
            self.review_view,
            self.speakers_view,
            self.jobs_view,
            self.settings_view,
        ]

        self.sidebar = QListWidget()
        self.sidebar.setObjectName("sidebar")
        self.sidebar.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.stack = QStackedWidget()
        for n, (name, view) in enumerate(zip(self.VIEWS, self.views, strict=True), start=1):
            item = QListWidgetItem(name)
            item.setToolTip(f"{name} (Ctrl+{n})")
            self.sidebar.addItem(item)
            self.stack.addWidget(view)
        self.sidebar.currentRowChanged.connect(self._on_view_changed)
        self.banner = ErrorBanner()
        self.demo_dir = demo_media_dir()
        self.welcome = WelcomeStrip(self.demo_dir is not None)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(12, 10, 12, 6)
        right_layout.addWidget(self.banner)
        right_layout.addWidget(self.welcome)
        right_layout.addWidget(self.stack, 1)
        self.now_playing = NowPlayingBar(self.player_view)  # audio going on in another view
        self.now_playing.open_requested.connect(lambda: self.show_view("Player"))
        right_layout.addWidget(self.now_playing)
        central = QWidget()
        row = QHBoxLayout(central)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        side = self.side = QFrame()
        side.setObjectName("side")
        side.setFixedWidth(180)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 14, 0, 0)
        side_layout.setSpacing(4)
        brand = QLabel("MediaMind")
        brand.setObjectName("brand")
        side_layout.addWidget(brand)
        side_layout.addWidget(self.sidebar, 1)
        row.addWidget(side)
        row.addWidget(right, 1)
        self.setCentralWidget(central)
        self.status_label = QLabel()
        # A long library path must not hold the window wider than the screen (800×600).
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.statusBar().addWidget(self.status_label, 1)
        privacy = QLabel("Offline: nothing leaves this machine")
        privacy.setObjectName("muted")
        self.statusBar().addPermanentWidget(privacy)

        self._refresh = QTimer(self)  # coalesces bursts of library changes into one reload
        self._refresh.setSingleShot(True)
        self._refresh.setInterval(250)
        self._refresh.timeout.connect(self.library_view.reload)
        self._build_actions()
        self._connect()
        self.show_view("Home")
        self.watcher.set_folders(services.settings.watched_folders, scan=False)
        self.installEventFilter(self)
        # The first data load starts right away, in a worker; models load only on demand.
        self.library_view.reload()
        if autostart_jobs:
            QTimer.singleShot(0, self._start_background)

    # -- set-up -----------------------------------------------------------------------------

    def _build_actions(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        self.add_files_action = self._action(
            file_menu, "Add files…", QKeySequence.StandardKey.Open, self._add_files
        )
        self._action(file_menu, "Add folder…", "Ctrl+Shift+O", self._add_folder)
        file_menu.addSeparator()
        self._action(file_menu, "Quit", QKeySequence.StandardKey.Quit, self.close)
        edit_menu = self.menuBar().addMenu("&Edit")
        self._action(edit_menu, "Find…", QKeySequence.StandardKey.Find, self.focus_search)
        view_menu = self.menuBar().addMenu("&View")
        for n, name in enumerate(self.VIEWS):
            self._action(
                view_menu, name, f"Ctrl+{n + 1}", lambda _checked=False, n=n: self.show_view(n)
            )
        view_menu.addSeparator()
        self.dark_action = self._action(view_menu, "Dark mode", "Ctrl+Shift+D", self.set_dark)
        self.dark_action.setCheckable(True)
        self.dark_action.setChecked(self.services.settings.dark)

    def _action(self, menu: QObject, text: str, shortcut: object, slot: object) -> QAction:
        action = QAction(text, self)
        if isinstance(shortcut, QKeySequence.StandardKey):
            action.setShortcut(QKeySequence(shortcut))
        else:
            action.setShortcut(QKeySequence(str(shortcut)))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(slot)
        menu.addAction(action)  # type: ignore[attr-defined]
        self.addAction(action)
        return action

    def _connect(self) -> None:
        self.notifier.notified.connect(self._on_error)
        self.library_view.import_requested.connect(self._queue_files)
        self.library_view.open_requested.connect(lambda mid: self.open_at(mid, 0.0))
        self.library_view.watch_requested.connect(self.settings_view.add_watched)
        self.library_view.annotate_requested.connect(self.jobs.enqueue_annotation)
        self.library_view.retranscribe_requested.connect(self.jobs.enqueue)
        self.library_view.items_changed.connect(self.home_view.mark_stale)
        self.library_view.items_removed.connect(self.jobs.forget)
        self.library_view.loaded.connect(self._on_loaded)
        self.search_view.play_requested.connect(self.open_at)
        self.ask_view.play_requested.connect(self.open_at)
        self.ask_view.add_media_requested.connect(self._add_files)
        self.home_view.play_requested.connect(self.open_at)
        self.review_view.play_requested.connect(self.open_at)
        self.review_view.tag_all_requested.connect(self.library_view.annotate_all)
        self.player_view.watch_event.connect(self._record_watch)
        self.player_view.fullscreen_changed.connect(self._player_fullscreen)
        self.jobs.library_changed.connect(self.home_view.mark_stale)
        self.jobs_view.open_requested.connect(lambda mid: self.open_at(mid, 0.0))
        self.jobs.library_changed.connect(self._refresh.start)
        self.jobs.counts_changed.connect(self._jobs_count)
        self.settings_view.dark_changed.connect(self.set_dark)
        self.settings_view.watched_changed.connect(self.watcher.set_folders)
        self.welcome.demo_requested.connect(self.try_demo)
        self.welcome.add_requested.connect(self._add_files)
        self.welcome.dismissed.connect(self._welcome_dismissed)
        self.watcher.scanned.connect(
            lambda n: n and self.statusBar().showMessage(f"Watched folders: {n} files queued", 5000)
        )
        self._jobs_count(self.jobs.active_count())

    def _start_background(self) -> None:
        if self._closed:
            return
        self.jobs.start()  # resumes jobs left from the last session
        self.watcher.scan()

    # -- navigation -------------------------------------------------------------------------

    def show_view(self, view: int | str) -> None:
        """Switch to a view, by index or by name (``"Home"``, ``"Ask"``, ... see VIEWS)."""
        index = self.VIEWS.index(view) if isinstance(view, str) else view
        self.sidebar.setCurrentRow(index)
        self.stack.setCurrentIndex(index)

    def _on_view_changed(self, index: int) -> None:
        self.stack.setCurrentIndex(index)
        widget = self.stack.currentWidget()
        self.now_playing.set_player_shown(widget is self.player_view)
        if widget is self.home_view:
            self._load_home()
        elif widget is self.ask_view and not self._closed:
            self.ask_view.warm()
        elif widget is self.review_view:
            self.review_view.reload_once()
        elif widget is self.speakers_view and not self._closed:
            self.speakers_view.reload()

    def _load_home(self) -> None:
        # Home's rows need the recommender's models: none are loaded for an empty library
        # (nor before the library's first load), so a first start stays light.
        if not self._loaded:
            return
        if self.library_view.model.items:
            self.home_view.reload_if_stale()
        else:
            self.home_view.placeholder.setText(
                "Nothing to watch yet. Add recordings in Library, or try the demo library."
            )

    def bring_to_front(self) -> None:
        """Show the window on top (another ``mediamind gui`` on this library was started)."""
        if self.isMinimized():
            self.showNormal()
        self.raise_()
        self.activateWindow()

    def _player_fullscreen(self, on: bool) -> None:
        for widget in (self.side, self.menuBar(), self.statusBar()):
            widget.setVisible(not on)

    def current_view(self) -> QWidget:
        """The view on screen."""
        return self.stack.currentWidget()

    def focus_search(self) -> None:
        """Ctrl+F: go to Search and put the cursor in the query box."""
        self.show_view("Search")
        self.search_view.focus_query()

    def open_at(self, media_id: int, seconds: float) -> None:
        """Show the Player on an item at a moment (used by Search, Library, Jobs, later Ask)."""
        self.show_view("Player")
        self.player_view.open_at(media_id, seconds)

    def set_dark(self, on: bool) -> None:
        """Switch palettes and remember the choice."""
        on = bool(on)
        self.services.settings.dark = on
        self.services.settings.sync()
        app = QApplication.instance()
        if isinstance(app, QApplication):
            theme.apply(app, on)
        self.dark_action.setChecked(on)
        self.settings_view.set_dark(on)
        self.search_view.retheme()

    # -- import -----------------------------------------------------------------------------

    def _add_files(self) -> None:
        self.show_view("Library")
        self.library_view.add_files()

    def _add_folder(self) -> None:
        self.show_view("Library")
        self.library_view.add_folder()

    def try_demo(self) -> None:
        """Import the bundled demo library (the first-start offer); progress shows in Jobs."""
        self.welcome.hide()
        if self.demo_dir is not None:
            self.library_view.import_paths([self.demo_dir])
            self.show_view("Jobs")

    def _welcome_dismissed(self) -> None:
        self.services.settings.welcome_dismissed = True
        self.services.settings.sync()

    def _queue_files(self, files: list[Path]) -> None:
        queued = self.jobs.enqueue(files)
        if queued:
            self.statusBar().showMessage(f"Queued {len(queued)} file(s) for ingest", 5000)

    # -- state ------------------------------------------------------------------------------

    def _jobs_count(self, active: int) -> None:
        jobs = self.sidebar.item(self.VIEWS.index("Jobs"))
        jobs.setText(self.jobs.nav_label())  # "Jobs (2)", with a ⚠ badge for new failures
        failures = self.jobs.unseen_failures
        key = f"Jobs (Ctrl+{self.VIEWS.index('Jobs') + 1})"
        jobs.setToolTip(f"{key}: {failures} failed" if failures else key)
        if active:
            self.welcome.hide()

    def _on_loaded(self) -> None:
        items = self.library_view.model.items
        self.status_label.setText(f"{self.services.directory}  ·  {len(items)} items")
        empty = not items and self.jobs.rowCount() == 0
        self.welcome.setVisible(empty and not self.services.settings.welcome_dismissed)
        if not self._loaded:
            self._loaded = True
            self._maybe_ready()
        if self.current_view() is self.home_view:
            self._load_home()

    def _record_watch(self, media_id: int, kind: str, position: float) -> None:
        """Send a player event to the watch log (in a worker; inline while shutting down)."""
        self.home_view.mark_stale()
        if self._closed:
            try:
                self.services.home.record(media_id, kind, position)
            except Exception as exc:  # noqa: BLE001 - closing must go on; report it
                log.warning("could not record the last watch event: %s", exc)
            return
        self.pool.submit(self.services.home.record, media_id, kind, position)

    def ask(self, question: str) -> None:
        """Show Ask and answer ``question``."""
        self.show_view("Ask")
        self.ask_view.question.setText(question)
        self.ask_view.run()

    def _on_error(self, msg: UserMessage) -> None:
        self.banner.show_message(msg)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Notice the first paint (for ``ready`` and ``--smoke``)."""
        if watched is self and event.type() == QEvent.Type.Paint and not self._painted:
            self._painted = True
            QTimer.singleShot(0, self._after_paint)
        return super().eventFilter(watched, event)

    def _after_paint(self) -> None:
        self.first_paint.emit()
        self._maybe_ready()

    def _maybe_ready(self) -> None:
        # Once: later library refreshes call this again.
        if self._painted and self._loaded and not self._ready_sent:
            self._ready_sent = True
            self.ready.emit()

    @property
    def is_ready(self) -> bool:
        """Painted and loaded."""
        return self._painted and self._loaded

    # -- shutdown ---------------------------------------------------------------------------

    def shutdown(self) -> None:
        """Stop playback, the ingest process and the workers, then close the database."""
        if self._closed:
            return
        self._closed = True
        self._refresh.stop()
        self.player_view.stop()  # its last watch event is written synchronously (see below)
        self.runner.shutdown()
        self.ask_runner.shutdown()
        self.pool.shutdown()
        self.services.settings.sync()
        self.services.close()
        self.speakers_service.close()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Shut everything down before the window closes."""
        self.shutdown()
        super().closeEvent(event)
