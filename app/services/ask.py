"""Answers with citations, in a spawned engine process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.services.process import EngineProcess, serve
from app.services.records import Answer, AskTask, AskUpdate, Citation

if TYPE_CHECKING:
    from app.services.settings import SettingsService


def _citation(c: Any) -> Citation:
    return Citation(c.media_id, c.title, c.start, c.end, c.quote, c.label)


def _answer(a: Any) -> Answer:
    return Answer(
        question=a.question,
        text=a.answer,
        citations=tuple(_citation(c) for c in a.citations),
        refused=a.refused,
        closest=tuple(_citation(c) for c in a.closest),
        mode=a.mode,
        ttft_ms=a.timings.ttft_ms,
        total_ms=a.timings.total_ms,
        cached=a.timings.cached,
    )


def ask_process_main(library_dir: str, tasks: Any, updates: Any) -> None:
    """Entry point of the ask process: answer questions from ``tasks`` until ``None`` arrives.

    Each task is an :class:`AskTask`; a task whose question is None only
    loads the model and evaluates the fixed prompt prefix (a warm-up). The model, the search
    index and the answer cache stay loaded between questions; killing the process is how a
    question is cancelled.
    """
    from core.answer import Answer as CoreAnswer
    from core.answer import Answerer, Sources, Token
    from core.store import Library

    libraries: list[Library] = []
    answerers: dict[str, Answerer] = {}

    def run(task: AskTask) -> Iterator[AskUpdate]:
        job_id, question, k, llm = task.job_id, task.question, task.k, task.llm_path
        if not libraries:
            libraries.append(Library(library_dir))
        if llm not in answerers:
            answerers[llm] = Answerer(libraries[0], llm=llm or None)
        answerer = answerers[llm]
        if question is None:
            answerer.warm()
            return
        for ev in answerer.ask(question, k=k):
            if isinstance(ev, Sources):
                yield AskUpdate(job_id, "sources", citations=tuple(map(_citation, ev.passages)))
            elif isinstance(ev, Token):
                yield AskUpdate(job_id, "token", text=ev.text)
            elif isinstance(ev, CoreAnswer):
                yield AskUpdate(job_id, "answer", answer=_answer(ev))

    serve(tasks, updates, run, AskUpdate)
    for library in libraries:
        library.close()


class AskService:
    """Starts the ask process for one library; the LLM comes from Settings."""

    def __init__(self, directory: Path, settings: SettingsService | None = None) -> None:
        """Bind to a library; ``settings`` supplies the GGUF file (default SmolLM2)."""
        self.directory = Path(directory).expanduser()
        self.settings = settings

    def start_process(self) -> EngineProcess:
        """A new spawned ask process for this library."""
        return EngineProcess(ask_process_main, (str(self.directory),), "mediamind-ask")

    def task(self, job_id: str, question: str | None, k: int | None = None) -> AskTask:
        """The task message for one question (None: just warm the model up)."""
        llm = self.settings.llm_path if self.settings else None
        return AskTask(job_id, question, k, str(llm) if llm else "")
