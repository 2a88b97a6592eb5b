"""Jobs view: the ingest queue with progress bars, cancel, retry and each failure's message."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QPainter, QShowEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.jobs import ACTIVE, Job, JobQueue, JobRole, ProgressRole


class ProgressDelegate(QStyledItemDelegate):
    """Draws a job's progress as a progress bar."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        """Draw one cell."""
        if option.state & QStyle.StateFlag.State_Selected:  # type: ignore[operator]
            painter.fillRect(option.rect, option.palette.highlight())
        bar = QStyleOptionProgressBar()
        bar.rect = option.rect.adjusted(4, 5, -4, -5)
        bar.minimum, bar.maximum = 0, 1000
        bar.progress = round(float(index.data(ProgressRole) or 0.0) * 1000)
        bar.text = str(index.data(Qt.ItemDataRole.DisplayRole))
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.palette = option.palette
        style = option.widget.style() if option.widget else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, option.widget)


class JobsView(QWidget):
    """The job list, buttons for the selected job, and its full message."""

    open_requested = Signal(int)  # media id of a finished job

    def __init__(self, jobs: JobQueue, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.jobs = jobs
        heading = QLabel("Jobs")
        heading.setObjectName("heading")
        self.summary = QLabel()
        self.summary.setObjectName("muted")
        self.cancel_button = QPushButton("Cancel")
        self.retry_button = QPushButton("Retry")
        self.resume_button = QPushButton("Resume queue")
        self.clear_button = QPushButton("Clear finished")

        top = QHBoxLayout()
        top.addWidget(heading)
        top.addWidget(self.summary)
        top.addStretch(1)
        for b in (self.cancel_button, self.retry_button, self.resume_button, self.clear_button):
            top.addWidget(b)

        self.table = QTableView()
        self.table.setModel(jobs)
        self.table.setItemDelegateForColumn(2, ProgressDelegate(self.table))
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setShowGrid(False)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().hide()
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Fixed)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        header.resizeSection(0, 220)
        header.resizeSection(2, 200)
        header.setMinimumSectionSize(60)

        self.details = QPlainTextEdit(readOnly=True)
        self.details.setPlaceholderText("Select a job to see its file and any error message.")
        self.details.setMaximumHeight(140)
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self.table)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 4)
        splitter.setStretchFactor(1, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)

        self.cancel_button.clicked.connect(lambda: self._act(self.jobs.cancel))
        self.retry_button.clicked.connect(lambda: self._act(self.jobs.retry))
        self.resume_button.clicked.connect(self.jobs.resume)
        self.clear_button.clicked.connect(self.jobs.remove_finished)
        self.table.selectionModel().selectionChanged.connect(self._refresh)
        self.table.doubleClicked.connect(self._open)
        jobs.dataChanged.connect(self._refresh)
        jobs.rowsInserted.connect(self._refresh)
        jobs.modelReset.connect(self._refresh)
        self._refresh()

    def showEvent(self, event: QShowEvent) -> None:
        """Seeing the list clears the failure badge of the sidebar."""
        super().showEvent(event)
        self.jobs.mark_failures_seen()

    def selected_job(self) -> Job | None:
        """The selected job, if any."""
        rows = self.table.selectionModel().selectedRows()
        return self.jobs.data(rows[0], JobRole) if rows else None

    def _act(self, action: object) -> None:
        job = self.selected_job()
        if job is not None and callable(action):
            action(job.id)

    def _open(self, index: QModelIndex) -> None:
        job: Job = self.jobs.data(index, JobRole)
        if job and job.item_id is not None and job.state in ("done", "skipped"):
            self.open_requested.emit(job.item_id)

    def _refresh(self, *_args: object) -> None:
        job = self.selected_job()
        self.cancel_button.setEnabled(bool(job and job.state in ACTIVE))
        self.retry_button.setEnabled(bool(job and job.state not in ACTIVE))
        self.resume_button.setVisible(self.jobs.paused)
        self.clear_button.setEnabled(any(j.state not in ACTIVE for j in self.jobs.jobs))
        counts: dict[str, int] = {}
        for j in self.jobs.jobs:
            counts[j.state] = counts.get(j.state, 0) + 1
        order = ("running", "queued", "done", "skipped", "failed", "cancelled")
        self.summary.setText(" · ".join(f"{counts[s]} {s}" for s in order if counts.get(s)))
        if job is None:
            self.details.clear()
        else:
            text = f"{job.path or job.name}\n{job.state}: {job.progress_text()}"
            timing = job.timing_text()
            text += f"\n{timing}" if timing else ""
            if job.model:
                text += f"\nWhisper model: {job.model}"
            self.details.setPlainText(text + (f"\n\n{job.message}" if job.message else ""))
