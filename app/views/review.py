"""Review view: check the annotator's tags one key at a time (A accept, R reject, E edit).

The queue comes from ``core.annotate`` through :class:`~app.services.ReviewService`: the
lowest-confidence tags first, then a uniform random sample (marked as such; only those reviews
estimate quality). Every decision is stored at once, in a worker, and becomes gold: later
annotation never overwrites it and the tagger learns from it.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from app.services import ReviewCard, ReviewService, UserMessage, format_time
from app.workers import WorkerPool

CardRole = Qt.ItemDataRole.UserRole + 1
MomentRole = Qt.ItemDataRole.UserRole + 2
STATUS_MARKS = {"auto": "•", "accepted": "✓", "edited": "✎", "rejected": "✗"}
SOURCE_NAMES = {"lowest": "low confidence", "random": "random sample"}


def card_label(card: ReviewCard) -> str:
    """A queue row: status mark, tag type, value, confidence and the item."""
    value = card.display if len(card.display) <= 60 else card.display[:59] + "…"
    return (
        f"{STATUS_MARKS.get(card.status, '?')} {card.type}: {value}  "
        f"({card.confidence:.0%})  — {card.title}"
    )


class ReviewView(QWidget):
    """The review queue; ``play_requested(media_id, seconds)`` opens a supporting moment."""

    play_requested = Signal(int, float)
    loaded = Signal(object)  # list[ReviewCard]
    reviewed = Signal(object)  # ReviewCard after a decision

    def __init__(self, service: ReviewService, pool: WorkerPool, batch: int = 20) -> None:
        """Build the view; the queue loads on :meth:`reload` (when the view is shown)."""
        super().__init__()
        self.service = service
        self.pool = pool
        self.batch = batch
        self.cards: list[ReviewCard] = []
        self._loading = False
        self._loaded_once = False

        heading = QLabel("Review tags")
        heading.setObjectName("heading")
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        self.more_button = QPushButton("Load more")
        self.more_button.clicked.connect(self.reload)
        top = QHBoxLayout()
        top.addWidget(heading)
        top.addWidget(self.summary, 1)
        top.addWidget(self.more_button)

        self.queue = QListWidget()
        self.queue.currentRowChanged.connect(self._show)

        self.placeholder = QLabel(
            "Nothing to review. Annotate the library (mediamind annotate --all) and the tags "
            "it is least sure of appear here."
        )
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.kind_label = QLabel()
        self.kind_label.setObjectName("muted")
        self.value_label = QLabel()
        self.value_label.setObjectName("heading")
        self.value_label.setWordWrap(True)
        self.value_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.meta_label = QLabel()
        self.meta_label.setObjectName("muted")
        self.meta_label.setWordWrap(True)
        self.moments = QListWidget()
        self.moments.setWordWrap(True)
        self.moments.itemActivated.connect(self._moment_activated)
        self.moments.setToolTip("Enter or double-click plays this moment")
        self.accept_button = QPushButton("Accept (A)")
        self.reject_button = QPushButton("Reject (R)")
        self.edit_button = QPushButton("Edit (E)")
        self.skip_button = QPushButton("Skip (S)")
        self.accept_button.clicked.connect(lambda: self.decide("accept"))
        self.reject_button.clicked.connect(lambda: self.decide("reject"))
        self.edit_button.clicked.connect(self.start_edit)
        self.skip_button.clicked.connect(self.skip)
        buttons = QHBoxLayout()
        for b in (self.accept_button, self.reject_button, self.edit_button, self.skip_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        self.choice = QComboBox()
        self.free_text = QLineEdit()
        self.free_text.returnPressed.connect(self.save_edit)
        self.save_button = QPushButton("Save edit")
        self.save_button.clicked.connect(self.save_edit)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self._end_edit)
        self.editor = QWidget()
        edit_row = QHBoxLayout(self.editor)
        edit_row.setContentsMargins(0, 0, 0, 0)
        edit_row.addWidget(self.choice, 1)
        edit_row.addWidget(self.free_text, 1)
        edit_row.addWidget(self.save_button)
        edit_row.addWidget(self.cancel_button)
        self.editor.hide()

        detail = QWidget()
        detail_layout = QVBoxLayout(detail)
        detail_layout.addWidget(self.kind_label)
        detail_layout.addWidget(self.value_label)
        detail_layout.addWidget(self.meta_label)
        detail_layout.addLayout(buttons)
        detail_layout.addWidget(self.editor)
        supporting = QLabel("Where it comes from")
        supporting.setObjectName("section")
        detail_layout.addWidget(supporting)
        detail_layout.addWidget(self.moments, 1)
        self.detail = QStackedWidget()
        self.detail.addWidget(self.placeholder)
        self.detail.addWidget(detail)

        split = QSplitter()
        split.addWidget(self.queue)
        split.addWidget(self.detail)
        split.setStretchFactor(0, 2)
        split.setStretchFactor(1, 3)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)

        for key, slot in (
            ("A", lambda: self.decide("accept")),
            ("R", lambda: self.decide("reject")),
            ("E", self.start_edit),
            ("S", self.skip),
        ):
            shortcut = QShortcut(QKeySequence(key), self)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        self._set_enabled(False)

    # -- loading ----------------------------------------------------------------------------

    @property
    def loading(self) -> bool:
        """Whether the queue is being fetched."""
        return self._loading

    def reload_once(self) -> None:
        """Fetch the queue the first time the view is shown."""
        if not self._loaded_once:
            self.reload()

    def reload(self) -> None:
        """Fetch the next batch of tags to review (in a worker)."""
        if self._loading:
            return
        self._loading = True
        self.pool.submit(
            self.service.queue, self.batch, on_result=self._on_loaded, on_error=self._failed
        )

    def _failed(self, msg: UserMessage) -> None:
        self._loading = False
        self.pool.notifier.notify(msg)

    def _on_loaded(self, cards: list[ReviewCard]) -> None:
        self._loading = False
        self._loaded_once = True
        known = {c.tag_id for c in self.cards}
        fresh = [c for c in cards if c.tag_id not in known]
        for card in fresh:
            entry = QListWidgetItem(card_label(card))
            entry.setData(CardRole, card)
            entry.setToolTip(f"From the {SOURCE_NAMES.get(card.source, card.source)}")
            self.queue.addItem(entry)
        self.cards += fresh
        self._update_summary()
        if self.queue.currentRow() < 0 and self.cards:
            self.queue.setCurrentRow(self._next_open(0))
        self.detail.setCurrentIndex(1 if self.cards else 0)
        self.loaded.emit(fresh)

    # -- the current tag --------------------------------------------------------------------

    @property
    def current(self) -> ReviewCard | None:
        """The tag shown."""
        row = self.queue.currentRow()
        return self.cards[row] if 0 <= row < len(self.cards) else None

    def _show(self, row: int) -> None:
        self._end_edit()
        card = self.current
        if card is None:
            self._set_enabled(False)
            return
        self.kind_label.setText(f"{card.type.upper()} · {card.title}")
        self.value_label.setText(card.display)
        state = "not reviewed yet" if card.status == "auto" else f"reviewed: {card.status}"
        self.meta_label.setText(
            f"Confidence {card.confidence:.0%} · from the "
            f"{SOURCE_NAMES.get(card.source, card.source)} · {state}"
        )
        self.moments.clear()
        for start, text in card.context:
            entry = QListWidgetItem(f"{format_time(start)}   {text[:400]}")
            entry.setData(MomentRole, (card.media_id, start))
            self.moments.addItem(entry)
        self._set_enabled(True)

    def _set_enabled(self, on: bool) -> None:
        for b in (self.accept_button, self.reject_button, self.edit_button, self.skip_button):
            b.setEnabled(on)

    def _moment_activated(self, entry: QListWidgetItem) -> None:
        media_id, start = entry.data(MomentRole)
        self.play_requested.emit(media_id, start)

    # -- decisions --------------------------------------------------------------------------

    def decide(self, decision: str, new_value: str | None = None) -> None:
        """Store a decision on the current tag (in a worker) and move to the next one."""
        card = self.current
        if card is None or (not self.editor.isHidden() and decision != "edit"):
            return
        row = self.queue.currentRow()
        self._end_edit()
        self.pool.submit(
            self.service.decide,
            card,
            decision,
            new_value,
            on_result=lambda updated, row=row: self._on_decided(row, updated),
        )
        self.queue.setCurrentRow(self._next_open(row + 1))

    def skip(self) -> None:
        """Leave the current tag for later."""
        row = self.queue.currentRow()
        self.queue.setCurrentRow(self._next_open(row + 1))

    def start_edit(self) -> None:
        """Show the editor: a list of allowed values, or free text."""
        card = self.current
        if card is None:
            return
        self.choice.clear()
        if card.choices:
            self.choice.addItems(list(card.choices))
            if card.value in card.choices:
                self.choice.setCurrentText(card.value)
            self.choice.show()
            self.free_text.hide()
            self.editor.show()
            self.choice.setFocus()
        else:
            self.free_text.setText(card.value)
            self.free_text.show()
            self.choice.hide()
            self.editor.show()
            self.free_text.setFocus()
            self.free_text.selectAll()

    def save_edit(self) -> None:
        """Store the edited value."""
        card = self.current
        if card is None or self.editor.isHidden():
            return
        value = self.choice.currentText() if card.choices else self.free_text.text().strip()
        if not value:
            return
        self.editor.hide()
        self.decide("edit", value)

    def _end_edit(self) -> None:
        self.editor.hide()

    def _on_decided(self, row: int, card: ReviewCard) -> None:
        if row < len(self.cards) and self.cards[row].tag_id == card.tag_id:
            self.cards[row] = card
            entry = self.queue.item(row)
            entry.setText(card_label(card))
            entry.setData(CardRole, card)
        self._update_summary()
        if self.queue.currentRow() == row:
            self._show(row)
        self.reviewed.emit(card)

    def _next_open(self, start: int) -> int:
        for row in range(start, len(self.cards)):
            if self.cards[row].status == "auto":
                return row
        for row in range(0, min(start, len(self.cards))):
            if self.cards[row].status == "auto":
                return row
        return min(start, len(self.cards) - 1)

    def _update_summary(self) -> None:
        open_ = sum(c.status == "auto" for c in self.cards)
        done = len(self.cards) - open_
        sample = sum(c.source == "random" for c in self.cards)
        self.summary.setText(
            f"  {open_} to review, {done} reviewed · {sample} from the random sample "
            "(they estimate quality)"
        )
