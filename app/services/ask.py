"""Answers with citations, in a spawned engine process."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.services.connection import LazyLibrary, no_attachment
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
        if question is not None and not libraries[0].db.scalar("SELECT 1 FROM chunks LIMIT 1"):
            # An empty library is a state to show (with a way to add media), not an error.
            yield AskUpdate(job_id, "answer", answer=Answer(question, EMPTY_LIBRARY, refused=True))
            return
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


EMPTY_LIBRARY = (
    "Your library has nothing to answer from yet. Add recordings; once they are transcribed, "
    "ask again."
)
# The library_meta key of the question history, and how many questions it keeps.
HISTORY_KEY = "ask_history"
HISTORY_SIZE = 20


def _answer_to_json(answer: Answer) -> dict[str, Any]:
    return asdict(answer)


def _answer_from_json(data: dict[str, Any]) -> Answer:
    fields = dict(data)
    for key in ("citations", "closest"):
        fields[key] = tuple(Citation(**c) for c in fields.get(key) or ())
    return Answer(**fields)


class AskService:
    """Starts the ask process for one library; the LLM comes from Settings.

    The last questions and their answers are kept in the library itself (``library_meta``),
    so each library has its own history; :meth:`history` and :meth:`remember` touch the
    database: call them from a worker.
    """

    def __init__(self, directory: Path, settings: SettingsService | None = None) -> None:
        """Bind to a library; ``settings`` supplies the GGUF file (default SmolLM2)."""
        self.directory = Path(directory).expanduser()
        self.settings = settings
        self._connection: LazyLibrary[None] = LazyLibrary(self.directory, no_attachment)

    def history(self) -> list[Answer]:
        """The last questions asked of this library, newest first, with their answers."""
        with self._connection.lock:
            lib = self._connection.open()[0]
            raw = lib.db.scalar("SELECT value FROM library_meta WHERE key=?", (HISTORY_KEY,))
        if not raw:
            return []
        try:
            return [_answer_from_json(a) for a in json.loads(raw)]
        except (ValueError, TypeError, KeyError):  # written by another version: start afresh
            return []

    def remember(self, answer: Answer) -> list[Answer]:
        """Put ``answer`` first in the history (once per question); return the history."""
        with self._connection.lock:
            lib = self._connection.open()[0]
            with lib.db.atomic():
                raw = lib.db.scalar("SELECT value FROM library_meta WHERE key=?", (HISTORY_KEY,))
                try:
                    kept = [_answer_from_json(a) for a in json.loads(raw)] if raw else []
                except (ValueError, TypeError, KeyError):
                    kept = []
                key = answer.question.strip().lower()
                kept = [answer] + [a for a in kept if a.question.strip().lower() != key]
                kept = kept[:HISTORY_SIZE]
                lib.db.execute(
                    "INSERT OR REPLACE INTO library_meta (key, value) VALUES (?, ?)",
                    (HISTORY_KEY, json.dumps([_answer_to_json(a) for a in kept])),
                )
        return kept

    def close(self) -> None:
        """Close the history's connection."""
        self._connection.close()

    def start_process(self) -> EngineProcess:
        """A new spawned ask process for this library."""
        return EngineProcess(ask_process_main, (str(self.directory),), "mediamind-ask")

    def task(self, job_id: str, question: str | None, k: int | None = None) -> AskTask:
        """The task message for one question (None: just warm the model up)."""
        llm = self.settings.llm_path if self.settings else None
        return AskTask(job_id, question, k, str(llm) if llm else "")
