"""Speakers view: the voices found across the library; name them once, merge duplicates.

Profiles come from diarization at ingest (``core.speakers``); a name given here shows in every
item's transcript, in search results and in citations. Merging says two profiles are one
person: the second one's items move to the first. Calls run in workers through
:class:`~app.services.speakers.SpeakersService`.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.services import UserMessage, format_time
from app.services.speakers import SpeakerRow, SpeakersService
from app.workers import WorkerPool

IdRole = Qt.ItemDataRole.UserRole + 1
COLUMNS = ("Name", "Items", "Speaking time")


class SpeakersView(QWidget):
    """A table of speaker profiles with Rename and Merge."""

    loaded = Signal(object)  # list[SpeakerRow]
    changed = Signal(object)  # SpeakerRow after a rename or merge

    def __init__(self, service: SpeakersService, pool: WorkerPool) -> None:
        """Build the view; profiles load when it is first shown (and after every change)."""
        super().__init__()
        self.service = service
        self.pool = pool
        self.rows: list[SpeakerRow] = []
        self.loading = False
        self._loaded_once = False

        heading = QLabel("Speakers")
        heading.setObjectName("heading")
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        top = QHBoxLayout()
        top.addWidget(heading)
        top.addWidget(self.summary, 1)

        intro = QLabel(
            "Voices found across your library. Name a voice once and every recording it "
            "speaks in shows the name; if two entries are the same person, select both and "
            "merge them."
        )
        intro.setWordWrap(True)
        intro.setObjectName("muted")

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.table.itemDoubleClicked.connect(lambda _item: self.rename_selected())

        self.placeholder = QLabel(
            "No voices yet. MediaMind finds who is speaking when it transcribes audio or "
            "video; add some files in Library and the voices appear here."
        )
        self.placeholder.setObjectName("placeholder")
        self.placeholder.setWordWrap(True)
        self.placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.placeholder)

        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("Give the selected voice a name (F2 or double-click)")
        self.rename_button.setShortcut("F2")
        self.rename_button.clicked.connect(self.rename_selected)
        self.merge_button = QPushButton("Merge selected")
        self.merge_button.setToolTip(
            "The selected voices are one person: keep the first (with the most speech)"
        )
        self.merge_button.clicked.connect(self.merge_selected)
        self.note = QLabel()
        self.note.setObjectName("muted")
        self.note.setWordWrap(True)
        buttons = QHBoxLayout()
        buttons.addWidget(self.rename_button)
        buttons.addWidget(self.merge_button)
        buttons.addWidget(self.note, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(intro)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)
        self._update_buttons()

    # -- loading --------------------------------------------------------------------------------

    def showEvent(self, event: QShowEvent) -> None:
        """Load the profiles the first time the view is shown."""
        super().showEvent(event)
        if not self._loaded_once:
            self.reload()

    def reload(self) -> None:
        """Fetch the profiles in a worker."""
        if self.loading:
            return
        self.loading = True
        self._loaded_once = True
        self.pool.submit(self.service.profiles, on_result=self._show, on_error=self._failed)

    def _failed(self, msg: UserMessage) -> None:
        self.loading = False
        # The engine's fixes name commands; here the buttons do the same.
        fix = msg.fix or ""
        if "mediamind" in fix:
            fix = (
                "If they are the same person, select both and merge them." if "merge" in fix else ""
            )
        self.note.setText(f"{msg.message} {fix}".strip())

    def _show(self, rows: list[SpeakerRow]) -> None:
        self.loading = False
        self.rows = rows
        self.table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            name = QTableWidgetItem(row.name)
            name.setData(IdRole, row.id)
            if not row.named:
                name.setToolTip("Not named yet: Rename gives it a name")
                font = name.font()
                font.setItalic(True)
                name.setFont(font)
            items = QTableWidgetItem(str(row.items))
            items.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            seconds = QTableWidgetItem(format_time(row.seconds))
            seconds.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            for c, cell in enumerate((name, items, seconds)):
                self.table.setItem(r, c, cell)
        self.stack.setCurrentWidget(self.table if rows else self.placeholder)
        total = sum(row.seconds for row in rows)
        self.summary.setText(f"{len(rows)} voices · {format_time(total)} of speech" if rows else "")
        self._update_buttons()
        self.loaded.emit(rows)

    # -- actions --------------------------------------------------------------------------------

    def selected_ids(self) -> list[int]:
        """Ids of the selected profiles, in table order (most speech first)."""
        rows = sorted({i.row() for i in self.table.selectionModel().selectedRows()})
        return [int(self.table.item(r, 0).data(IdRole)) for r in rows]

    def _update_buttons(self) -> None:
        n = len(self.selected_ids())
        self.rename_button.setEnabled(n == 1)
        self.merge_button.setEnabled(n >= 2)

    def rename_selected(self, name: str | None = None) -> None:
        """Rename the selected profile (asks for the name unless ``name`` is given)."""
        ids = self.selected_ids()
        if len(ids) != 1:
            return
        current = next(r for r in self.rows if r.id == ids[0])
        if name is None:
            text, ok = QInputDialog.getText(
                self, "Rename speaker", "Name:", text=current.name if current.named else ""
            )
            if not ok:
                return
            name = text
        self.note.setText("")
        self.pool.submit(
            self.service.rename, ids[0], name, on_result=self._done, on_error=self._failed
        )

    def merge_selected(self) -> None:
        """Merge every selected profile into the first one (the one with the most speech)."""
        ids = self.selected_ids()
        if len(ids) < 2:
            return
        keep, others = ids[0], ids[1:]

        def merge_all() -> SpeakerRow:
            row = self.service.merge(keep, others[0])
            for other in others[1:]:
                row = self.service.merge(keep, other)
            return row

        self.note.setText("")
        self.pool.submit(merge_all, on_result=self._done, on_error=self._failed)

    def _done(self, row: SpeakerRow) -> None:
        self.note.setText(f"{row.name}: {row.items} items, {format_time(row.seconds)} of speech.")
        self.changed.emit(row)
        self.reload()
