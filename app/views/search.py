"""Search view: hybrid search with timestamps and bold query terms; Enter plays the moment."""

from __future__ import annotations

import time

from PySide6.QtCore import (
    QEvent,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QPoint,
    QPointF,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import (
    QAbstractTextDocumentLayout,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPalette,
    QShowEvent,
    QTextDocument,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QVBoxLayout,
    QWidget,
)

from app.services import KINDS, SearchHit, SearchService, UserMessage, vocabularies
from app.workers import WorkerPool

HitRole = Qt.ItemDataRole.UserRole + 1
HtmlRole = Qt.ItemDataRole.UserRole + 2
AnyIndex = QModelIndex | QPersistentModelIndex


PLAY_LINK = "play"  # the href of a row's "▶ 1:00": a single click on it plays the moment
# Relevance (query-chunk cosine) at which a hit counts as a strong or a good match; below
# "good" it is a fair one (hits under the floor are not shown at all).
STRONG_MATCH = 0.8
GOOD_MATCH = 0.65


def match_label(relevance: float) -> tuple[int, str]:
    """How well a hit matches, as dots out of 3 and a word: (3, "strong match")."""
    if relevance >= STRONG_MATCH:
        return 3, "strong match"
    if relevance >= GOOD_MATCH:
        return 2, "good match"
    return 1, "fair match"


def hit_html(hit: SearchHit, accent: str, muted: str = "gray") -> str:
    """The rich text of one result row (``accent``: the time link's colour)."""
    dots, label = match_label(hit.relevance)
    cue = (
        f"<span style='color:{accent}'>{'●' * dots}</span>"
        f"<span style='color:{muted}'>{'○' * (3 - dots)} {label}</span>"
    )
    who = (
        f"&nbsp;&nbsp;<span style='color:{muted}'>{_esc(', '.join(hit.speakers))}</span>"
        if hit.speakers
        else ""
    )
    return (
        f"<div style='margin-bottom:2px'><b>{_esc(hit.title)}</b>"
        f"&nbsp;&nbsp;<a href='{PLAY_LINK}' style='color:{accent}; text-decoration:none'>"
        f"▶ {hit.timestamp}</a>"
        f"&nbsp;&nbsp;<span style='color:{muted}'>{hit.kind}</span>{who}&nbsp;&nbsp;{cue}</div>"
        f"<div>{hit.html}</div>"
    )


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class HtmlDelegate(QStyledItemDelegate):
    """Renders an item's ``HtmlRole`` as rich text, wrapped to the view's width."""

    def _width(self, option: QStyleOptionViewItem) -> int:
        view = option.widget
        viewport = getattr(view, "viewport", None)
        return viewport().width() if callable(viewport) else option.rect.width()

    def document(self, option: QStyleOptionViewItem, index: AnyIndex) -> QTextDocument:
        """The row's rich text laid out at the view's width.

        A search hit is rendered with the colours of its state: on a selected row the time
        link and the cue take the highlighted-text colour (link blue on selection blue was
        unreadable).
        """
        doc = QTextDocument()
        doc.setDefaultFont(option.font)
        hit = index.data(HitRole)
        if isinstance(hit, SearchHit):
            selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[operator]
            palette = option.palette
            if selected:
                accent = muted = palette.color(QPalette.ColorRole.HighlightedText).name()
            else:
                accent = palette.color(QPalette.ColorRole.Link).name()
                muted = palette.color(QPalette.ColorRole.PlaceholderText).name()
            doc.setHtml(hit_html(hit, accent, muted))
        else:
            doc.setHtml(str(index.data(HtmlRole) or ""))
        doc.setTextWidth(max(100, self._width(option) - 16))
        return doc

    def anchor_at(self, option: QStyleOptionViewItem, index: AnyIndex, pos: QPoint) -> str:
        """The link under ``pos`` (view coordinates) in the row of ``index``, or ""."""
        doc = self.document(option, index)
        local = QPointF(pos - option.rect.topLeft() - QPoint(8, 6))
        return str(doc.documentLayout().anchorAt(local) or "")

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: AnyIndex) -> None:
        """Draw one cell."""
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        style = opt.widget.style() if opt.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, opt.widget)
        doc = self.document(option, index)
        ctx = QAbstractTextDocumentLayout.PaintContext()
        selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[operator]
        role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
        ctx.palette.setColor(QPalette.ColorRole.Text, option.palette.color(role))
        painter.save()
        painter.translate(option.rect.left() + 8, option.rect.top() + 6)
        doc.documentLayout().draw(painter, ctx)
        painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: AnyIndex) -> QSize:
        """Height of the wrapped rich text."""
        doc = self.document(option, index)
        return QSize(self._width(option), int(doc.size().height()) + 12)


class SearchView(QWidget):
    """A query box, a kind filter and the results; Enter or double-click plays a result."""

    play_requested = Signal(int, float)  # media id, seconds
    results_ready = Signal(list)  # list[SearchHit]

    def __init__(
        self, search: SearchService, pool: WorkerPool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.search_service = search
        self.pool = pool
        self.hits: list[SearchHit] = []
        self._request = 0
        self._started = 0.0

        heading = QLabel("Search")
        heading.setObjectName("heading")
        self.query = QLineEdit(placeholderText="Find a moment by meaning or by words…  (Ctrl+F)")
        self.query.setClearButtonEnabled(True)
        self.kind = QComboBox()
        self.kind.addItem("All kinds", "")
        for kind in KINDS:
            self.kind.addItem(kind.capitalize(), kind)
        topics, moods, ratings = vocabularies()
        self.topic = self._facet("All topics", topics, "Only items tagged with this topic")
        self.mood = self._facet("Any mood", moods, "Only items with this mood")
        self.rating = self._facet(
            "Any rating",
            ratings,
            "Family filter: only items rated at most this (items not annotated yet are hidden)",
            names=[f"Up to {r}" for r in ratings],
        )
        self.speaker = QComboBox()
        self.speaker.setToolTip("Only moments where this person speaks (names: Speakers view)")
        self.speaker.addItem("Anyone", None)
        self.speaker.setVisible(False)  # shown once the library has voices
        self.button = QPushButton("Search")
        row = QHBoxLayout()
        row.addWidget(self.query, 1)
        row.addWidget(self.button)
        facets = QHBoxLayout()
        facets.addWidget(self.kind)
        facets.addWidget(self.topic)
        facets.addWidget(self.mood)
        facets.addWidget(self.rating)
        facets.addWidget(self.speaker)
        facets.addStretch(1)
        self.status = QLabel("Type a question or a few words and press Enter.")
        self.status.setObjectName("muted")
        self.results = QListWidget()
        self.delegate = HtmlDelegate(self.results)
        self.results.setItemDelegate(self.delegate)
        self.results.setMouseTracking(True)  # the hand cursor over a row's time link
        self.results.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.results.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.results.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.results.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.results.setAlternatingRowColors(True)

        layout = QVBoxLayout(self)
        layout.addWidget(heading)
        layout.addLayout(row)
        layout.addLayout(facets)
        layout.addWidget(self.status)
        layout.addWidget(self.results, 1)

        self.query.returnPressed.connect(self.run)
        self.button.clicked.connect(self.run)
        for combo in (self.kind, self.topic, self.mood, self.rating, self.speaker):
            combo.currentIndexChanged.connect(lambda _i: self.query.text().strip() and self.run())
        self.results.itemActivated.connect(self._play)  # double-click or Enter
        self.query.installEventFilter(self)
        self.results.viewport().installEventFilter(self)  # a single click on "▶ 1:00" plays

    @staticmethod
    def _facet(
        everything: str, values: tuple[str, ...], tip: str, names: list[str] | None = None
    ) -> QComboBox:
        combo = QComboBox()
        combo.setToolTip(tip)
        combo.addItem(everything, "")
        for value, name in zip(values, names or values, strict=True):
            combo.addItem(name, value)
        return combo

    speakers_loaded = Signal(list)  # list[tuple[int, str]]

    def refresh_speakers(self) -> None:
        """Reload the speaker facet's choices (after an ingest found or a user named voices)."""
        self.pool.submit(self.search_service.speakers, on_result=self._set_speakers)

    def _set_speakers(self, speakers: list[tuple[int, str]]) -> None:
        chosen = self.speaker.currentData()
        self.speaker.blockSignals(True)
        self.speaker.clear()
        self.speaker.addItem("Anyone", None)
        for profile_id, name in speakers:
            self.speaker.addItem(name, profile_id)
        at = self.speaker.findData(chosen) if chosen is not None else 0
        self.speaker.setCurrentIndex(max(at, 0))
        self.speaker.blockSignals(False)
        self.speaker.setVisible(bool(speakers))
        self.speakers_loaded.emit(speakers)

    def showEvent(self, event: QShowEvent) -> None:
        """Each time Search is shown, the speaker list is brought up to date."""
        super().showEvent(event)
        self.refresh_speakers()

    def focus_query(self) -> None:
        """Put the cursor in the query box with its text selected."""
        self.query.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.query.selectAll()

    def run(self) -> None:
        """Search for the query in a worker (the first search loads the embedding model)."""
        text = self.query.text().strip()
        if not text:
            return
        self._request += 1
        request = self._request
        self._started = time.perf_counter()
        self.status.setText(
            "Searching…"
            if self.search_service.loaded
            else "Searching… (the first search loads the search model)"
        )
        kind = self.kind.currentData() or None
        # Read the widgets here, on the GUI thread; the worker only gets plain values.
        facets = {
            "topic": self.topic.currentData() or None,
            "mood": self.mood.currentData() or None,
            "max_rating": self.rating.currentData() or None,
            "speaker": self.speaker.currentData(),
        }
        filtered = any(v is not None and v != "" for v in facets.values()) or bool(kind)

        def search() -> tuple[list[SearchHit], bool]:
            hits = self.search_service.search(text, kind, **facets)
            return hits, bool(hits) or self.search_service.has_items()

        self.pool.submit(
            search,
            on_result=lambda result: self._show(request, *result, text=text, filtered=filtered),
            on_error=lambda msg: self._failed(request, msg),
        )

    def _show(
        self,
        request: int,
        hits: list[SearchHit],
        has_items: bool = True,
        *,
        text: str = "",
        filtered: bool = False,
    ) -> None:
        if request != self._request:
            return  # a newer query is on its way
        self.hits = hits
        self.results.clear()
        accent = self.palette().color(QPalette.ColorRole.Link).name()
        for hit in hits:
            item = QListWidgetItem()
            item.setData(HitRole, hit)
            item.setData(HtmlRole, hit_html(hit, accent))
            _dots, label = match_label(hit.relevance)
            item.setToolTip(
                f"{hit.title} at {hit.timestamp} ({label}, relevance {hit.relevance:.2f}): "
                "click the time or press Enter to play from here"
            )
            self.results.addItem(item)
        ms = (time.perf_counter() - self._started) * 1000
        if hits:
            self.status.setText(f"{len(hits)} moments · {ms:.0f} ms")
        elif not has_items:
            self.status.setText("No matches: your library is empty. Add media in Library first.")
        else:
            where = " with these filters" if filtered else " in your library"
            self.status.setText(f"No matches: nothing{where} is close to “{text}”.")
        if hits:
            self.results.setCurrentRow(0)
        self.results_ready.emit(hits)

    def _failed(self, request: int, msg: UserMessage) -> None:
        if request == self._request:
            self.status.setText("Search failed.")
            self.pool.notifier.notify(msg)

    def _play(self, item: QListWidgetItem) -> None:
        hit: SearchHit = item.data(HitRole)
        if hit is not None:
            self.play_requested.emit(hit.media_id, hit.start)

    def link_at(self, pos: QPoint) -> QListWidgetItem | None:
        """The result whose "▶ time" link is under ``pos`` (viewport coordinates)."""
        index = self.results.indexAt(pos)
        if not index.isValid():
            return None
        option = QStyleOptionViewItem()
        option.initFrom(self.results)
        option.rect = self.results.visualRect(index)
        option.font = self.results.font()
        if self.results.selectionModel().isSelected(index):
            option.state |= QStyle.StateFlag.State_Selected
        if self.delegate.anchor_at(option, index, pos) != PLAY_LINK:
            return None
        return self.results.item(index.row())

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:
        """Down in the query box moves to the results; a click on a row's time plays it."""
        if watched is self.results.viewport() and isinstance(event, QMouseEvent):
            if event.type() == QEvent.Type.MouseMove:
                over = self.link_at(event.position().toPoint()) is not None
                cursor = Qt.CursorShape.PointingHandCursor if over else Qt.CursorShape.ArrowCursor
                self.results.viewport().setCursor(cursor)
            elif (
                event.type() == QEvent.Type.MouseButtonRelease
                and event.button() == Qt.MouseButton.LeftButton
            ):
                item = self.link_at(event.position().toPoint())
                if item is not None:
                    self.results.setCurrentItem(item)
                    self._play(item)
                    return True
            return False
        # Down in the query box moves to the results, so the keyboard alone can pick one.
        if (
            watched is self.query
            and event.type() == QEvent.Type.KeyPress
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Down
            and self.results.count()
        ):
            self.results.setFocus()
            return True
        return super().eventFilter(watched, event)

    def retheme(self) -> None:
        """Re-render result rows after a palette change (link colours)."""
        accent = self.palette().color(QPalette.ColorRole.Link).name()
        for i in range(self.results.count()):
            item = self.results.item(i)
            item.setData(HtmlRole, hit_html(item.data(HitRole), accent))
