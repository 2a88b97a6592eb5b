"""Work off the GUI thread: a worker pool, the ingest process runner, and the error path.

* :class:`WorkerPool` runs functions on its own ``QThreadPool``; each :class:`FunctionWorker`
  emits ``started``, ``progress``, ``result`` and ``error`` (a :class:`UserMessage`).
* :class:`ProcessRunner` drives one spawned engine process (see ``app.services``) and a reader
  thread that turns its queue into Qt signals; cancel terminates the process.
  :class:`IngestRunner` runs ingest jobs in one, :class:`AskRunner` answers questions.
* :class:`ErrorNotifier` is the one place errors become messages for the user.

Every pool, reader thread and process registers itself so :func:`live_workers` can tell
whether anything is still running (the tests fail on leaks); ``shutdown()`` joins them all.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThread, QThreadPool, Signal

from app.services import (
    AskService,
    AskUpdate,
    EngineProcess,
    EngineTask,
    IngestService,
    IngestUpdate,
    UserMessage,
    describe_error,
)

log = logging.getLogger(__name__)

_registry: weakref.WeakSet[Any] = weakref.WeakSet()


def live_workers() -> list[str]:
    """Descriptions of pools, threads and processes that were started and not yet joined."""
    return [w.describe() for w in list(_registry) if not w.is_joined()]


class ErrorNotifier(QObject):
    """Turns exceptions (engine errors keep their fix) into one ``notified`` signal."""

    notified = Signal(object)  # UserMessage

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.last: UserMessage | None = None

    def notify(self, error: BaseException | UserMessage | str) -> UserMessage:
        """Report an error to the user; returns the message shown."""
        if isinstance(error, BaseException):
            msg = describe_error(error)
        elif isinstance(error, str):
            msg = UserMessage(error)
        else:
            msg = error
        log.warning("%s", msg.text())
        self.last = msg
        self.notified.emit(msg)
        return msg


class WorkerSignals(QObject):
    """What a :class:`FunctionWorker` reports (delivered on the GUI thread)."""

    started = Signal()
    progress = Signal(float)
    result = Signal(object)
    error = Signal(object)  # UserMessage
    finished = Signal(object)  # the worker


class FunctionWorker(QRunnable):
    """Runs ``fn(*args)`` on a pool thread; ``with_progress`` passes ``progress=callback``.

    Its signals object is a child of ``parent`` (the pool) and is deleted with
    ``deleteLater`` on the GUI thread. It must never die with the Python worker: that can
    happen on the pool thread just after ``run`` returns, and deleting a GUI-thread QObject
    from another thread while its queued signals are being delivered crashes the process.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        with_progress: bool = False,
        parent: QObject | None = None,
    ) -> None:
        super().__init__()
        self.fn = fn
        self.args = args
        self.with_progress = with_progress
        self.signals = WorkerSignals(parent)

    def run(self) -> None:
        """Run the function and emit its outcome."""
        self.signals.started.emit()
        try:
            kwargs = {"progress": self.signals.progress.emit} if self.with_progress else {}
            result = self.fn(*self.args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - reported, never lost in a thread
            self.signals.error.emit(describe_error(exc))
        else:
            self.signals.result.emit(result)
        finally:
            self.signals.finished.emit(self)


class WorkerPool(QObject):
    """A private thread pool for short jobs (listing, search, discovery)."""

    def __init__(
        self, notifier: ErrorNotifier, max_threads: int = 2, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self.notifier = notifier
        self.pool = QThreadPool()
        self.pool.setMaxThreadCount(max_threads)
        self._live: set[FunctionWorker] = set()
        self._closed = False
        _registry.add(self)

    def submit(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[UserMessage], None] | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> FunctionWorker | None:
        """Run ``fn(*args)`` off the GUI thread; errors go to ``on_error`` or the notifier."""
        if self._closed:
            return None
        worker = FunctionWorker(fn, *args, with_progress=on_progress is not None, parent=self)
        worker.setAutoDelete(False)  # the pool keeps it until finished is delivered
        if on_result is not None:
            worker.signals.result.connect(on_result)
        worker.signals.error.connect(on_error or self.notifier.notify)
        if on_progress is not None:
            worker.signals.progress.connect(on_progress)
        worker.signals.finished.connect(self._retire)
        self._live.add(worker)
        self.pool.start(worker)
        return worker

    def _retire(self, worker: FunctionWorker) -> None:
        # On the GUI thread, after the worker's last signal: its signals object goes with
        # deleteLater, here, and the runnable itself may be freed on any thread.
        self._live.discard(worker)
        worker.signals.deleteLater()

    @property
    def busy(self) -> bool:
        """Whether any submitted function has not finished yet."""
        return bool(self._live) or self.pool.activeThreadCount() > 0

    def shutdown(self) -> None:
        """Drop queued work, wait for running work and join the pool's threads."""
        self._closed = True
        self.pool.clear()
        self.pool.waitForDone()  # also removes (joins) the pool's threads
        self._live.clear()

    def describe(self) -> str:
        """What this is, for leak reports."""
        return f"WorkerPool({self.pool.activeThreadCount()} active)"

    def is_joined(self) -> bool:
        """Whether everything it started has been joined."""
        return self._closed and self.pool.activeThreadCount() == 0


class _UpdateReader(QThread):
    """Reads one engine process's queue and emits each update on the GUI thread."""

    update = Signal(object)  # IngestUpdate / AskUpdate
    ended = Signal(object)  # exit code of a process that died on its own

    def __init__(self, process: EngineProcess) -> None:
        super().__init__()
        self.process = process
        self._stop = threading.Event()

    def run(self) -> None:
        while not self._stop.is_set():
            update = self.process.get(0.1)
            if update is not None:
                self.update.emit(update)
                continue
            if not self.process.alive:
                while (update := self.process.get(0.05)) is not None:
                    self.update.emit(update)
                if not self._stop.is_set():
                    self.ended.emit(self.process.exitcode)
                return

    def stop(self) -> None:
        """Stop reading and join the thread."""
        self._stop.set()
        self.wait()


class ProcessRunner(QObject):
    """Runs jobs one at a time in a spawned process that keeps its models loaded.

    ``update`` carries every update of the running job, which always ends with ``finished``.
    If the process dies on its own, the running job gets an ``error`` and a ``finished``
    update. Cancelling kills the process; the next job starts a new one.
    """

    update = Signal(object)
    what = "engine"

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: EngineProcess | None = None
        self._reader: _UpdateReader | None = None
        self.current: str | None = None  # the job running now
        self._closed = False
        _registry.add(self)

    def _start_process(self) -> EngineProcess:
        raise NotImplementedError

    def _make_update(self, job_id: str, kind: str, message: str = "", fix: str = "") -> Any:
        raise NotImplementedError

    @property
    def busy(self) -> bool:
        """Whether a job is running."""
        return self.current is not None

    @property
    def process_pid(self) -> int | None:
        """The process's pid, while there is one."""
        return self._process.process.pid if self._process and self._process.alive else None

    def _run(self, job_id: str, task: EngineTask) -> None:
        if self._closed:
            return
        if self.current is not None:
            raise RuntimeError(f"{type(self).__name__} runs one job at a time")
        if self._process is None or not self._process.alive:
            self._discard_process()
            self._process = self._start_process()
            self._reader = _UpdateReader(self._process)
            self._reader.update.connect(self._on_update)
            self._reader.ended.connect(self._on_ended)
            self._reader.start()
        self.current = job_id
        self._process.submit(task)

    def cancel(self) -> str | None:
        """Terminate the running job's process; return the job's id."""
        job = self.current
        self._discard_process()
        self.current = None
        return job

    def shutdown(self) -> None:
        """Stop the process (killing it if a job is running) and join the reader thread."""
        self._closed = True
        if self.current is None and self._process is not None:
            if self._reader is not None:
                self._reader.stop()
            self._process.stop(timeout=3)
        self._discard_process()
        self.current = None

    def _discard_process(self) -> None:
        if self._reader is not None:
            self._reader.stop()
            self._reader.update.disconnect(self._on_update)
            self._reader.ended.disconnect(self._on_ended)
            self._reader.deleteLater()
            self._reader = None
        if self._process is not None:
            self._process.terminate()
            self._process = None

    def _on_update(self, update: Any) -> None:
        if update.job_id != self.current:
            return  # a late message of a cancelled job
        if update.kind == "finished":
            self.current = None
        self.update.emit(update)

    def _on_ended(self, exitcode: int | None) -> None:
        job = self.current
        self._discard_process()
        self.current = None
        if job is not None:
            self.update.emit(
                self._make_update(
                    job,
                    "error",
                    message=f"The {self.what} process stopped unexpectedly (exit code {exitcode}).",
                    fix=self.crash_fix,
                )
            )
            self.update.emit(self._make_update(job, "finished"))

    crash_fix = "Try again."

    def describe(self) -> str:
        """What this is, for leak reports."""
        return f"{type(self).__name__}(process={self.process_pid}, job={self.current})"

    def is_joined(self) -> bool:
        """Whether everything it started has been joined."""
        return self._process is None and self._reader is None


class IngestRunner(ProcessRunner):
    """Runs ingest jobs (``update`` carries :class:`IngestUpdate`)."""

    what = "ingest"
    crash_fix = "Retry the job; if it happens again, the file may crash the decoder."

    def __init__(self, service: IngestService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service

    def _start_process(self) -> EngineProcess:
        return self.service.start_process()

    def _make_update(self, job_id: str, kind: str, message: str = "", fix: str = "") -> Any:
        return IngestUpdate(job_id, kind, message=message, fix=fix or None)

    def submit(self, job_id: str, path: Path, model: str = "") -> None:
        """Start ingesting a file (the runner must be idle); ``model`` overrides Settings'."""
        self._run(job_id, self.service.task(job_id, path, model))

    def submit_annotation(self, job_id: str, item_id: int) -> None:
        """Start tagging a library item (the runner must be idle)."""
        self._run(job_id, self.service.annotate_task(job_id, item_id))


class AskRunner(ProcessRunner):
    """Answers one question at a time (``update`` carries :class:`AskUpdate`)."""

    what = "answer"
    crash_fix = "Ask again; if it keeps failing, pick another language model in Settings."

    def __init__(self, service: AskService, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self._count = 0

    def _start_process(self) -> EngineProcess:
        return self.service.start_process()

    def _make_update(self, job_id: str, kind: str, message: str = "", fix: str = "") -> Any:
        return AskUpdate(job_id, kind, message=message, fix=fix or None)

    def ask(self, question: str | None, k: int | None = None) -> str:
        """Start answering ``question`` (None warms the model up); returns the job id."""
        self._count += 1
        job_id = f"{'ask' if question is not None else 'warm'}-{self._count}"
        self._run(job_id, self.service.task(job_id, question, k))
        return job_id
