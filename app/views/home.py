"""Home view: what to watch now, in rows by intent (Continue first), as cards.

Rows come from ``core.recommend`` through :class:`~app.services.HomeService`, computed in a
worker. Each card shows a thumbnail (a frame of the video, decoded in a worker, or a cover
drawn from the title for audio), the duration, how much was played and why it is offered.
A click plays the item, from where it was left for items in progress.
"""

from __future__ import annotations

import hashlib

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QLinearGradient, QMouseEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.services import HomeCard, HomeService, Shelf, format_time
from app.workers import WorkerPool

THUMB = QSize(224, 126)
# Intents whose rows stay rows of their own even with a single card.
KEEP_ALONE = frozenset({"continue_watching"})


def merge_single_rows(shelves: list[Shelf]) -> list[Shelf]:
    """Rows holding one card are gathered into one "More for you" row (where the first was).

    Each card keeps its own reason, so nothing the single rows said is lost; Continue is never
    merged. With fewer than two single-card rows the page is left as it is.
    """
    singles = [s for s in shelves if len(s.items) == 1 and s.intent not in KEEP_ALONE]
    if len(singles) < 2:
        return list(shelves)
    merged = Shelf("More for you", "mixed", tuple(s.items[0] for s in singles))
    out: list[Shelf] = []
    for shelf in shelves:
        if shelf is singles[0]:
            out.append(merged)
        elif not any(shelf is single for single in singles):
            out.append(shelf)
    return out


def generated_cover(title: str, kind: str, size: QSize = THUMB) -> QPixmap:
    """A cover for items without pictures: a gradient from the title's hash and its initials."""
    digest = hashlib.sha256(title.encode("utf-8")).digest()
    hue = digest[0] / 255 * 359
    start = QColor.fromHsvF(hue / 359, 0.55, 0.75)
    end = QColor.fromHsvF(((hue + 40) % 359) / 359, 0.65, 0.45)
    pixmap = QPixmap(size)
    painter = QPainter(pixmap)
    gradient = QLinearGradient(0, 0, size.width(), size.height())
    gradient.setColorAt(0, start)
    gradient.setColorAt(1, end)
    painter.fillRect(pixmap.rect(), gradient)
    initials = "".join(w[0] for w in title.split()[:2] if w[:1].isalnum()).upper() or "♪"
    font = QFont()
    font.setPixelSize(size.height() // 3)
    font.setBold(True)
    painter.setFont(font)
    painter.setPen(QColor(255, 255, 255, 230))
    painter.drawText(pixmap.rect(), Qt.AlignmentFlag.AlignCenter, initials)
    small = QFont()
    small.setPixelSize(12)
    painter.setFont(small)
    painter.drawText(
        pixmap.rect().adjusted(8, 0, -8, -6),
        Qt.AlignmentFlag.AlignBottom | Qt.AlignmentFlag.AlignLeft,
        {"audio": "♪ audio", "video": "▶ video"}.get(kind, kind),
    )
    painter.end()
    return pixmap


class Card(QFrame):
    """One recommended item; ``clicked`` plays it."""

    clicked = Signal(object)  # HomeCard

    def __init__(self, card: HomeCard) -> None:
        """Build the tile (its thumbnail starts as a generated cover)."""
        super().__init__()
        self.card = card
        self.setObjectName("card")
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setFixedWidth(THUMB.width() + 16)
        self.setToolTip(f"{card.title}\n{card.reason}")
        self.thumb = QLabel()
        self.thumb.setFixedSize(THUMB)
        self.thumb.setPixmap(generated_cover(card.title, card.kind))
        title = QLabel(card.title)
        title.setObjectName("cardTitle")
        title.setWordWrap(True)
        meta = QLabel(self._meta())
        meta.setObjectName("muted")
        self.bar = QProgressBar()
        self.bar.setObjectName("watched")
        self.bar.setTextVisible(False)
        self.bar.setRange(0, 100)
        self.bar.setValue(round(card.progress * 100))
        self.bar.setVisible(card.progress > 0)
        reason = QLabel(card.reason)
        reason.setObjectName("muted")
        reason.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(4)
        layout.addWidget(self.thumb)
        layout.addWidget(self.bar)
        layout.addWidget(title)
        layout.addWidget(meta)
        layout.addWidget(reason)
        layout.addStretch(1)

    def _meta(self) -> str:
        parts = [format_time(self.card.duration)] if self.card.duration else []
        if 0 < self.card.progress < 1 and self.card.duration:
            left = self.card.duration * (1 - self.card.progress)
            parts.append(f"{format_time(left)} left")
        elif self.card.progress >= 1:
            parts.append("watched")
        return " · ".join(parts)

    def set_thumbnail(self, image: QImage) -> None:
        """Show a video frame instead of the generated cover."""
        pixmap = QPixmap.fromImage(image).scaled(
            THUMB,
            Qt.AspectRatioMode.KeepAspectRatioByExpanding,
            Qt.TransformationMode.SmoothTransformation,
        )
        self.thumb.setPixmap(pixmap)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:
        """A left click plays the item."""
        if event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(self.card)
        super().mouseReleaseEvent(event)


class HomeView(QWidget):
    """The home screen; ``play_requested(media_id, seconds)`` opens the player."""

    play_requested = Signal(int, float)
    loaded = Signal(object)  # list[Shelf]

    def __init__(self, service: HomeService, pool: WorkerPool) -> None:
        """Build the view; rows load on :meth:`reload` (the window calls it when shown)."""
        super().__init__()
        self.service = service
        self.pool = pool
        self.shelves: list[Shelf] = []
        self.cards: list[Card] = []
        self.stale = True
        self._loading = False
        self._full = False  # the recommender's rows are shown (not only what is ready now)
        self._thumbs: dict[str, QImage] = {}

        heading = QLabel("Home")
        heading.setObjectName("heading")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(self.reload)
        top = QHBoxLayout()
        top.addWidget(heading)
        top.addStretch(1)
        top.addWidget(self.refresh_button)
        self.placeholder = QLabel("Finding what to watch…")
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setWordWrap(True)
        self.rows = QVBoxLayout()
        self.rows.setSpacing(4)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.addWidget(self.placeholder)
        body_layout.addLayout(self.rows)
        body_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(scroll, 1)

    @property
    def loading(self) -> bool:
        """Whether rows are being computed."""
        return self._loading

    def mark_stale(self) -> None:
        """Something was watched or imported: reload next time the view is shown."""
        self.stale = True

    def reload_if_stale(self) -> None:
        """Reload when the rows may be out of date."""
        if self.stale:
            self.reload()

    def reload(self) -> None:
        """Recompute the rows in a worker."""
        if self._loading:
            self.stale = True
            return
        self._loading = True
        self.stale = False
        if not self._full:
            # First load: show what is ready at once; the recommender's rows replace it.
            self.pool.submit(self.service.ready_now, on_result=self._on_ready_now)
        self.pool.submit(self.service.shelves, on_result=self._on_loaded, on_error=self._failed)

    @property
    def preliminary(self) -> bool:
        """Whether the rows shown are only what is ready now (the real rows are loading)."""
        return not self._full and bool(self.cards)

    def _on_ready_now(self, shelves: list[Shelf]) -> None:
        if self._full or not shelves:
            return
        self._clear()
        self.placeholder.hide()
        for shelf in shelves:
            self.rows.addWidget(self._row(shelf))

    def _failed(self, msg: object) -> None:
        self._loading = False
        self.placeholder.setText(f"Recommendations are unavailable: {msg}")
        self.placeholder.setVisible(not self.cards)
        self.pool.notifier.notify(msg)  # type: ignore[arg-type]

    def _on_loaded(self, shelves: list[Shelf]) -> None:
        self._loading = False
        self._full = True
        shelves = merge_single_rows(shelves)
        self.shelves = shelves
        self._clear()
        if not shelves:
            self.placeholder.setText(
                "Nothing to recommend yet. Add media in Library; once items are transcribed "
                "they appear here, and what you watch shapes the rows."
            )
            self.placeholder.show()
        else:
            self.placeholder.hide()
        for shelf in shelves:
            self.rows.addWidget(self._row(shelf))
        self.loaded.emit(shelves)
        if self.stale:  # changed while loading
            self.reload()

    def _row(self, shelf: Shelf) -> QWidget:
        row = QWidget()
        layout = QVBoxLayout(row)
        layout.setContentsMargins(0, 0, 0, 0)
        title = QLabel(shelf.title)
        title.setObjectName("rowTitle")
        layout.addWidget(title)
        strip = QWidget()
        strip_layout = QHBoxLayout(strip)
        strip_layout.setContentsMargins(0, 0, 0, 0)
        for home_card in shelf.items:
            card = Card(home_card)
            card.clicked.connect(self._play)
            strip_layout.addWidget(card)
            self.cards.append(card)
            self._thumbnail(card)
        strip_layout.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidget(strip)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedHeight(THUMB.height() + 130)
        layout.addWidget(scroll)
        return row

    def _thumbnail(self, card: Card) -> None:
        if card.card.kind != "video":
            return
        path = card.card.path
        if path in self._thumbs:
            card.set_thumbnail(self._thumbs[path])
            return
        at = 5.0
        if card.card.duration:
            at = min(at, card.card.duration / 3)

        def show(result: tuple[int, int, bytes] | None, path: str = path) -> None:
            if result is None:
                return
            width, height, data = result
            image = QImage(data, width, height, width * 3, QImage.Format.Format_RGB888).copy()
            self._thumbs[path] = image
            for c in self.cards:
                if c.card.path == path:
                    c.set_thumbnail(image)

        self.pool.submit(self.service.thumbnail, path, at, on_result=show)

    def _clear(self) -> None:
        self.cards = []
        while self.rows.count():
            child = self.rows.takeAt(0)
            widget = child.widget() if child is not None else None
            if widget is not None:
                widget.deleteLater()

    def _play(self, card: HomeCard) -> None:
        start = 0.0
        if 0 < card.progress < 1 and card.duration:
            start = max(0.0, card.progress * card.duration - 2.0)  # a little context
        self.play_requested.emit(card.media_id, start)
