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
    undone = Signal(object)  # ReviewCard after an undo
    tag_all_requested = Signal()  # the empty state's "Tag all items"

    def __init__(self, service: ReviewService, pool: WorkerPool, batch: int = 20) -> None:
        """Build the view; the queue loads on :meth:`reload` (when the view is shown)."""
        super().__init__()
        self.service = service
        self.pool = pool
        self.batch = batch
        self.cards: list[ReviewCard] = []
        self._loading = False
        self._loaded_once = False
        self._undo_rows: list[int] = []  # rows of this session's decisions, last on top
        self._in_flight = 0  # decisions sent to the worker, not stored yet
        self._undo_waiting = 0  # undos asked for while a decision was in flight

        heading = QLabel("Review tags")
        heading.setObjectName("heading")
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        self.summary.setWordWrap(True)  # a long count must not widen the window
        self.more_button = QPushButton("Load more")
        self.more_button.clicked.connect(self.reload)
        top = QHBoxLayout()
        top.addWidget(heading)
        top.addWidget(self.summary, 1)

        self.queue = QListWidget()
        # Rows wrap in a list wide enough to read, never scrolling sideways.
        self.queue.setWordWrap(True)
        self.queue.setTextElideMode(Qt.TextElideMode.ElideNone)
        self.queue.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.queue.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.queue.setMinimumWidth(200)
        self.queue.currentRowChanged.connect(self._show)

        self.placeholder = QLabel(
            "Nothing to review yet. Tag your library with the local language model: the tags "
            "it is least sure of appear here for you to check."
        )
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.tag_all_button = QPushButton("Tag all items")
        self.tag_all_button.setToolTip("Queue every transcribed item for tagging (see Jobs)")
        self.tag_all_button.clicked.connect(self._tag_all)
        empty = QWidget()
        empty_layout = QVBoxLayout(empty)
        empty_layout.addStretch(1)
        empty_layout.addWidget(self.placeholder)
        empty_layout.addWidget(self.tag_all_button, 0, Qt.AlignmentFlag.AlignCenter)
        empty_layout.addStretch(1)
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
        self.undo_button = QPushButton("Undo (Ctrl+Z)")
        self.undo_button.setEnabled(False)
        self.undo_button.clicked.connect(self.undo)
        self.play_button = QPushButton("▶ Play evidence (P)")
        self.play_button.setToolTip("Play the selected moment (the first one if none is selected)")
        self.play_button.clicked.connect(self.play_evidence)
        self.accept_button.clicked.connect(lambda: self.decide("accept"))
        self.reject_button.clicked.connect(lambda: self.decide("reject"))
        self.edit_button.clicked.connect(self.start_edit)
        self.skip_button.clicked.connect(self.skip)
        buttons = QHBoxLayout()
        for b in (self.accept_button, self.reject_button, self.edit_button, self.skip_button):
            buttons.addWidget(b)
        buttons.addStretch(1)
        # Undo and Load more sit in the heading row: the decision row must fit the detail
        # pane of an 800-pixel-wide window.
        top.addWidget(self.undo_button)
        top.addWidget(self.more_button)
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
        evidence_row = QHBoxLayout()
        evidence_row.addWidget(supporting)
        evidence_row.addStretch(1)
        evidence_row.addWidget(self.play_button)
        detail_layout.addLayout(evidence_row)
        detail_layout.addWidget(self.moments, 1)
        self.detail = QStackedWidget()
        self.detail.addWidget(empty)
        self.detail.addWidget(detail)

        split = QSplitter()
        split.addWidget(self.queue)
        split.addWidget(self.detail)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([420, 520])
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)

        for key, slot in (
            ("A", lambda: self.decide("accept")),
            ("R", lambda: self.decide("reject")),
            ("E", self.start_edit),
            ("S", self.skip),
            ("P", self.play_evidence),
            (QKeySequence.StandardKey.Undo, self.undo),
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
        self.play_button.setEnabled(on and self.moments.count() > 0)

    def _moment_activated(self, entry: QListWidgetItem) -> None:
        media_id, start = entry.data(MomentRole)
        self.play_requested.emit(media_id, start)

    def play_evidence(self) -> None:
        """Play the selected supporting moment of the tag shown (the first if none is)."""
        if self.current is None or self.moments.count() == 0:
            return
        entry = self.moments.currentItem() or self.moments.item(0)
        self._moment_activated(entry)

    def _tag_all(self) -> None:
        self.tag_all_requested.emit()
        self.placeholder.setText(
            "Tagging is queued (see Jobs). Come back when it is done: the tags the model is "
            "least sure of appear here."
        )
        self._loaded_once = False  # the next visit fetches the queue again

    # -- undo -------------------------------------------------------------------------------

    def undo(self) -> None:
        """Ctrl+Z: take back the last decision of this session and show its tag again."""
        if not self._undo_rows:
            return
        if self._in_flight:
            self._undo_waiting += 1  # after the decision is stored, not before
            return
        row = self._undo_rows.pop()
        self._update_undo()
        self.pool.submit(
            self.service.undo, on_result=lambda card, row=row: self._on_undone(row, card)
        )

    def _on_undone(self, row: int, card: ReviewCard | None) -> None:
        if card is None:
            return
        # The service takes back decisions in the order it stored them: find the card's row.
        row = next((n for n, c in enumerate(self.cards) if c.tag_id == card.tag_id), row)
        if row < len(self.cards):
            self.cards[row] = card
            entry = self.queue.item(row)
            entry.setText(card_label(card))
            entry.setData(CardRole, card)
        self._update_summary()
        self.queue.setCurrentRow(row)
        self._show(row)
        self.undone.emit(card)

    def _update_undo(self) -> None:
        self.undo_button.setEnabled(bool(self._undo_rows))

    # -- decisions --------------------------------------------------------------------------

    def decide(self, decision: str, new_value: str | None = None) -> None:
        """Store a decision on the current tag (in a worker) and move to the next one."""
        card = self.current
        if card is None or (not self.editor.isHidden() and decision != "edit"):
            return
        row = self.queue.currentRow()
        self._end_edit()
        self._in_flight += 1
        worker = self.pool.submit(
            self.service.decide,
            card,
            decision,
            new_value,
            on_result=lambda updated, row=row: self._on_decided(row, updated),
            on_error=self._decision_failed,
        )
        if worker is None:  # shutting down
            self._in_flight -= 1
            return
        self._undo_rows.append(row)
        self._update_undo()
        self.queue.setCurrentRow(self._next_open(row + 1))

    def _decision_failed(self, msg: UserMessage) -> None:
        if self._undo_rows:
            self._undo_rows.pop()  # it was not stored: nothing to take back
            self._update_undo()
        self._decision_done()
        self.pool.notifier.notify(msg)

    def _decision_done(self) -> None:
        self._in_flight -= 1
        if not self._in_flight and self._undo_waiting:
            self._undo_waiting -= 1
            self.undo()

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
        self._decision_done()
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
