"""Engine processes: the spawned process that runs ingest or answers, and its task loop."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import multiprocessing
import os
import queue
import signal
import sys
from typing import Any

from app.services.records import EngineTask, describe_error
from core.errors import MediaMindError


def serve(tasks: Any, updates: Any, run: Any, update: Any) -> None:
    """The loop of an engine process: run each task from ``tasks`` until ``None`` arrives.

    ``run(task)`` yields the updates of one task (an :data:`EngineTask`); an
    ``error`` update reports an exception, and a ``finished`` update always ends the task.
    ``update`` is the update dataclass, built as ``update(job_id, kind, message=, fix=)``.
    """
    while (task := tasks.get()) is not None:
        job_id = task.job_id
        try:
            for item in run(task):
                updates.put(item)
        except MediaMindError as exc:
            updates.put(update(job_id, "error", message=exc.message, fix=exc.fix))
        except Exception as exc:  # noqa: BLE001 - an engine bug must not stop the queue
            msg = describe_error(exc)
            updates.put(update(job_id, "error", message=msg.message, fix=msg.fix))
        updates.put(update(job_id, "finished"))
    updates.close()
    updates.join_thread()


PR_SET_PDEATHSIG = 1


def end_with_parent() -> None:
    """In an engine process: be sent SIGTERM when the app's process dies (Linux).

    The app ends its engine processes on a clean exit and on SIGTERM; this covers the app
    being killed outright (SIGKILL, a crash), which would otherwise leave Whisper or llama.cpp
    running with nobody to read their results.
    """
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _engine_main(target: Any, *args: Any) -> None:
    end_with_parent()
    target(*args)


class EngineProcess:
    """One spawned engine process (never forked: Qt and threads do not survive a fork).

    The process runs ``target(*args, tasks, updates)``: it takes tasks from ``tasks`` until
    ``None`` arrives and puts updates on ``updates``. Killing it is how native work (Whisper,
    llama.cpp) is cancelled. Not thread-safe: the owner submits and terminates from one
    thread, and one reader thread calls :meth:`get`.
    """

    def __init__(self, target: Any, args: tuple[Any, ...], name: str) -> None:
        """Start the process; it loads models only when its first task needs them."""
        ctx = multiprocessing.get_context("spawn")
        self._tasks = ctx.SimpleQueue()  # no feeder thread in this process
        self._updates = ctx.Queue()
        self.process = ctx.Process(
            target=_engine_main,
            args=(target, *args, self._tasks, self._updates),
            name=name,
            daemon=True,
        )
        self._released = False
        self.process.start()

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return not self._released and self.process.is_alive()

    def submit(self, task: EngineTask) -> None:
        """Queue a task in the process."""
        self._tasks.put(task)

    def get(self, timeout: float) -> Any:
        """The next update, or ``None`` if none came within ``timeout`` seconds."""
        try:
            return self._updates.get(timeout=timeout)
        except (queue.Empty, EOFError, OSError):
            return None

    def terminate(self) -> None:
        """Kill the process now and reap it (idempotent)."""
        if self._released:
            return
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._release()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the process to finish after its current task; kill it after ``timeout``."""
        if not self._released and self.process.is_alive():
            with contextlib.suppress(OSError):
                self._tasks.put(None)
            self.process.join(timeout)
        self.terminate()

    def _release(self) -> None:
        self._released = True
        self._updates.close()
        self._updates.cancel_join_thread()
        self._tasks.close()
        self.process.close()

    @property
    def exitcode(self) -> int | None:
        """The exit code once the process has ended."""
        return None if self._released else self.process.exitcode
