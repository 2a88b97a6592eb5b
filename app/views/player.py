"""Player view: audio and video playback beside a live, clickable, searchable transcript."""

from __future__ import annotations

import bisect
import logging
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QEvent,
    QKeyCombination,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QKeySequence,
    QPalette,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QFrame,
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
    QStyledItemDelegate,
    QStyleOptionViewItem,
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
from app.services.player import ItemExtras, PlayerService
from app.views.home import generated_cover
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

SpeakerColorRole = Qt.ItemDataRole.UserRole + 1
SPEEDS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
# While playing, a ``progress`` watch event is sent every this many seconds of media time, so a
# crash or power cut loses at most this much of "where was I".
PROGRESS_EVERY_MS = 30_000
SKIP_MS = 10_000  # the -10 s / +10 s buttons
ARROW_MS = 5_000  # the Left / Right keys
COVER = QSize(320, 180)
# Speaker colours, readable on the light and on the dark palette (Okabe-Ito based).
SPEAKER_COLORS = {
    False: ("#0b62a4", "#b3470c", "#0f7a55", "#8a3b8f", "#8c6d00", "#a3324b"),
    True: ("#7cc4ff", "#ffa86b", "#6fe0b0", "#e7a6ec", "#f3d65c", "#ff8fa3"),
}


def speaker_color(index: int, dark: bool) -> QColor:
    """The colour of the ``index``-th voice of an item on the light or dark palette."""
    colors = SPEAKER_COLORS[dark]
    return QColor(colors[index % len(colors)])


def is_dark(widget: QWidget) -> bool:
    """Whether ``widget`` is drawn on a dark palette."""
    return widget.palette().color(QPalette.ColorRole.Base).lightness() < 128


class WrappingDelegate(QStyledItemDelegate):
    """Rows as tall as their wrapped text at the list's current width (never cut with "…").

    Qt's own size hint wraps at a slightly different width than it paints at, so a line
    that just fits in the hint is painted one line short and elided; here the text is
    measured a little narrower than the row and in the row's own (possibly bold) font.
    """

    SLACK = 10  # px: the style's text margins and the focus frame, with room to spare

    def __init__(self, view: QListWidget) -> None:
        """Measure rows of ``view``."""
        super().__init__(view)
        self.view = view

    def sizeHint(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> QSize:
        """The row's size: the list's width, and the height of its text wrapped in it."""
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        width = self.view.viewport().width() - 2 * self.view.spacing()
        text_width = width - self.SLACK
        if opt.features & QStyleOptionViewItem.ViewItemFeature.HasDecoration:
            text_width -= opt.decorationSize.width() + 4
        bold = QFont(opt.font)
        bold.setBold(True)  # the current line is bold: leave room for it
        metrics = QFontMetrics(bold)
        box = metrics.boundingRect(
            QRect(0, 0, max(60, text_width), 1_000_000),
            int(Qt.TextFlag.TextWordWrap),
            opt.text,
        )
        return QSize(max(60, width), max(box.height(), metrics.height()) + 6)


class PlayerView(QWidget):
    """Plays an item and follows along in its transcript; ``open_at`` jumps to a moment."""

    item_opened = Signal(int)  # media id
    position_changed = Signal(int)  # ms
    playing_changed = Signal(bool)  # playback of the open item started or stopped
    fullscreen_changed = Signal(bool)
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
        self.service = PlayerService(library)
        self.extras = ItemExtras(())
        self.fullscreen = False
        self._was_maximized = False

        # -- media side ---------------------------------------------------------------------
        self.stage = QStackedWidget()
        self.placeholder = QLabel("Nothing is playing.\nOpen an item from the Library or Search.")
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        # Audio and transcript-only items: a cover, what the item is, and its summary.
        self.audio_card = QFrame()
        self.cover = QLabel()
        self.cover.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.card_title = QLabel()
        self.card_title.setObjectName("heading")
        self.card_title.setWordWrap(True)
        self.card_title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.card_meta = QLabel()
        self.card_meta.setObjectName("muted")
        self.card_meta.setWordWrap(True)
        self.card_meta.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.about_heading = QLabel("Summary")
        self.about_heading.setObjectName("section")
        self.about = QLabel()
        self.about.setWordWrap(True)
        self.about.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.about.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        card_layout = QVBoxLayout(self.audio_card)
        card_layout.addStretch(1)
        card_layout.addWidget(self.cover)
        card_layout.addWidget(self.card_title)
        self.card_title.hide()  # the Player's heading already names the item
        card_layout.addWidget(self.card_meta)
        card_layout.addWidget(self.about_heading)
        card_layout.addWidget(self.about)
        card_layout.addStretch(2)
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
        self.back_button = QToolButton()
        self.back_button.setText("−10 s")
        self.back_button.setToolTip("Back 10 seconds (← goes back 5)")
        self.forward_button = QToolButton()
        self.forward_button.setText("+10 s")
        self.forward_button.setToolTip("Forward 10 seconds (→ goes forward 5)")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 0)
        self.time_label = QLabel("0:00 / 0:00")
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.setToolTip("Playback speed")
        self.mute_button = QToolButton()
        self.mute_button.setCheckable(True)
        self.mute_button.setToolTip("Mute (M)")
        self.volume = QSlider(Qt.Orientation.Horizontal)
        self.volume.setRange(0, 100)
        self.volume.setValue(100)
        self.volume.setMaximumWidth(110)
        self.volume.setToolTip("Volume")
        self.track = QComboBox()
        self.track.addItem("Original", "original")
        self.track.addItem("English", "english")
        self.track.setToolTip("Transcript: the original words or the stored English translation")
        self.track.hide()
        self.fullscreen_button = QToolButton()
        self.fullscreen_button.setText("Full screen")
        self.fullscreen_button.setToolTip("Full screen (F; Esc leaves it)")
        self.fullscreen_button.setCheckable(True)
        self._update_mute_icon()
        seek_row = QHBoxLayout()
        seek_row.addWidget(self.slider, 1)
        seek_row.addWidget(self.time_label)
        controls = QHBoxLayout()
        for widget in (self.back_button, self.play_button, self.forward_button):
            controls.addWidget(widget)
        controls.addStretch(1)
        for widget in (self.mute_button, self.volume, self.speed, self.track):
            controls.addWidget(widget)
        controls.addWidget(self.fullscreen_button)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        self.title = QLabel("Player")
        self.title.setObjectName("heading")
        self.title.setWordWrap(True)
        left_layout.addWidget(self.title)
        left_layout.addWidget(self.stage, 1)
        left_layout.addLayout(seek_row)
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
        # Long lines wrap (never "…"), and re-wrap when the pane is resized.
        self.transcript.setWordWrap(True)
        self.transcript.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.transcript.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.transcript.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.transcript.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.transcript.setUniformItemSizes(False)
        self.transcript.setSpacing(1)
        self.transcript.setItemDelegate(WrappingDelegate(self.transcript))
        right = QWidget()
        self.side_panel = right
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
        self.back_button.clicked.connect(lambda: self.skip(-SKIP_MS))
        self.forward_button.clicked.connect(lambda: self.skip(SKIP_MS))
        self.mute_button.toggled.connect(self.set_muted)
        self.volume.valueChanged.connect(self._volume_changed)
        self.fullscreen_button.clicked.connect(self.toggle_fullscreen)
        self.track.currentIndexChanged.connect(self._track_changed)
        self.slider.sliderMoved.connect(self.seek_ms)
        self.slider.sliderReleased.connect(lambda: self._watch("seek", self.slider.value()))
        self.speed.currentIndexChanged.connect(self._speed_changed)
        self.transcript.itemClicked.connect(self._line_clicked)
        self.transcript.itemActivated.connect(self._line_clicked)
        self.find_edit.textChanged.connect(self._find)
        self.find_edit.returnPressed.connect(self.next_match)
        # Text fields take their own keys first (QLineEdit claims printable keys and arrows).
        for key, slot in (
            (Qt.Key.Key_Space, self._space),
            (Qt.Key.Key_Left, lambda: self.skip(-ARROW_MS)),
            (Qt.Key.Key_Right, lambda: self.skip(ARROW_MS)),
            (Qt.Key.Key_F, self.toggle_fullscreen),
            (Qt.Key.Key_M, self.toggle_mute),
            (Qt.Key.Key_Escape, self._escape),
        ):
            shortcut = QShortcut(QKeySequence(QKeyCombination(key)), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
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
            self.audio_output.setVolume(self.volume.value() / 100)
            self.audio_output.setMuted(self.mute_button.isChecked())
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
                extras = self.service.extras(media_id)
            except Exception as exc:  # noqa: BLE001 - reported through the one error path
                self.notifier.notify(exc)
                return
            if item.playable:
                self._ensure_player()
            self._load(item, extras)
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

    def skip(self, delta_ms: int) -> None:
        """Jump ``delta_ms`` forward (negative: back), within the item."""
        if self.item is None:
            return
        end = self.slider.maximum() or round((self.item.duration or 0) * 1000)
        target = max(0, self.position() + delta_ms)
        if end:
            target = min(target, end)
        self.seek_ms(target)
        self._on_position_label(target)

    @property
    def muted(self) -> bool:
        """Whether the sound is off."""
        return self.mute_button.isChecked()

    def set_muted(self, on: bool) -> None:
        """Turn the sound off or back on (M)."""
        if self.mute_button.isChecked() != on:
            self.mute_button.setChecked(on)  # comes back here through toggled
            return
        if self.audio_output is not None:
            self.audio_output.setMuted(on)
        self._update_mute_icon()

    def toggle_mute(self) -> None:
        """M: mute or unmute."""
        self.set_muted(not self.muted)

    def set_volume(self, percent: int) -> None:
        """Set the volume, 0..100."""
        self.volume.setValue(max(0, min(100, percent)))

    def _volume_changed(self, value: int) -> None:
        if self.audio_output is not None:
            self.audio_output.setVolume(value / 100)
        if value > 0 and self.muted:
            self.set_muted(False)
        self._update_mute_icon()

    def _update_mute_icon(self) -> None:
        silent = self.mute_button.isChecked() or self.volume.value() == 0
        icon = (
            QStyle.StandardPixmap.SP_MediaVolumeMuted
            if silent
            else QStyle.StandardPixmap.SP_MediaVolume
        )
        self.mute_button.setIcon(self.style().standardIcon(icon))

    def toggle_fullscreen(self) -> None:
        """F: the media alone on the whole screen, or back (Esc also leaves it)."""
        self.set_fullscreen(not self.fullscreen)

    def set_fullscreen(self, on: bool) -> None:
        """Enter or leave full screen: the window fills the screen, the transcript hides."""
        if on == self.fullscreen:
            return
        self.fullscreen = on
        window = self.window()
        if on:
            self._was_maximized = window.isMaximized()
            window.showFullScreen()
        elif self._was_maximized:
            window.showMaximized()
        else:
            window.showNormal()
        self.side_panel.setVisible(not on)
        self.fullscreen_button.setChecked(on)
        self.fullscreen_changed.emit(on)

    def _escape(self) -> None:
        if self.fullscreen:
            self.set_fullscreen(False)
        elif self.find_edit.hasFocus():
            self.find_edit.clear()

    def _track_changed(self, _index: int) -> None:
        english = self.track.currentData() == "english" and bool(self.extras.translation)
        self._render(list(self.extras.translation if english else self.extras.lines))

    @property
    def is_playing(self) -> bool:
        """Whether the open item is playing."""
        return self._playing

    @property
    def active(self) -> bool:
        """Whether the open item is playing or paused (not stopped, not at its end)."""
        if self.player is None or self.item is None or not self.item.playable:
            return False
        return bool(self.player.playbackState() != QMediaPlayer.PlaybackState.StoppedState)

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

    def _load(self, item: LibraryItem, extras: ItemExtras) -> None:
        if self.player is not None:
            self.player.stop()
        self.item = item
        self.extras = extras
        self.title.setText(item.title)
        # Nothing of the previous item stays: its find text, position and duration.
        self.find_edit.blockSignals(True)
        self.find_edit.clear()
        self.find_edit.blockSignals(False)
        self.find_label.setText("")
        duration_ms = round((item.duration or 0) * 1000)
        self.slider.setRange(0, duration_ms)
        self.slider.setValue(0)
        self._virtual_ms = 0
        self.time_label.setText(f"0:00 / {format_time(duration_ms / 1000)}")
        self.track.blockSignals(True)
        self.track.setCurrentIndex(0)
        self.track.blockSignals(False)
        self.track.setVisible(bool(extras.translation))
        self._render(list(extras.lines))
        self._export_enabled(bool(extras.lines))
        self._fill_card(item, extras)
        if item.playable and self.player is not None and item.kind == "video":
            self.stage.setCurrentWidget(self.video)
        else:
            self.stage.setCurrentWidget(self.audio_card)

    def _fill_card(self, item: LibraryItem, extras: ItemExtras) -> None:
        """The audio card: a cover, title, kind and length, then the summary or the opening."""
        self.cover.setPixmap(generated_cover(item.title, item.kind, COVER))
        self.card_title.setText(item.title)
        what = item.kind if item.playable else f"{item.kind}: transcript only, no media"
        meta = [what, format_time(item.duration)] if item.duration else [what]
        if extras.topics:
            meta.append(", ".join(extras.topics[:3]))
        self.card_meta.setText(" · ".join(meta))
        if extras.summary:
            self.about_heading.setText("Summary")
            self.about.setText(extras.summary)
        elif extras.lines:
            self.about_heading.setText("How it starts")
            opening = " ".join(ln.text.strip() for ln in extras.lines[:4])
            self.about.setText(opening if len(opening) <= 400 else opening[:399] + "…")
        else:
            self.about_heading.setText("")
            self.about.setText("")
        self.about_heading.setVisible(bool(self.about.text()))
        self.about.setVisible(bool(self.about.text()))

    def _render(self, lines: list[TranscriptLine]) -> None:
        """Fill the transcript panel with ``lines`` (speaker names coloured per voice)."""
        self.lines = lines
        self._starts = [ln.start for ln in lines]
        self._current = -1
        self._matches = []
        self.transcript.clear()
        for ln in lines:
            who = f"{ln.speaker}: " if ln.speaker else ""
            entry = QListWidgetItem(f"{format_time(ln.start)}   {who}{ln.text.strip()}")
            entry.setData(Qt.ItemDataRole.UserRole, ln.start)
            self.transcript.addItem(entry)
        if not lines and self.item is not None:
            if self.item.status == "error":
                note = "No transcript: the import failed. See the Library for the reason."
            elif self.item.status != "ready":
                note = "No transcript yet."
            else:
                note = "The transcript is empty."
            self.transcript.addItem(QListWidgetItem(note))
        self._restyle()
        self._find(self.find_edit.text())
        self._highlight(self.position() / 1000)

    @property
    def speakers(self) -> list[str]:
        """The named voices of the shown transcript, in order of first appearance."""
        seen: list[str] = []
        for ln in self.lines:
            if ln.speaker and ln.speaker not in seen:
                seen.append(ln.speaker)
        return seen

    def _restyle(self) -> None:
        """Colours that depend on the palette: speaker swatches, find hits, the current line."""
        dark = is_dark(self)
        order = {name: n for n, name in enumerate(self.speakers)}
        for i, ln in enumerate(self.lines):
            entry = self.transcript.item(i)
            if ln.speaker:
                color = speaker_color(order[ln.speaker], dark)
                swatch = QPixmap(10, 10)
                swatch.fill(color)
                entry.setData(Qt.ItemDataRole.DecorationRole, swatch)
                entry.setData(SpeakerColorRole, color.name())
                entry.setToolTip(ln.speaker)
        matches = set(self._matches)
        accent = self.palette().color(QPalette.ColorRole.Link)
        for i in range(len(self.lines)):
            # No explicit colour unless it is a find hit: the palette's text colour follows
            # the theme by itself.
            self.transcript.item(i).setForeground(QBrush(accent) if i in matches else QBrush())
        if 0 <= self._current < self.transcript.count():
            color = QColor(self.palette().color(QPalette.ColorRole.Highlight))
            color.setAlpha(70)
            self.transcript.item(self._current).setBackground(QBrush(color))

    def changeEvent(self, event: QEvent) -> None:
        """Restyle the loaded transcript and cover when the light/dark palette changes."""
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.ApplicationPaletteChange):
            self._restyle()
        super().changeEvent(event)

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
        self._matches = [
            i for i, ln in enumerate(self.lines) if needle and needle in ln.text.lower()
        ]
        self._restyle()
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

    def _on_position_label(self, ms: int) -> None:
        if not self.slider.isSliderDown():
            self.slider.setValue(ms)
        duration = self.slider.maximum()
        self.time_label.setText(f"{format_time(ms / 1000)} / {format_time(duration / 1000)}")

    def _on_position(self, ms: int) -> None:
        self._on_position_label(ms)
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
        self.playing_changed.emit(playing)
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


class NowPlayingBar(QFrame):
    """A strip below every view while the Player plays off screen: title, time, pause, open.

    ``open_requested`` asks the window to show the Player.
    """

    open_requested = Signal()

    def __init__(self, player: PlayerView, parent: QWidget | None = None) -> None:
        """Follow ``player``; hidden until it plays while another view is shown."""
        super().__init__(parent)
        self.setObjectName("nowPlaying")
        self.player = player
        self._player_shown = True
        self.title = QLabel()
        self.title.setObjectName("cardTitle")
        self.time_label = QLabel()
        self.time_label.setObjectName("muted")
        self.play_button = QToolButton()
        self.play_button.setToolTip("Play / pause")
        self.play_button.clicked.connect(player.toggle)
        self.open_button = QPushButton("Open Player")
        self.open_button.clicked.connect(self.open_requested)
        row = QHBoxLayout(self)
        row.setContentsMargins(8, 4, 8, 4)
        row.addWidget(QLabel("♪ Now playing:"))
        row.addWidget(self.title, 1)
        row.addWidget(self.time_label)
        row.addWidget(self.play_button)
        row.addWidget(self.open_button)
        player.playing_changed.connect(lambda _playing: self.refresh())
        player.item_opened.connect(lambda _id: self.refresh())
        player.position_changed.connect(self._position)
        self.hide()

    def set_player_shown(self, shown: bool) -> None:
        """The window tells whether the Player is the view on screen."""
        self._player_shown = shown
        self.refresh()

    def refresh(self) -> None:
        """Show or hide the bar, and update its title and button."""
        item = self.player.item
        visible = not self._player_shown and item is not None and self.player.active
        if item is not None:
            self.title.setText(item.title)
        icon = (
            QStyle.StandardPixmap.SP_MediaPause
            if self.player.is_playing
            else QStyle.StandardPixmap.SP_MediaPlay
        )
        self.play_button.setIcon(self.style().standardIcon(icon))
        self.setVisible(visible)

    def _position(self, ms: int) -> None:
        if self.isVisible():
            self.time_label.setText(self.player.time_label.text())
