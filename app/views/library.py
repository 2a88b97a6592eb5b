"""Library view: every item in a sortable, filterable table; import by drop or dialog."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    QSortFilterProxyModel,
    Qt,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QAction,
    QColor,
    QDesktopServices,
    QDragEnterEvent,
    QDropEvent,
    QResizeEvent,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.services import (
    KINDS,
    WHISPER_MODELS,
    LibraryItem,
    LibraryService,
    UserMessage,
    format_time,
    vocabularies,
)
from app.tablemodel import RowsModel
from app.workers import WorkerPool

SortRole = Qt.ItemDataRole.UserRole + 1
ItemRole = Qt.ItemDataRole.UserRole + 2
AnyIndex = QModelIndex | QPersistentModelIndex
STATUS_LABELS = {
    "ready": "Ready",
    "ingesting": "Ingesting…",
    "pending": "Pending",
    "error": "Error",
    "interrupted": "Interrupted",
}
TITLE_MIN_WIDTH = 220  # px: the title stays readable in a narrow window (800 x 600)
MEDIA_FILTER = (
    "Media and subtitles (*.wav *.flac *.mp3 *.ogg *.oga *.opus *.m4a *.aac *.mp4 *.mkv "
    "*.webm *.mov *.m4v *.srt *.vtt);;All files (*)"
)


_TOPICS, _MOODS, RATINGS = vocabularies()  # ratings, least strict first, for sorting


class LibraryModel(RowsModel):
    """The library's items as rows: title, kind, duration, status, language."""

    COLUMNS = (
        "Title",
        "Kind",
        "Duration",
        "Status",
        "Language",
        "Topics",
        "Mood",
        "Safety",
        "Model",
    )

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.items: list[LibraryItem] = []

    def rows(self) -> list[Any]:
        """The rows shown (the table model's data)."""
        return self.items

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Cell contents for a role (Qt model API)."""
        if not index.isValid():
            return None
        item = self.items[index.row()]
        col = index.column()
        if role == ItemRole:
            return item
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                item.title,
                item.kind,
                format_time(item.duration) if item.duration else "-",
                STATUS_LABELS.get(item.status, item.status),
                item.language or "-",
                ", ".join(item.topics) or "-",
                item.mood or "-",
                item.rating or "-",
                item.model,
            )[col]
        if role == SortRole:
            return (
                item.title.lower(),
                item.kind,
                item.duration or 0.0,
                item.status,
                item.language or "",
                ", ".join(item.topics),
                item.mood or "",
                # Ratings sort by strictness, unrated last.
                RATINGS.index(item.rating) if item.rating in RATINGS else len(RATINGS),
                item.model,
            )[col]
        if role == Qt.ItemDataRole.ToolTipRole:
            # An item in error says why on every cell of its row, not only on its status.
            if item.error and item.status in ("error", "interrupted"):
                return f"{item.error}\n{item.path}"
            if col == self.COLUMNS.index("Model") and item.transcript_source:
                return f"Transcript made by {item.transcript_source}"
            return item.path
        if role == Qt.ItemDataRole.ForegroundRole and col == 3 and item.status == "error":
            return QColor("#d1242f")
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 2:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def set_items(self, items: list[LibraryItem]) -> None:
        """Replace the rows, keeping the view's selection when rows were only updated/added."""
        old_ids = [i.id for i in self.items]
        new_ids = [i.id for i in items]
        if new_ids[: len(old_ids)] == old_ids:
            self.items[: len(old_ids)] = items[: len(old_ids)]
            if old_ids:
                self.dataChanged.emit(
                    self.index(0, 0), self.index(len(old_ids) - 1, len(self.COLUMNS) - 1)
                )
            if len(new_ids) > len(old_ids):
                self.beginInsertRows(QModelIndex(), len(old_ids), len(new_ids) - 1)
                self.items.extend(items[len(old_ids) :])
                self.endInsertRows()
        else:
            self.beginResetModel()
            self.items = list(items)
            self.endResetModel()


class LibraryFilter(QSortFilterProxyModel):
    """Filters rows by text (title, kind, status, language) and by kind."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.text = ""
        self.kind = ""
        self.setSortRole(SortRole)

    def set_text(self, text: str) -> None:
        """Show only rows containing ``text``."""
        self.beginFilterChange()
        self.text = text.strip().lower()
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_kind(self, kind: str) -> None:
        """Show only items of ``kind`` ('' for all)."""
        self.beginFilterChange()
        self.kind = kind
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, row: int, parent: AnyIndex) -> bool:
        """Whether a row passes the text and kind filters."""
        model = self.sourceModel()
        item: LibraryItem = model.data(model.index(row, 0, parent), ItemRole)
        if self.kind and item.kind != self.kind:
            return False
        if not self.text:
            return True
        hay = (
            f"{item.title} {item.kind} {item.status} {item.language or ''} {item.path} "
            f"{' '.join(item.topics)} {item.mood or ''} {item.rating or ''}"
        )
        return self.text in hay.lower()


class LibraryView(QWidget):
    """The library table with import (drop, Add files, Add folder) and watched folders."""

    import_requested = Signal(list)  # list[Path] of files to queue
    open_requested = Signal(int)  # media id
    watch_requested = Signal(str)  # a folder to watch
    annotate_requested = Signal(list)  # list[(item id, title)] to tag
    retranscribe_requested = Signal(list, str)  # list[Path] of files, Whisper model
    items_changed = Signal()  # items were removed, renamed or relocated from this view
    items_removed = Signal(list)  # list[str]: the paths of items removed from the library
    loaded = Signal()  # items were (re)loaded

    def __init__(
        self, library: LibraryService, pool: WorkerPool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.pool = pool
        self.loads = 0
        self.setAcceptDrops(True)

        heading = QLabel("Library")
        heading.setObjectName("heading")
        self.filter_edit = QLineEdit(placeholderText="Filter by title, kind, status, topic, mood…")
        self.filter_edit.setClearButtonEnabled(True)
        self.kind_combo = QComboBox()
        self.kind_combo.addItem("All kinds", "")
        for kind in KINDS:
            self.kind_combo.addItem(kind.capitalize(), kind)
        self.add_files_button = QPushButton("Add files…")
        self.add_folder_button = QPushButton("Add folder…")
        self.watch_button = QPushButton("Watch folder…")
        self.watch_button.setToolTip("Ingest new and changed files in a folder automatically")
        self.tag_button = QPushButton("Tag all")
        self.tag_button.setToolTip(
            "Tag every transcribed item (summary, topics, mood, entities, safety) with the local "
            "language model; unchanged items are skipped"
        )
        self.tag_button.clicked.connect(self.annotate_all)

        top = QHBoxLayout()
        top.addWidget(heading)
        top.addStretch(1)
        top.addWidget(self.add_files_button)
        top.addWidget(self.add_folder_button)
        top.addWidget(self.watch_button)
        top.addWidget(self.tag_button)
        bar = QHBoxLayout()
        bar.addWidget(self.filter_edit, 1)
        bar.addWidget(self.kind_combo)

        self.model = LibraryModel(self)
        self.proxy = LibraryFilter(self)
        self.proxy.setSourceModel(self.model)
        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.verticalHeader().hide()
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        header = self.table.horizontalHeader()
        # The title takes what the other columns leave, but never less than TITLE_MIN_WIDTH
        # (the table scrolls sideways instead): see _fit_columns.
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        for col in range(1, len(LibraryModel.COLUMNS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.sectionResized.connect(lambda *_: self._fit_columns())
        self.table.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)

        self.empty = QLabel(
            "Your library is empty.\n\nDrop audio or video files here, or use "
            "“Add files…” (Ctrl+O).\nEverything is transcribed and indexed on this machine."
        )
        self.empty.setObjectName("placeholder")
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.table)
        self.stack.addWidget(self.empty)
        self.count_label = QLabel("Loading…")
        self.count_label.setObjectName("muted")
        # The selected item: where it is, what made its transcript, and why it failed.
        self.details = QLabel()
        self.details.setObjectName("muted")
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.hide()

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addLayout(bar)
        layout.addWidget(self.stack, 1)
        layout.addWidget(self.details)
        layout.addWidget(self.count_label)

        self.filter_edit.textChanged.connect(self._filter_changed)
        self.kind_combo.currentIndexChanged.connect(
            lambda _i: (self.proxy.set_kind(self.kind_combo.currentData()), self._update_count())
        )
        self.add_files_button.clicked.connect(self.add_files)
        self.add_folder_button.clicked.connect(self.add_folder)
        self.watch_button.clicked.connect(self.watch_folder)
        self.table.activated.connect(self._activated)  # double-click or Enter
        self.table.customContextMenuRequested.connect(self._context_menu)
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._show_details())

    # -- data -------------------------------------------------------------------------------

    def reload(self) -> None:
        """Reload the items in a worker."""
        self.pool.submit(self.library.items, on_result=self._set_items)

    def _set_items(self, items: list[LibraryItem]) -> None:
        self.model.set_items(items)
        self.loads += 1
        self._update_count()
        self._fit_columns()
        self._show_details()
        self.loaded.emit()

    def resizeEvent(self, event: QResizeEvent) -> None:
        """Give the title column the width the others leave."""
        super().resizeEvent(event)
        self._fit_columns()

    def _fit_columns(self) -> None:
        header = self.table.horizontalHeader()
        others = sum(header.sectionSize(c) for c in range(1, self.model.columnCount()))
        width = max(TITLE_MIN_WIDTH, self.table.viewport().width() - others)
        if header.sectionSize(0) != width:
            header.blockSignals(True)
            header.resizeSection(0, width)
            header.blockSignals(False)
            self.table.viewport().update()

    def _show_details(self) -> None:
        items = self.selected_items()
        if len(items) != 1:
            self.details.hide()
            return
        self.details.setText(item_details(items[0]))
        self.details.show()

    def _filter_changed(self, text: str) -> None:
        self.proxy.set_text(text)
        self._update_count()

    def _update_count(self) -> None:
        total, shown = self.model.rowCount(), self.proxy.rowCount()
        self.stack.setCurrentIndex(1 if total == 0 else 0)
        ready = sum(i.status == "ready" for i in self.model.items)
        hours = sum(i.duration or 0 for i in self.model.items if i.status == "ready") / 3600
        text = f"{total} items · {ready} ready · {hours:.1f} h transcribed"
        self.count_label.setText(text if shown == total else f"{shown} of {text}")

    def selected_items(self) -> list[LibraryItem]:
        """The items selected in the table."""
        rows = self.table.selectionModel().selectedRows()
        return [self.proxy.data(r, ItemRole) for r in rows]

    # -- import -----------------------------------------------------------------------------

    def import_paths(self, paths: list[Path]) -> None:
        """Queue files and folders for ingest (folders are expanded in a worker)."""
        paths = [Path(p) for p in paths]
        files = [p for p in paths if not p.is_dir()]
        folders = [p for p in paths if p.is_dir()]
        if files:
            self.import_requested.emit(files)
        if folders:
            self.pool.submit(self.library.discover, folders, on_result=self.import_requested.emit)

    def add_files(self) -> None:
        """Ask for files and import them."""
        names, _ = QFileDialog.getOpenFileNames(self, "Add media files", "", MEDIA_FILTER)
        if names:
            self.import_paths([Path(n) for n in names])

    def add_folder(self) -> None:
        """Ask for a folder and import what it holds."""
        folder = QFileDialog.getExistingDirectory(self, "Add a folder")
        if folder:
            self.import_paths([Path(folder)])

    def annotate_all(self) -> None:
        """Queue every ready item for tagging."""
        ready = [(i.id, i.title) for i in self.model.items if i.status == "ready"]
        if ready:
            self.annotate_requested.emit(ready)

    def watch_folder(self) -> None:
        """Ask for a folder to watch."""
        folder = QFileDialog.getExistingDirectory(self, "Watch a folder")
        if folder:
            self.watch_requested.emit(folder)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        """Accept drags that carry local files."""
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        """Import dropped files and folders."""
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.import_paths(paths)

    # -- actions ----------------------------------------------------------------------------

    def _activated(self, index: QModelIndex) -> None:
        item: LibraryItem = self.proxy.data(index, ItemRole)
        if item is None:
            return
        if item.status in ("error", "interrupted") and not item.duration:
            # Nothing to play: say why it failed (the details below the table) instead.
            self._show_details()
            return
        self.open_requested.emit(item.id)

    def _context_menu(self, pos: Any) -> None:
        items = self.selected_items()
        if items:
            self.build_menu(items).popup(self.table.viewport().mapToGlobal(pos))

    def build_menu(self, items: list[LibraryItem]) -> QMenu:
        """The context menu for the selected ``items`` (actions named as the user reads them)."""
        menu = QMenu(self)
        one = items[0] if len(items) == 1 else None
        files = [i for i in items if i.kind != "transcript"]
        media = [i for i in items if i.playable]

        def add(text: str, slot: Any, enabled: bool = True, tip: str = "") -> QAction:
            action = QAction(text, menu)
            action.setEnabled(enabled)
            action.setToolTip(tip)
            action.triggered.connect(slot)
            menu.addAction(action)
            return action

        add(
            "Open in player",
            lambda: self.open_requested.emit(items[0].id),
            bool(one and (one.status == "ready" or one.duration)),
        )
        add(
            "Show in folder",
            lambda: self.show_in_folder(items[0]),
            bool(one and one.kind != "transcript"),
        )
        menu.addSeparator()
        add("Rename…", lambda: self._ask_rename(items[0]), one is not None)
        add(
            "Locate moved file…",
            lambda: self._ask_locate(items[0]),
            bool(one and one.kind != "transcript" and not Path(one.path).exists()),
            "Point the item at where its file is now; its transcript and tags stay",
        )
        menu.addSeparator()
        add(
            "Ingest again",
            lambda: self.import_requested.emit([Path(i.path) for i in files]),
            bool(files),
        )
        again = menu.addMenu("Transcribe again with")
        again.setEnabled(bool(media))
        for model in WHISPER_MODELS:
            if model == "auto":
                continue
            made = [i for i in media if i.model == model]
            action = QAction(f"Whisper {model}", again)
            # Items this model already transcribed would be skipped as unchanged.
            action.setEnabled(len(made) < len(media))
            action.triggered.connect(lambda _c=False, m=model: self.retranscribe(media, m))
            again.addAction(action)
        add(
            "Tag again",
            lambda: self.annotate_requested.emit(
                [(i.id, i.title) for i in items if i.status == "ready"]
            ),
            any(i.status == "ready" for i in items),
        )
        menu.addSeparator()
        busy = any(i.status == "ingesting" for i in items)
        add(
            f"Remove from library ({len(items)})…" if len(items) > 1 else "Remove from library…",
            lambda: self._ask_remove(items),
            not busy,
            "Cancel its ingest job first" if busy else "The files stay on disk",
        )
        return menu

    # -- item actions (the dialogs ask, these do) ---------------------------------------------

    def retranscribe(self, items: list[LibraryItem], model: str) -> None:
        """Queue media items to be transcribed again with the Whisper ``model``."""
        paths = [Path(i.path) for i in items if i.playable]
        if paths:
            self.retranscribe_requested.emit(paths, model)

    def remove_items(self, items: list[LibraryItem]) -> None:
        """Remove items from the library (in a worker); their files stay on disk."""
        ids = [i.id for i in items]
        paths = [i.path for i in items]

        def removed(_ids: object) -> None:
            self.items_removed.emit(paths)
            self._changed()

        self.pool.submit(self.library.remove, ids, on_result=removed)

    def rename_item(self, item: LibraryItem, title: str) -> None:
        """Give an item a new title (in a worker)."""
        self.pool.submit(self.library.rename, item.id, title, on_result=self._changed)

    def relocate_item(self, item: LibraryItem, path: Path) -> None:
        """Point an item at the file it was moved to (checked to be the same content)."""
        self.pool.submit(self.library.relocate, item.id, Path(path), on_result=self._changed)

    def show_in_folder(self, item: LibraryItem) -> bool:
        """Open the folder holding the item's file in the file manager."""
        folder = Path(item.path).parent
        if not folder.is_dir():
            self.pool.notifier.notify(
                UserMessage(
                    f"The folder of '{item.title}' is gone: {folder}.",
                    "Use “Locate moved file…” to point the item at its file.",
                )
            )
            return False
        return QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _changed(self, _result: object = None) -> None:
        self.reload()
        self.items_changed.emit()

    def _ask_rename(self, item: LibraryItem) -> None:
        title, ok = QInputDialog.getText(self, "Rename", "Title:", text=item.title)
        if ok and title.strip() and title.strip() != item.title:
            self.rename_item(item, title)

    def _ask_locate(self, item: LibraryItem) -> None:
        start = next((str(p) for p in Path(item.path).parents if p.is_dir()), "")
        name, _ = QFileDialog.getOpenFileName(
            self, f"Where is “{Path(item.path).name}” now?", start, MEDIA_FILTER
        )
        if name:
            self.relocate_item(item, Path(name))

    def _ask_remove(self, items: list[LibraryItem]) -> None:
        what = f"“{items[0].title}”" if len(items) == 1 else f"{len(items)} items"
        answer = QMessageBox.question(
            self,
            "Remove from library",
            f"Remove {what} from the library?\n\nTranscripts, tags and viewing history go; "
            "the files stay on disk and can be added again.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.remove_items(items)


def item_details(item: LibraryItem) -> str:
    """What the details line under the table says about one item."""
    parts = [item.title, item.path]
    if item.duration:
        parts.append(format_time(item.duration))
    if item.transcript_source:
        parts.append(f"transcript by {item.model}")
    text = " · ".join(parts)
    if item.status == "error":
        gone = item.kind != "transcript" and not Path(item.path).exists()
        advice = (
            "Its file is gone: “Locate moved file…” or “Remove from library…” (right-click)."
            if gone
            else "Fix the file, then “Ingest again” (right-click), or remove it."
        )
        return f"{text}\nImport failed: {item.error or 'no reason was recorded'}\n{advice}"
    if item.status == "interrupted":
        return f"{text}\n{item.error or 'Interrupted.'}"
    return text
