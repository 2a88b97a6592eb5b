"""The ingest job queue (a table model the Jobs view shows) and watched folders.

One row per file. Jobs run one at a time through :class:`~app.workers.IngestRunner`; the
queue is saved to ``jobs.json`` in the library directory on every state change, so queued
and interrupted jobs resume after a restart.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QFileSystemWatcher,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import QColor

from app.services import IngestUpdate, LibraryService, UserMessage, format_time
from app.tablemodel import RowsModel
from app.workers import ErrorNotifier, IngestRunner, WorkerPool

log = logging.getLogger(__name__)

ACTIVE = ("queued", "running")
FINISHED = ("done", "skipped", "failed", "cancelled")
STATE_LABELS = {
    "queued": "Queued",
    "running": "Running",
    "done": "Done",
    "skipped": "Unchanged",
    "failed": "Failed",
    "cancelled": "Cancelled",
}
ProgressRole = Qt.ItemDataRole.UserRole + 1
JobRole = Qt.ItemDataRole.UserRole + 2
AnyIndex = QModelIndex | QPersistentModelIndex


@dataclass
class Job:
    """One file to ingest, or one item to annotate (``kind``)."""

    path: str
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    state: str = "queued"
    progress: float = 0.0
    message: str = ""
    item_id: int | None = None
    updated: float = field(default_factory=time.time)
    kind: str = "ingest"  # or "annotate": tag the library item ``item_id``
    title: str = ""
    model: str = ""  # a Whisper model for this job only ("": the one chosen in Settings)
    duration: float = 0.0  # seconds of audio in the file, once the engine knows
    started: float = 0.0  # when the running attempt started (time.time())
    finished: float = 0.0  # when it ended

    def elapsed(self, now: float | None = None) -> float:
        """Seconds the current (or last) attempt has run."""
        if not self.started:
            return 0.0
        end = self.finished if self.state not in ACTIVE and self.finished else now or time.time()
        return max(0.0, end - self.started)

    def speed(self, now: float | None = None) -> float | None:
        """Seconds of audio done per second of work ("x real time"), once measurable."""
        elapsed = self.elapsed(now)
        done = self.progress * self.duration
        if self.kind != "ingest" or elapsed < 0.5 or done <= 0:
            return None
        return done / elapsed

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the speed so far (None until there is a speed)."""
        speed = self.speed(now)
        if speed is None or self.state != "running":
            return None
        return max(0.0, (1.0 - self.progress) * self.duration / speed)

    def progress_text(self, now: float | None = None) -> str:
        """The share of the audio done, by audio time when known: "42% · 0:13 of 0:31"."""
        pct = f"{round(self.progress * 100)}%"
        if self.kind != "ingest" or self.duration <= 0:
            return pct
        done = format_time(self.progress * self.duration)
        return f"{pct} · {done} of {format_time(self.duration)}"

    def timing_text(self, now: float | None = None) -> str:
        """Elapsed, time left and speed so far: "1:02 elapsed · 0:20 left · 3.1× real time"."""
        if not self.started or self.state not in ("running", "done"):
            return ""
        parts = [f"{format_time(self.elapsed(now))} elapsed"]
        eta = self.eta(now)
        if eta is not None:
            parts.append(f"{format_time(eta)} left")
        speed = self.speed(now)
        if speed is not None:
            parts.append(f"{speed:.1f}\u00d7 real time")
        return " · ".join(parts)

    @property
    def name(self) -> str:
        """What the Jobs table shows: the file name, or "Tag: <title>"."""
        if self.kind == "annotate":
            return f"Tag: {self.title or self.item_id}"
        return Path(self.path).name


class JobQueue(RowsModel):
    """The queue of ingest and annotation jobs, as a table: job, status, progress, message.

    Jobs run one at a time in the background process (transcription and tagging both want
    the CPU). An item that finishes ingesting is queued for tagging when ``auto_annotate``.
    """

    COLUMNS = ("Job", "Status", "Progress", "Message")
    library_changed = Signal()  # an item was added, started, finished or failed
    counts_changed = Signal(int)  # active jobs (also sent when unseen failures change)

    def __init__(
        self,
        runner: IngestRunner,
        library: LibraryService,
        notifier: ErrorNotifier,
        store: Path | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.runner = runner
        self.library = library
        self.notifier = notifier
        self.store = store
        self.jobs: list[Job] = []
        self.paused = False
        self.running = False  # set by start(); the queue does nothing before
        self.auto_annotate = True
        self.unseen_failures = 0  # failures since the Jobs view was last shown
        # While a job runs, its elapsed time and time left are redrawn every second.
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(self._tick_running)
        runner.update.connect(self._on_update)
        self._load()

    # -- model ------------------------------------------------------------------------------

    def rows(self) -> list[Any]:
        """The rows shown (the table model's data)."""
        return self.jobs

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Cell contents for a role (Qt model API)."""
        if not index.isValid():
            return None
        job = self.jobs[index.row()]
        col = index.column()
        if role == JobRole:
            return job
        if role == ProgressRole:
            return job.progress
        if role == Qt.ItemDataRole.DisplayRole:
            if col == 0:
                return job.name
            if col == 1:
                return STATE_LABELS.get(job.state, job.state)
            if col == 2:
                return job.progress_text()
            if job.state == "running" or (job.state == "done" and not job.message):
                return job.timing_text()
            return job.message.splitlines()[0] if job.message else ""
        if role == Qt.ItemDataRole.ToolTipRole:
            return job.message or job.path if col == 3 else job.path
        if role == Qt.ItemDataRole.ForegroundRole and job.state == "failed" and col in (1, 3):
            return QColor("#d1242f")
        return None

    def nav_label(self) -> str:
        """The Jobs entry of the sidebar: active jobs, and failures not seen yet as a badge."""
        active = self.active_count()
        text = f"Jobs ({active})" if active else "Jobs"
        return f"{text}  \u26a0 {self.unseen_failures}" if self.unseen_failures else text

    def mark_failures_seen(self) -> None:
        """The user looked at the Jobs view: clear the failure badge."""
        if self.unseen_failures:
            self.unseen_failures = 0
            self.counts_changed.emit(self.active_count())

    def _tick_running(self) -> None:
        running = [i for i, j in enumerate(self.jobs) if j.state == "running"]
        for row in running:
            self.dataChanged.emit(self.index(row, 2), self.index(row, 3))
        if not running:
            self._tick.stop()

    # -- queue operations -------------------------------------------------------------------

    def job(self, job_id: str) -> Job | None:
        """The job with this id."""
        return next((j for j in self.jobs if j.id == job_id), None)

    def row_of(self, job_id: str) -> int:
        """The row of a job (-1 if unknown)."""
        return next((i for i, j in enumerate(self.jobs) if j.id == job_id), -1)

    def enqueue(self, paths: Iterable[Path | str], model: str = "") -> list[Job]:
        """Queue files (a file already queued or running is not queued twice).

        ``model`` transcribes them with that Whisper model instead of the one in Settings,
        including files stored unchanged whose transcript another model made.
        """
        added: list[Job] = []
        by_path = {j.path: j for j in self.jobs if j.kind == "ingest"}
        for raw in paths:
            path = str(Path(raw).expanduser().resolve())
            existing = by_path.get(path)
            if existing is not None:
                if existing.state not in ACTIVE:
                    existing.model = model
                    self._reset(existing)
                    added.append(existing)
                continue
            job = Job(path, model=model)
            self.beginInsertRows(QModelIndex(), len(self.jobs), len(self.jobs))
            self.jobs.append(job)
            self.endInsertRows()
            by_path[path] = job
            added.append(job)
        if added:
            self._changed()
            self._pump()
        return added

    def enqueue_annotation(self, items: Iterable[tuple[int, str]]) -> list[Job]:
        """Queue ``(item id, title)`` pairs for tagging (an item already queued is not twice).

        Tagging is cheap for items whose content, model and prompt did not change: the engine
        skips them, so queueing a whole library again is safe.
        """
        added: list[Job] = []
        by_item = {j.item_id: j for j in self.jobs if j.kind == "annotate"}
        for item_id, title in items:
            existing = by_item.get(item_id)
            if existing is not None:
                if existing.state not in ACTIVE:
                    self._reset(existing)
                    added.append(existing)
                continue
            job = Job("", item_id=item_id, kind="annotate", title=title)
            self.beginInsertRows(QModelIndex(), len(self.jobs), len(self.jobs))
            self.jobs.append(job)
            self.endInsertRows()
            by_item[item_id] = job
            added.append(job)
        if added:
            self._changed()
            self._pump()
        return added

    def cancel(self, job_id: str) -> None:
        """Cancel a queued or running job (a running one's process is terminated)."""
        job = self.job(job_id)
        if job is None or job.state not in ACTIVE:
            return
        if job.state == "running" and self.runner.current == job.id:
            self.runner.cancel()
            if job.item_id is not None and job.kind == "ingest":
                try:
                    self.library.mark_interrupted(job.item_id, "Cancelled; retry it from Jobs.")
                except Exception as exc:  # noqa: BLE001 - the item stays 'ingesting'; no dialog
                    log.warning("cannot mark item %s cancelled: %s", job.item_id, exc)
            self.library_changed.emit()
        self._set(job, state="cancelled", message="Cancelled")
        self._pump()

    def retry(self, job_id: str) -> None:
        """Queue a failed, cancelled or finished job again."""
        job = self.job(job_id)
        if job is not None and job.state not in ACTIVE:
            self.paused = False
            self._reset(job)
            self._pump()

    def forget(self, paths: Iterable[str]) -> None:
        """Drop the jobs of files taken out of the library (a running one is left to finish).

        A queued, failed or finished job of a removed item would otherwise add it back on its
        next run or retry.
        """
        gone = {str(p) for p in paths}
        keep = [j for j in self.jobs if not (j.path in gone and j.state != "running")]
        if len(keep) != len(self.jobs):
            self.beginResetModel()
            self.jobs = keep
            self.endResetModel()
            self._changed()

    def remove_finished(self) -> None:
        """Drop every finished job from the list."""
        keep = [j for j in self.jobs if j.state in ACTIVE]
        if len(keep) != len(self.jobs):
            self.beginResetModel()
            self.jobs = keep
            self.endResetModel()
            self._changed()

    def start(self) -> None:
        """Begin running queued jobs (the window calls this once it is shown)."""
        self.running = True
        self._pump()

    def resume(self) -> None:
        """Run queued jobs again after an engine error paused the queue."""
        self.paused = False
        self._pump()

    def active_count(self) -> int:
        """Jobs queued or running."""
        return sum(j.state in ACTIVE for j in self.jobs)

    # -- internals --------------------------------------------------------------------------

    def _reset(self, job: Job) -> None:
        self._set(job, state="queued", progress=0.0, message="", started=0.0, finished=0.0)

    def _set(self, job: Job, *, save: bool = True, **changes: Any) -> None:
        if job.state in ACTIVE and changes.get("state") in FINISHED:
            job.finished = time.time()
            if changes["state"] == "failed":
                self.unseen_failures += 1
        for key, value in changes.items():
            setattr(job, key, value)
        job.updated = time.time()
        row = self.row_of(job.id)
        if row >= 0:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(self.COLUMNS) - 1))
        if save:
            self._changed()

    def _changed(self) -> None:
        self._save()
        self.counts_changed.emit(self.active_count())

    def _pump(self) -> None:
        if not self.running or self.paused or self.runner.busy:
            return
        job = next((j for j in self.jobs if j.state == "queued"), None)
        if job is None:
            return
        self._set(job, state="running", progress=0.0, message="", started=time.time(), finished=0.0)
        self._tick.start()
        if job.kind == "annotate" and job.item_id is not None:
            self.runner.submit_annotation(job.id, job.item_id)
        else:
            self.runner.submit(job.id, Path(job.path), job.model)

    def _on_update(self, update: IngestUpdate) -> None:
        job = self.job(update.job_id)
        if job is None:
            return
        kind = update.kind
        if kind == "started":
            self._set(job, save=False, item_id=update.item_id, progress=0.0)
            self.library_changed.emit()
        elif kind == "progress":
            self._set(
                job, save=False, progress=update.fraction, duration=update.duration or job.duration
            )
        elif kind == "done" and job.kind == "annotate":
            self._set(job, state="done", progress=1.0, message=update.message or "Tagged")
            self.library_changed.emit()
        elif kind == "done":
            lang = f"Language: {update.message}" if update.message else ""
            duration = update.duration or job.duration
            self._set(job, state="done", progress=1.0, duration=duration, item_id=update.item_id)
            timing = job.timing_text()
            self._set(job, message=" · ".join(t for t in (lang, timing) if t))
            self.library_changed.emit()
            if self.auto_annotate and update.item_id is not None:
                self.enqueue_annotation([(update.item_id, Path(job.path).stem)])
        elif kind == "skipped":
            unchanged = "Tags are up to date" if job.kind == "annotate" else "Unchanged"
            self._set(job, state="skipped", progress=1.0, message=unchanged)
            self.library_changed.emit()
        elif kind == "failed":
            self._set(job, state="failed", message=update.message, item_id=update.item_id)
            self.library_changed.emit()
        elif kind == "error":
            # An engine error (e.g. a missing model) would fail every job the same way.
            text = update.message + (f" {update.fix}" if update.fix else "")
            self._set(job, state="failed", message=text)
            self.paused = True
            self.notifier.notify(UserMessage(update.message, update.fix))
            self.library_changed.emit()
        elif kind == "finished":
            if job.state == "running":  # the file yielded no outcome (should not happen)
                self._set(job, state="done", progress=1.0)
            self._pump()

    def _load(self) -> None:
        if self.store is None or not self.store.is_file():
            return
        try:
            raw = json.loads(self.store.read_text(encoding="utf-8"))
            jobs = [
                Job(**{k: v for k, v in d.items() if k in Job.__dataclass_fields__}) for d in raw
            ]
        except (OSError, ValueError, TypeError) as exc:
            log.warning("ignoring unreadable job list %s: %s", self.store, exc)
            return
        for job in jobs:
            if job.state == "running":  # interrupted by the last exit: redo it
                job.state, job.progress = "queued", 0.0
        self.beginResetModel()
        self.jobs = jobs
        self.endResetModel()

    def _save(self) -> None:
        if self.store is None:
            return
        try:
            self.store.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.store.with_name(self.store.name + ".tmp")
            tmp.write_text(json.dumps([asdict(j) for j in self.jobs], indent=1), encoding="utf-8")
            tmp.replace(self.store)
        except OSError as exc:
            log.warning("cannot save the job list to %s: %s", self.store, exc)


class FolderWatcher(QObject):
    """Watches folders (recursively) and queues new or changed media files."""

    scanned = Signal(int)  # files queued by a scan

    def __init__(
        self,
        jobs: JobQueue,
        library: LibraryService,
        pool: WorkerPool,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.jobs = jobs
        self.library = library
        self.pool = pool
        self.folders: list[str] = []
        self.watcher = QFileSystemWatcher(self)
        self.watcher.directoryChanged.connect(self._schedule)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(1500)  # let a copy finish before reading the files
        self._debounce.timeout.connect(self.scan)

    def set_folders(self, folders: Iterable[str], scan: bool = True) -> None:
        """Watch exactly these folders; scan them for new or changed files."""
        self.folders = [str(Path(f).expanduser()) for f in folders]
        if self.watcher.directories():
            self.watcher.removePaths(self.watcher.directories())
        if scan and self.folders:
            self.scan()

    def _schedule(self, _path: str = "") -> None:
        self._debounce.start()

    def scan(self) -> None:
        """Look for new or changed files in the watched folders (in a worker)."""
        folders = [f for f in self.folders if Path(f).is_dir()]
        if folders:
            self.pool.submit(self._scan, folders, on_result=self._on_scanned)

    def _scan(self, folders: list[str]) -> tuple[list[Path], list[str]]:
        dirs: list[str] = []
        for folder in folders:
            for root, subdirs, _ in os.walk(folder):
                subdirs[:] = [d for d in subdirs if not d.startswith(".")]
                dirs.append(root)
        return self.library.changed_files(Path(f) for f in folders), dirs

    def _on_scanned(self, result: tuple[list[Path], list[str]]) -> None:
        files, dirs = result
        new = [d for d in dirs if d not in set(self.watcher.directories())]
        if new:
            self.watcher.addPaths(new)
        # A file that failed and has not changed since is not retried on every folder event.
        by_path = {j.path: j for j in self.jobs.jobs}

        def stale_failure(path: Path) -> bool:
            job = by_path.get(str(path))
            try:
                return bool(job and job.state == "failed" and path.stat().st_mtime < job.updated)
            except OSError:
                return True

        files = [f for f in files if not stale_failure(f)]
        queued = self.jobs.enqueue(files) if files else []
        self.scanned.emit(len(queued))
