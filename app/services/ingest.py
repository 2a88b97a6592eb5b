"""Ingest and tagging, in a spawned engine process."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.services.process import EngineProcess, serve
from app.services.records import AnnotateTask, IngestSettings, IngestTask, IngestUpdate

if TYPE_CHECKING:
    from app.services.settings import SettingsService


def _annotate(annotator: Any, job_id: str, item_id: int) -> Iterator[IngestUpdate]:
    """Tag one item, as :class:`IngestUpdate` messages (``skipped`` when already up to date)."""
    from core.annotate import annotate

    for ev in annotate(annotator.library, [item_id], annotator=annotator):
        if ev.kind in ("started", "progress", "done", "skipped", "failed"):
            message = ev.message if ev.kind == "failed" else ""
            if ev.kind == "done":
                message = f"Tagged in {ev.seconds:.1f} s"
            yield IngestUpdate(job_id, ev.kind, ev.fraction, ev.media_id, message)


def ingest_process_main(library_dir: str, tasks: Any, updates: Any) -> None:
    """Entry point of the ingest process: run jobs from ``tasks`` until ``None`` arrives.

    Each task is an :class:`IngestTask` or an :class:`AnnotateTask`; every engine event goes
    back on ``updates`` as an :class:`IngestUpdate`, then a ``finished`` one. Models stay
    loaded between jobs. Killing the process at any moment is safe: the engine writes in
    transactions and redoes an interrupted item next time.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.nice(10)  # background work: the desktop and the GUI come first
    from core.ingest import IngestOptions, ingest
    from core.store import Library

    libraries: list[Library] = []
    annotators: dict[str, Any] = {}  # by LLM path: models load once per process

    def run(task: IngestTask | AnnotateTask) -> Iterator[IngestUpdate]:
        if not libraries:
            libraries.append(Library(library_dir))
        if isinstance(task, AnnotateTask):
            from core.annotate import Annotator

            if task.llm_path not in annotators:
                annotators[task.llm_path] = Annotator(libraries[0], llm=task.llm_path or None)
            yield from _annotate(annotators[task.llm_path], task.job_id, task.item_id)
            return
        options = IngestOptions(
            model=task.settings.model,
            threads=task.settings.threads,
            prefer_subtitles=task.settings.prefer_subtitles,
            multilingual_model=task.settings.multilingual_model,
        )
        for ev in ingest(libraries[0], [Path(task.path)], options):
            yield IngestUpdate(
                task.job_id, ev.kind, ev.fraction, ev.item_id, ev.message, duration=ev.duration
            )

    serve(tasks, updates, run, IngestUpdate)
    for library in libraries:
        library.close()


class IngestService:
    """Starts ingest processes for one library with the current settings."""

    def __init__(self, directory: Path, settings: SettingsService | None = None) -> None:
        """Bind to a library; ``settings`` supplies model and threads for each job."""
        self.directory = Path(directory).expanduser()
        self.settings = settings

    def current_settings(self) -> IngestSettings:
        """The settings a job submitted now runs with."""
        return self.settings.ingest if self.settings else IngestSettings()

    def start_process(self) -> EngineProcess:
        """A new spawned ingest process for this library."""
        return EngineProcess(ingest_process_main, (str(self.directory),), "mediamind-ingest")

    def task(self, job_id: str, path: Path, model: str = "") -> IngestTask:
        """The task message for one ingest job, with the settings it runs with now.

        ``model`` (a Whisper model name or folder) overrides the one chosen in Settings: an
        item whose transcript another model made is transcribed again with it.
        """
        settings = self.current_settings()
        if model:
            settings = replace(settings, model=model)
        return IngestTask(job_id, str(path), settings)

    def annotate_task(self, job_id: str, item_id: int) -> AnnotateTask:
        """The task message for tagging one item with the LLM chosen in Settings."""
        llm = self.settings.llm_path if self.settings else None
        return AnnotateTask(job_id, item_id, str(llm) if llm else "")
