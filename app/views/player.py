"""Player view: audio and video playback beside a live, clickable, searchable transcript."""

from __future__ import annotations

import bisect
import logging
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import QKeyCombination, Qt, QUrl, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QKeySequence, QPalette, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QSlider,
    QSplitter,
    QStackedWidget,
    QStyle,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.qtcompat import create_audio_output
from app.services import (
    EXPORT_FORMATS,
    LibraryItem,
    LibraryService,
    TranscriptLine,
    UserMessage,
    format_time,
)
from app.workers import ErrorNotifier

log = logging.getLogger(__name__)


def multimedia_missing_reason(error: ImportError) -> str:
    """What to install when QtMultimedia cannot be imported, from the import error itself.

    The module ships in PySide6-Addons, but it also links system libraries (libpulse0 above
    all): with the addons installed and a library missing, the import fails naming the
    ``.so``, and "install PySide6-Addons" would send the user the wrong way.
    """
    text = str(error)
    missing = re.search(r"(lib[\w.+-]+\.so[\w.]*): cannot open shared object file", text)
    if missing:
        library = missing.group(1)
        package = "libpulse0" if library.startswith("libpulse") else None
        fix = f"sudo apt-get install -y {package}" if package else "install the package with it"
        return f"QtMultimedia cannot load the system library {library} ({fix}); {text}"
    if "No module named" in text:
        return "QtMultimedia is missing: pip install PySide6-Addons (the player needs it)"
    return f"QtMultimedia cannot be imported: {text}"


MULTIMEDIA_ERROR: str | None
try:  # QtMultimedia ships in PySide6-Addons; without it the transcript still works.
    from PySide6.QtMultimedia import QMediaPlayer
    from PySide6.QtMultimediaWidgets import QVideoWidget

    HAVE_MULTIMEDIA, MULTIMEDIA_ERROR = True, None
except ImportError as exc:  # pragma: no cover - depends on the installation
    HAVE_MULTIMEDIA, MULTIMEDIA_ERROR = False, multimedia_missing_reason(exc)

SPEEDS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
# While playing, a ``progress`` watch event is sent every this many seconds of media time, so a
# crash or power cut loses at most this much of "where was I".
PROGRESS_EVERY_MS = 30_000


class PlayerView(QWidget):
    """Plays an item and follows along in its transcript; ``open_at`` jumps to a moment."""

    item_opened = Signal(int)  # media id
    position_changed = Signal(int)  # ms
    # (media id, kind, position in seconds): play, pause, seek, progress, complete. The window
    # sends these to the recommender's watch log.
    watch_event = Signal(int, str, float)

    def __init__(
        self, library: LibraryService, notifier: ErrorNotifier, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.notifier = notifier
        self.item: LibraryItem | None = None
        self.lines: list[TranscriptLine] = []
        self._starts: list[float] = []
        self._current = -1
        self._pending_ms: int | None = None
        self._play_after_load = True
        self._virtual_ms = 0  # position of items without media (subtitles, transcripts)
        self._matches: list[int] = []
        self._match = -1
        self._playing = False  # for watch events: playback of self.item is running
        self._last_ms = 0  # position while playing (stop() resets the player's to 0)
        self._progress_ms = 0  # position of the last progress event

        # -- media side ---------------------------------------------------------------------
        self.stage = QStackedWidget()
        self.placeholder = QLabel("Nothing is playing.\nOpen an item from the Library or Search.")
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.audio_card = QLabel()
        self.audio_card.setObjectName("placeholder")
        self.audio_card.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.audio_card.setWordWrap(True)
        self.stage.addWidget(self.placeholder)
        self.stage.addWidget(self.audio_card)
        self.player: Any = None  # created on first use: start-up loads no media back end
        self.video: Any = None
        self.audio_output: Any = None
        if not HAVE_MULTIMEDIA:
            self.placeholder.setText(
                f"Playback is unavailable: {MULTIMEDIA_ERROR}\n"
                "Transcripts, search and export work without it."
            )

        self.play_button = QToolButton()
        self.play_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_MediaPlay))
        self.play_button.setToolTip("Play / pause (Space)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.time_label = QLabel("0:00 / 0:00")
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("Playback speed")
        controls = QHBoxLayout()
        controls.addWidget(self.play_button)
        controls.addWidget(self.slider, 1)
        controls.addWidget(self.time_label)
        controls.addWidget(self.speed)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("Player")
        self.title.setObjectName("heading")
        self.title.setWordWrap(True)
        left_layout.addWidget(self.title)
        left_layout.addWidget(self.stage, 1)
        left_layout.addLayout(controls)

        # -- transcript side ----------------------------------------------------------------
        self.find_edit = QLineEdit(placeholderText="Find in transcript…")
        self.find_edit.setClearButtonEnabled(True)
        self.find_label = QLabel("")
        self.find_label.setObjectName("muted")
        self.export_button = QPushButton("Export")
        menu = QMenu(self.export_button)
        for fmt in EXPORT_FORMATS:
            menu.addAction(fmt.upper(), lambda f=fmt: self.export_dialog(f))
        self.export_button.setMenu(menu)
        find_row = QHBoxLayout()
        find_row.addWidget(self.find_edit, 1)
        find_row.addWidget(self.find_label)
        find_row.addWidget(self.export_button)
        self.transcript = QListWidget()
        self.transcript.setWordWrap(True)
        self.transcript.setUniformItemSizes(False)
        self.transcript.setSpacing(1)
        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        transcript_title = QLabel("Transcript")
        transcript_title.setObjectName("heading")
        right_layout.addWidget(transcript_title)
        right_layout.addLayout(find_row)
        right_layout.addWidget(self.transcript, 1)

        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.addWidget(left)
        splitter.addWidget(right)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)

        self.play_button.clicked.connect(self.toggle)
        self.slider.sliderMoved.connect(self.seek_ms)
        self.slider.sliderReleased.connect(lambda: self._watch("seek", self.slider.value()))
        self.speed.currentIndexChanged.connect(self._speed_changed)
        self.transcript.itemClicked.connect(self._line_clicked)
        self.transcript.itemActivated.connect(self._line_clicked)
        self.find_edit.textChanged.connect(self._find)
        self.find_edit.returnPressed.connect(self.next_match)
        space = QShortcut(QKeySequence(QKeyCombination(Qt.Key.Key_Space)), self)
        space.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        space.activated.connect(self._space)
        self._export_enabled(False)

    # -- public API ---------------------------------------------------------------------------

    def _ensure_player(self) -> Any:
        """The media player, created with its audio and video outputs on first use."""
        if self.player is None and HAVE_MULTIMEDIA:
            self.video = QVideoWidget()
            self.video.setMinimumSize(320, 180)
            self.stage.addWidget(self.video)
            self.player = QMediaPlayer(self)
            self.audio_output = create_audio_output(self)
            self.player.setAudioOutput(self.audio_output)
            self.player.setVideoOutput(self.video)
            self.player.setPlaybackRate(float(self.speed.currentData()))
            self.player.mediaStatusChanged.connect(self._on_status)
            self.player.positionChanged.connect(self._on_position)
            self.player.durationChanged.connect(self._on_duration)
            self.player.playbackStateChanged.connect(self._on_state)
            self.player.errorOccurred.connect(self._on_error)
        return self.player

    def open_at(self, media_id: int, seconds: float = 0.0, play: bool = True) -> None:
        """Open an item (if not open already) and play from ``seconds``."""
        ms = max(0, round(seconds * 1000))
        if self.item is None or self.item.id != media_id:
            try:
                item = self.library.item(media_id)
                lines = self.library.transcript(media_id)
            except Exception as exc:  # noqa: BLE001 - reported through the one error path
                self.notifier.notify(exc)
                return
            if item.playable:
                self._ensure_player()
            self._load(item, lines)
            if self.player is not None and item.playable:
                self._pending_ms = ms
                self._play_after_load = play
                self.player.setSource(QUrl.fromLocalFile(item.path))
            else:
                self._virtual_ms = ms
                self._highlight(ms / 1000)
            self.item_opened.emit(media_id)
            return
        self.seek_ms(ms)
        if play and self.player is not None and self.item.playable:
            self.player.play()

    def position(self) -> int:
        """The playback position in milliseconds."""
        if self.player is not None and self.item is not None and self.item.playable:
            if self._pending_ms is not None:
                return self._pending_ms
            return int(self.player.position())
        return self._virtual_ms

    def seek_ms(self, ms: int) -> None:
        """Jump to ``ms``."""
        if self.player is not None and self.item is not None and self.item.playable:
            if self._pending_ms is not None:
                self._pending_ms = ms
            else:
                self.player.setPosition(ms)
                self._last_ms = self._progress_ms = ms
                if not self.slider.isSliderDown():  # a drag reports once, on release
                    self._watch("seek", ms)
        else:
            self._virtual_ms = ms
            self._highlight(ms / 1000)

    def toggle(self) -> None:
        """Play or pause."""
        if self.player is None or self.item is None or not self.item.playable:
            return
        if self.player.playbackState() == QMediaPlayer.PlaybackState.PlayingState:
            self.player.pause()
        else:
            self.player.play()

    def stop(self) -> None:
        """Stop playback and release the file."""
        if self.player is not None:
            self.player.stop()
            self.player.setSource(QUrl())

    def export(self, fmt: str, target: Path) -> None:
        """Write the open item's transcript as SRT, VTT or TXT."""
        if self.item is None:
            return
        try:
            self.library.export_to(self.item.id, fmt, target)
        except Exception as exc:  # noqa: BLE001 - reported through the one error path
            self.notifier.notify(exc)

    def export_dialog(self, fmt: str) -> None:
        """Ask where to save, then export."""
        if self.item is None:
            return
        safe = "".join(c if c.isalnum() or c in " -_" else "_" for c in self.item.title).strip()
        name, _ = QFileDialog.getSaveFileName(
            self, f"Export {fmt.upper()}", f"{safe or 'transcript'}.{fmt}", f"*.{fmt}"
        )
        if name:
            self.export(fmt, Path(name))

    # -- transcript -------------------------------------------------------------------------

    def _load(self, item: LibraryItem, lines: list[TranscriptLine]) -> None:
        if self.player is not None:
            self.player.stop()
        self.item = item
        self.lines = lines
        self._starts = [ln.start for ln in lines]
        self._current = -1
        self.title.setText(item.title)
        self.transcript.clear()
        for ln in lines:
            entry = QListWidgetItem(f"{format_time(ln.start)}   {ln.text.strip()}")
            entry.setData(Qt.ItemDataRole.UserRole, ln.start)
            self.transcript.addItem(entry)
        if not lines:
            note = "No transcript yet." if item.status != "ready" else "The transcript is empty."
            self.transcript.addItem(QListWidgetItem(note))
        self._find(self.find_edit.text())
        self._export_enabled(bool(lines))
        if item.playable and self.player is not None:
            is_video = item.kind == "video"
            self.audio_card.setText(
                f"♪\n\n{item.title}\n{item.kind} · {format_time(item.duration)}"
            )
            self.stage.setCurrentWidget(self.video if is_video else self.audio_card)
        else:
            self.audio_card.setText(f"{item.title}\n{item.kind}: transcript only, no media")
            self.stage.setCurrentWidget(self.audio_card)
        self.slider.setRange(0, round((item.duration or 0) * 1000))

    def _highlight(self, seconds: float) -> None:
        idx = bisect.bisect_right(self._starts, seconds) - 1 if self._starts else -1
        if idx == self._current:
            return
        normal, bold = QFont(self.transcript.font()), QFont(self.transcript.font())
        bold.setBold(True)
        if 0 <= self._current < self.transcript.count():
            old = self.transcript.item(self._current)
            old.setBackground(QBrush())
            old.setFont(normal)
        self._current = idx
        if idx >= 0:
            entry = self.transcript.item(idx)
            color = QColor(self.palette().color(QPalette.ColorRole.Highlight))
            color.setAlpha(70)
            entry.setBackground(QBrush(color))
            entry.setFont(bold)
            self.transcript.scrollToItem(entry, QListWidget.ScrollHint.PositionAtCenter)

    @property
    def current_line(self) -> int:
        """Index of the highlighted transcript line (-1 for none)."""
        return self._current

    def _line_clicked(self, entry: QListWidgetItem) -> None:
        start = entry.data(Qt.ItemDataRole.UserRole)
        if start is not None:
            self.seek_ms(round(float(start) * 1000))
            self._highlight(float(start))

    def _find(self, text: str) -> None:
        needle = text.strip().lower()
        accent = self.palette().color(QPalette.ColorRole.Link)
        default = self.palette().color(QPalette.ColorRole.Text)
        self._matches = []
        for i, ln in enumerate(self.lines):
            hit = bool(needle) and needle in ln.text.lower()
            self.transcript.item(i).setForeground(QBrush(accent if hit else default))
            if hit:
                self._matches.append(i)
        self._match = -1
        if needle:
            self.next_match()
        else:
            self.find_label.setText("")

    def next_match(self) -> None:
        """Jump to the next line matching the find box."""
        if not self._matches:
            self.find_label.setText("no match" if self.find_edit.text().strip() else "")
            return
        self._match = (self._match + 1) % len(self._matches)
        row = self._matches[self._match]
        self.transcript.setCurrentRow(row)
        self.transcript.scrollToItem(self.transcript.item(row))
        self.find_label.setText(f"{self._match + 1}/{len(self._matches)}")

    def _export_enabled(self, on: bool) -> None:
        self.export_button.setEnabled(on)

    # -- player events ----------------------------------------------------------------------

    def _watch(self, kind: str, ms: int) -> None:
        if self.item is not None and self.item.playable:
            self.watch_event.emit(self.item.id, kind, max(0, ms) / 1000)

    def _on_status(self, status: Any) -> None:
        if status == QMediaPlayer.MediaStatus.EndOfMedia and self._playing:
            self._playing = False
            end = self.slider.maximum() or self._last_ms
            self._watch("complete", end)
            return
        if self._pending_ms is None or self.player is None:
            return
        if status in (
            QMediaPlayer.MediaStatus.LoadedMedia,
            QMediaPlayer.MediaStatus.BufferedMedia,
        ):
            ms, self._pending_ms = self._pending_ms, None
            self.player.setPosition(ms)
            self._highlight(ms / 1000)
            if self._play_after_load:
                self.player.play()
        elif status == QMediaPlayer.MediaStatus.InvalidMedia:
            self._pending_ms = None

    def _on_position(self, ms: int) -> None:
        if not self.slider.isSliderDown():
            self.slider.setValue(ms)
        duration = self.slider.maximum()
        self.time_label.setText(f"{format_time(ms / 1000)} / {format_time(duration / 1000)}")
        self._highlight(ms / 1000)
        if self._playing:
            self._last_ms = ms
            if ms - self._progress_ms >= PROGRESS_EVERY_MS:
                self._progress_ms = ms
                self._watch("progress", ms)
        self.position_changed.emit(ms)

    def _on_duration(self, ms: int) -> None:
        if ms > 0:
            self.slider.setRange(0, ms)

    def _on_state(self, state: Any) -> None:
        playing = state == QMediaPlayer.PlaybackState.PlayingState
        if playing and not self._playing and self._pending_ms is None:
            self._playing = True
            self._last_ms = self._progress_ms = int(self.player.position())
            self._watch("play", self._last_ms)
        elif not playing and self._playing:
            # Paused, or stopped to open another item / close: the old item's place.
            self._playing = False
            self._watch("pause", self._last_ms)
        icon = (
            QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        )
        self.play_button.setIcon(self.style().standardIcon(icon))

    def _on_error(self, _error: Any, text: str) -> None:
        self._pending_ms = None
        name = self.item.path if self.item else "the file"
        self.notifier.notify(
            UserMessage(
                f"Cannot play {name}: {text}",
                "Check that the file still exists; the transcript stays available.",
            )
        )

    def _speed_changed(self, _index: int) -> None:
        if self.player is not None:
            self.player.setPlaybackRate(float(self.speed.currentData()))

    def _space(self) -> None:
        if not self.find_edit.hasFocus():
            self.toggle()
