"""The app's service layer: the only module of ``app`` that calls ``core``.

Widgets receive these services in their constructors and see only the small typed records
defined here (:class:`LibraryItem`, :class:`SearchHit`, :class:`TranscriptLine`, ...), never a
``core`` object. Heavy ``core`` modules (search, ingest, models) are imported lazily, inside the
methods that need them, so that starting the app loads no model and little code.

Nothing here touches Qt widgets; :class:`SettingsService` uses ``QSettings`` only.
"""

from __future__ import annotations

import contextlib
import html
import logging
import multiprocessing
import os
import queue
import re
import threading
import traceback
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import MediaMindError

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings

    from core.library import Library, MediaItem
    from core.search import Searcher

log = logging.getLogger(__name__)

EXPORT_FORMATS = ("srt", "vtt", "txt")
WHISPER_MODELS = ("auto", "tiny.en", "base")
KINDS = ("audio", "video", "subtitle", "transcript")
PRIVACY_STATEMENT = (
    "Nothing leaves this machine. Transcription, search and every model run locally on your "
    "CPU; MediaMind opens no network connection, sends no telemetry and keeps your library in "
    "one folder you choose."
)


# -- records the widgets see ------------------------------------------------------------------


@dataclass(frozen=True)
class UserMessage:
    """An error as the user reads it: what went wrong and how to fix it."""

    message: str
    fix: str | None = None
    details: str | None = None

    def text(self) -> str:
        """The message and its fix on one line."""
        return f"{self.message} {self.fix}" if self.fix else self.message


def describe_error(exc: BaseException) -> UserMessage:
    """Turn any exception into a :class:`UserMessage` (engine errors keep their fix)."""
    if isinstance(exc, MediaMindError):
        return UserMessage(exc.message, exc.fix)
    if isinstance(exc, OSError):
        return UserMessage(f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))
    return UserMessage(
        f"Unexpected error: {type(exc).__name__}: {exc}",
        "Please report it with the details.",
        "".join(traceback.format_exception(exc)),
    )


def format_time(seconds: float | None) -> str:
    """``m:ss`` below an hour, ``h:mm:ss`` above; ``-`` for unknown."""
    if seconds is None:
        return "-"
    from core.transcript import format_timestamp

    return format_timestamp(seconds)


def marked_to_html(marked: str) -> str:
    """Turn search text with ``**term**`` markers into HTML with ``<b>term</b>``."""
    escaped = html.escape(marked, quote=False)
    return re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", escaped)


@dataclass(frozen=True)
class LibraryItem:
    """One row of the library table."""

    id: int
    title: str
    kind: str
    duration: float | None
    status: str
    language: str | None
    path: str
    error: str | None
    added_at: str
    topics: tuple[str, ...] = ()
    mood: str | None = None
    rating: str | None = None

    @property
    def playable(self) -> bool:
        """Whether there is a media file to play (subtitle and transcript items have none)."""
        return self.kind in ("audio", "video")

    @classmethod
    def from_core(cls, item: MediaItem, facets: Any = None) -> LibraryItem:
        """Copy the fields the app shows from a ``core`` item and its annotation facets."""
        return cls(
            item.id,
            item.title,
            item.kind,
            item.duration,
            item.status,
            item.language,
            item.path,
            item.error,
            item.added_at,
            tuple(facets.topics) if facets else (),
            facets.mood if facets else None,
            facets.rating if facets else None,
        )


@dataclass(frozen=True)
class TranscriptLine:
    """One transcript segment."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class SearchHit:
    """One search result."""

    media_id: int
    title: str
    kind: str
    start: float
    end: float
    text: str
    html: str  # text with query terms in <b>
    score: float

    @property
    def timestamp(self) -> str:
        """The start as ``m:ss``."""
        return format_time(self.start)


# -- answers and recommendations -------------------------------------------------------------


@dataclass(frozen=True)
class Citation:
    """A cited moment of an answer: opens the player at ``start``.

    Attributes:
        media_id: The item.
        title: Its title.
        start: Start of the cited chunk, seconds.
        end: Its end, seconds.
        text: The quote that supports the answer (or the passage text, for sources).
        label: The marker used in the answer text, e.g. ``S1``.
    """

    media_id: int
    title: str
    start: float
    end: float
    text: str
    label: str = ""

    @property
    def timestamp(self) -> str:
        """The start as ``m:ss``."""
        return format_time(self.start)


@dataclass(frozen=True)
class Answer:
    """A finished, verified answer.

    Attributes:
        question: As asked.
        text: The answer with inline markers like ``[S1]`` (each is a citation's label).
        citations: Every cited moment, in order of first mention.
        refused: The library holds nothing relevant; ``closest`` lists the nearest items.
        closest: For a refusal, the closest moments found.
        mode: ``generated``, ``extractive`` or ``refused``.
        ttft_ms: Time to the first token (0 when no model ran).
        total_ms: Time to the answer.
        cached: Whether it came from the answer cache.
    """

    question: str
    text: str
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    closest: tuple[Citation, ...] = ()
    mode: str = "generated"
    ttft_ms: float = 0.0
    total_ms: float = 0.0
    cached: bool = False


@dataclass(frozen=True)
class HomeCard:
    """One tile of a home row.

    Attributes:
        media_id: The item.
        title: Its title.
        kind: ``audio``, ``video``, ``subtitle`` or ``transcript``.
        duration: Seconds, when known.
        progress: Share already played, 0..1.
        reason: Why it is offered.
        path: The media file (for the thumbnail).
    """

    media_id: int
    title: str
    kind: str
    duration: float | None
    progress: float
    reason: str
    path: str


@dataclass(frozen=True)
class Shelf:
    """A row of the home screen, e.g. "Continue" or "Quick picks: Sports"."""

    title: str
    intent: str
    items: tuple[HomeCard, ...]


# -- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IngestSettings:
    """The choices an ingest job runs with (mirrors ``core.ingest.IngestOptions``)."""

    model: str = "auto"  # tiny.en for English, base for other languages (core/language.py)
    threads: int | None = None
    prefer_subtitles: bool = False


class SettingsService:
    """Typed access to the persisted preferences (a ``QSettings`` store)."""

    def __init__(self, store: QSettings) -> None:
        """Wrap ``store``; tests pass an INI file in a temporary directory."""
        self.store = store

    def _get(self, key: str, default: Any) -> Any:
        value = self.store.value(key, default)
        return default if value is None else value

    @property
    def library_dir(self) -> Path | None:
        """The library chosen in Settings, if any."""
        raw = str(self._get("library/dir", ""))
        return Path(raw) if raw else None

    @library_dir.setter
    def library_dir(self, value: Path | None) -> None:
        self.store.setValue("library/dir", str(value) if value else "")

    @property
    def dark(self) -> bool:
        """Whether the dark palette is on."""
        return str(self._get("ui/dark", "false")).lower() in ("true", "1")

    @dark.setter
    def dark(self, value: bool) -> None:
        self.store.setValue("ui/dark", "true" if value else "false")

    @property
    def ingest(self) -> IngestSettings:
        """Model, threads and subtitle preference for new ingest jobs."""
        threads = int(self._get("ingest/threads", 0) or 0)
        return IngestSettings(
            model=str(self._get("ingest/model", "auto")) or "auto",
            threads=threads or None,
            prefer_subtitles=str(self._get("ingest/prefer_subtitles", "false")).lower()
            in ("true", "1"),
        )

    @ingest.setter
    def ingest(self, value: IngestSettings) -> None:
        self.store.setValue("ingest/model", value.model)
        self.store.setValue("ingest/threads", value.threads or 0)
        self.store.setValue(
            "ingest/prefer_subtitles", "true" if value.prefer_subtitles else "false"
        )

    @property
    def llm_path(self) -> Path | None:
        """The GGUF file Ask uses; None means the default (``$MEDIAMIND_LLM`` or SmolLM2)."""
        raw = str(self._get("ask/llm", ""))
        return Path(raw) if raw else None

    @llm_path.setter
    def llm_path(self, value: Path | None) -> None:
        self.store.setValue("ask/llm", str(value) if value else "")

    @property
    def watched_folders(self) -> list[str]:
        """Folders ingested incrementally whenever their content changes."""
        raw = self._get("library/watched", [])
        if isinstance(raw, str):
            raw = [raw] if raw else []
        return [str(p) for p in raw]

    @watched_folders.setter
    def watched_folders(self, folders: Sequence[str]) -> None:
        self.store.setValue("library/watched", list(folders))

    def sync(self) -> None:
        """Write pending changes to disk."""
        self.store.sync()


def vocabularies() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The fixed topic, mood and safety-rating labels (for facet menus)."""
    from core.taxonomy import MOODS, RATINGS, TOPICS

    return TOPICS, MOODS, RATINGS


def preload_engine_modules() -> None:
    """Import the engine modules that workers use, here on the GUI thread.

    Two threads importing modules at once under PySide6's import hook can crash the process
    (seen as a segfault while a worker imported ``core.recommend`` during playback). Importing
    them once up front costs ~50 ms and loads no model: onnxruntime, faster-whisper,
    tokenizers and llama.cpp stay unloaded until a model is needed.
    """
    import numpy  # noqa: F401

    import core.annotate.store
    import core.library
    import core.media
    import core.recommend.events
    import core.recommend.home
    import core.registry
    import core.search
    import core.transcript  # noqa: F401


def default_library_dir() -> Path:
    """``$MEDIAMIND_LIBRARY`` or the user data directory's library."""
    from core.paths import default_library_dir as core_default

    return core_default()


def physical_cores() -> int:
    """The number of physical CPU cores (what 'auto' threads means)."""
    from core.transcribe import physical_cores as cores

    return cores()


def model_overview() -> list[tuple[str, str, bool]]:
    """(name, task, installed) of every registered model; cheap after the first check."""
    from core.registry import model_statuses

    return [(s.name, s.task, s.installed) for s in model_statuses()]


def install_model(source: Path, model: str | None) -> tuple[str, Path]:
    """Check a model picked in Settings and copy it into the model directory (seconds).

    Args:
        source: The file or folder the user picked.
        model: A registered model's name (``base``), or ``None`` for a GGUF of the user's own.

    Returns:
        A one-line result for the page, and where the model now is.
    """
    from core.registry import get_spec, install_model_from

    result = install_model_from(source, get_spec(model) if model else None)
    check = "checksum verified" if result.verified else "GGUF signature checked"
    return f"{result.name} added ({result.size / 1e6:.0f} MB, {check}).", result.path


# -- library ------------------------------------------------------------------------------------


class LibraryService:
    """Listing, transcripts and export for one library directory.

    The database is opened on first use (so it can happen in a worker). Calls are serialised
    by the library's own lock; the ingest process and the search worker use their own
    connections (SQLite WAL lets them read while ingest writes).
    """

    def __init__(self, directory: Path) -> None:
        """Bind to ``directory``; nothing is opened yet."""
        self.directory = Path(directory).expanduser()
        self._library: Library | None = None
        self._lock = threading.Lock()

    @property
    def jobs_file(self) -> Path:
        """Where the job queue is persisted."""
        return self.directory / "jobs.json"

    def library(self) -> Library:
        """The open library (opened, created and migrated on first call).

        Raises:
            LibraryError: The directory or database cannot be used.
        """
        with self._lock:
            if self._library is None:
                from core.library import Library

                self._library = Library(self.directory)
            return self._library

    def items(self) -> list[LibraryItem]:
        """Every item, oldest first, with its topics, mood and rating once annotated."""
        from core.annotate.store import library_facets

        lib = self.library()
        facets = library_facets(lib)
        items = []
        for i in lib.items():
            status, error = lib.shown_status(i)  # 'interrupted' when its ingest died
            items.append(
                LibraryItem.from_core(replace(i, status=status, error=error), facets.get(i.id))
            )
        return items

    def item(self, item_id: int) -> LibraryItem:
        """One item.

        Raises:
            NotFoundError: There is no such item.
        """
        return LibraryItem.from_core(self.library().get_item(item_id))

    def transcript(self, item_id: int) -> list[TranscriptLine]:
        """An item's transcript segments."""
        return [TranscriptLine(s.start, s.end, s.text) for s in self.library().segments(item_id)]

    def export(self, item_id: int, fmt: str) -> str:
        """An item's transcript as SRT, WebVTT or plain text."""
        from core.transcript import to_srt, to_txt, to_vtt

        render = {"srt": to_srt, "vtt": to_vtt, "txt": to_txt}[fmt]
        return render(self.library().segments(item_id))

    def export_to(self, item_id: int, fmt: str, target: Path) -> None:
        """Write an export to ``target`` (atomically)."""
        text = self.export(item_id, fmt)
        tmp = target.with_name(target.name + ".part")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)

    def mark_interrupted(self, item_id: int, reason: str) -> None:
        """Record that an ingest was cancelled, so the item does not stay 'ingesting'."""
        lib = self.library()
        item = lib.get_item(item_id)
        if item.status == "ingesting":
            lib.mark_failed(item_id, reason)

    def discover(self, paths: Iterable[Path]) -> list[Path]:
        """Expand files and folders into the files ingest would take (folders recursively)."""
        from core.ingest import discover

        files, missing = discover(paths)
        return files + [m.path for m in missing]

    def changed_files(self, paths: Iterable[Path]) -> list[Path]:
        """Like :meth:`discover`, without files stored unchanged (same size and mtime)."""
        lib = self.library()
        out = []
        for path in self.discover(paths):
            item = lib.item_by_path(str(path))
            try:
                st = path.stat()
            except OSError:
                continue
            if (
                item
                and item.status == "ready"
                and (item.size, item.mtime)
                == (
                    st.st_size,
                    st.st_mtime,
                )
            ):
                continue
            out.append(path)
        return out

    @staticmethod
    def is_ingestible(path: Path) -> bool:
        """Whether a file's extension is one that ingest reads."""
        from core.media import MEDIA_EXTENSIONS, SUBTITLE_EXTENSIONS

        return path.suffix.lower() in (MEDIA_EXTENSIONS | SUBTITLE_EXTENSIONS)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            if self._library is not None:
                self._library.close()
                self._library = None


# -- search -------------------------------------------------------------------------------------


class SearchService:
    """Hybrid search; the first query loads the embedding model (call it from a worker)."""

    def __init__(self, directory: Path) -> None:
        """Bind to a library directory; the searcher gets its own connection on first use."""
        self.directory = Path(directory).expanduser()
        self._searcher: Searcher | None = None
        self._library: Library | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the searcher (and so the model) exists yet."""
        return self._searcher is not None

    def search(
        self,
        query: str,
        kind: str | None = None,
        k: int = 20,
        *,
        topic: str | None = None,
        mood: str | None = None,
        max_rating: str | None = None,
    ) -> list[SearchHit]:
        """The best ``k`` moments for ``query``, with optional facets.

        Args:
            query: What to look for.
            kind: Only this kind of media.
            k: How many moments.
            topic: Only items tagged with this topic.
            mood: Only items with this mood.
            max_rating: Only items rated at most this (unrated items are left out).
        """
        from core.search import Searcher, SearchFilters

        with self._lock:
            if self._searcher is None:
                from core.library import Library

                self._library = Library(self.directory)
                self._searcher = Searcher(self._library)
            filters = SearchFilters(
                kinds=(kind,) if kind else (),
                topics=(topic,) if topic else (),
                moods=(mood,) if mood else (),
                max_rating=max_rating,
            )
            results = self._searcher.search(query, k=k, filters=filters)
        return [
            SearchHit(
                r.media_id,
                r.title,
                r.kind,
                r.start,
                r.end,
                r.text,
                marked_to_html(r.marked),
                r.score,
            )
            for r in results
        ]

    def close(self) -> None:
        """Close the searcher's connection."""
        with self._lock:
            if self._library is not None:
                self._library.close()
            self._library = self._searcher = None


# -- ingest in a spawned process ----------------------------------------------------------------


@dataclass(frozen=True)
class IngestUpdate:
    """A message from the ingest process about one job.

    Attributes:
        job_id: The job the message is about.
        kind: ``started``, ``progress``, ``done``, ``skipped`` or ``failed`` (from the
            engine's events), ``finished`` (the job's run is over) or ``error`` (the run
            stopped with an engine error, e.g. a missing model).
        fraction: Share of the file transcribed, 0..1.
        item_id: The library item, once one exists.
        message: Why it failed or was skipped, or the language of a done item.
        fix: How to fix an ``error``.
    """

    job_id: str
    kind: str
    fraction: float = 0.0
    item_id: int | None = None
    message: str = ""
    fix: str | None = None


def _serve(tasks: Any, updates: Any, run: Any, update: Any) -> None:
    """The loop of an engine process: run each task from ``tasks`` until ``None`` arrives.

    ``run(task)`` yields the updates of one task (whose first field is its job id); an
    ``error`` update reports an exception, and a ``finished`` update always ends the task.
    ``update`` is the update dataclass, built as ``update(job_id, kind, message=, fix=)``.
    """
    while (task := tasks.get()) is not None:
        job_id = task[0]
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

    Each task is ``(job_id, "ingest", path, IngestSettings)`` or ``(job_id, "annotate",
    item_id, llm_path)``; every engine event goes back on ``updates`` as an
    :class:`IngestUpdate`, then a ``finished`` one. Models stay loaded between jobs. Killing
    the process at any moment is safe: the engine writes in transactions and redoes an
    interrupted item next time.
    """
    with contextlib.suppress(AttributeError, OSError):
        os.nice(10)  # background work: the desktop and the GUI come first
    from core.ingest import IngestOptions, ingest
    from core.library import Library

    libraries: list[Library] = []
    annotators: dict[str, Any] = {}  # by LLM path: models load once per process

    def run(task: tuple[str, str, Any, Any]) -> Iterator[IngestUpdate]:
        job_id, kind, target, settings = task
        if not libraries:
            libraries.append(Library(library_dir))
        if kind == "annotate":
            from core.annotate import Annotator

            if settings not in annotators:
                annotators[settings] = Annotator(libraries[0], llm=settings or None)
            yield from _annotate(annotators[settings], job_id, int(target))
            return
        path = target
        options = IngestOptions(
            model=settings.model,
            threads=settings.threads,
            prefer_subtitles=settings.prefer_subtitles,
        )
        for ev in ingest(libraries[0], [Path(path)], options):
            yield IngestUpdate(job_id, ev.kind, ev.fraction, ev.item_id, ev.message)

    _serve(tasks, updates, run, IngestUpdate)
    for library in libraries:
        library.close()


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
            target=target, args=(*args, self._tasks, self._updates), name=name, daemon=True
        )
        self._released = False
        self.process.start()

    @property
    def alive(self) -> bool:
        """Whether the process is running."""
        return not self._released and self.process.is_alive()

    def submit(self, task: tuple[Any, ...]) -> None:
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

    def task(self, job_id: str, path: Path) -> tuple[Any, ...]:
        """The task message for one ingest job, with the settings it runs with now."""
        return (job_id, "ingest", str(path), self.current_settings())

    def annotate_task(self, job_id: str, item_id: int) -> tuple[Any, ...]:
        """The task message for tagging one item with the LLM chosen in Settings."""
        llm = self.settings.llm_path if self.settings else None
        return (job_id, "annotate", item_id, str(llm) if llm else "")


# -- answers in a spawned process -------------------------------------------------------------


@dataclass(frozen=True)
class AskUpdate:
    """A message from the ask process about one question.

    Attributes:
        job_id: The question the message is about.
        kind: ``sources`` (the passages the model reads), ``token`` (raw generated text),
            ``answer`` (the verified answer), ``error`` or ``finished``.
        text: A token's text.
        citations: The passages of a ``sources`` update.
        answer: The answer of an ``answer`` update.
        message: What went wrong, for ``error``.
        fix: How to fix it.
    """

    job_id: str
    kind: str
    text: str = ""
    citations: tuple[Citation, ...] = ()
    answer: Answer | None = None
    message: str = ""
    fix: str | None = None


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

    Each task is ``(job_id, question, k, llm_path)``; a task whose question is None only
    loads the model and evaluates the fixed prompt prefix (a warm-up). The model, the search
    index and the answer cache stay loaded between questions; killing the process is how a
    question is cancelled.
    """
    from core.answer import Answer as CoreAnswer
    from core.answer import Answerer, Sources, Token
    from core.library import Library

    libraries: list[Library] = []
    answerers: dict[str, Answerer] = {}

    def run(task: tuple[str, str | None, int | None, str]) -> Iterator[AskUpdate]:
        job_id, question, k, llm = task
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

    _serve(tasks, updates, run, AskUpdate)
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

    def task(self, job_id: str, question: str | None, k: int | None = None) -> tuple[Any, ...]:
        """The task message for one question (None: just warm the model up)."""
        llm = self.settings.llm_path if self.settings else None
        return (job_id, question, k, str(llm) if llm else "")


# -- home and the watch log ---------------------------------------------------------------------


class HomeService:
    """Home rows, watch events and thumbnails, on the service's own connection.

    Every method may touch the database or decode video, so call them from a worker.
    """

    def __init__(self, directory: Path) -> None:
        """Bind to a library directory; the connection opens on first use."""
        self.directory = Path(directory).expanduser()
        self._library: Library | None = None
        self._recs: Any = None
        self._lock = threading.Lock()

    def _lib(self) -> Library:
        if self._library is None:
            from core.library import Library
            from core.recommend.home import Recommendations

            self._library = Library(self.directory)
            self._recs = Recommendations(self._library)
        return self._library

    def shelves(self, at: str | None = None) -> list[Shelf]:
        """The home rows now (or at ISO time ``at``): Continue first, then rows by intent."""
        from core.recommend.events import progress

        with self._lock:
            lib = self._lib()
            home = self._recs.home(at)
            where = progress(lib)
            items = {i.id: i for i in lib.items()}
        shelves = []
        for row in home.rows:
            cards = []
            for rec in row.items:
                item = items.get(rec.media_id)
                if item is None:
                    continue
                seen = where.get(rec.media_id)
                share = 0.0
                if seen is not None and item.duration:
                    share = 1.0 if seen.finished else min(1.0, seen.position / item.duration)
                cards.append(
                    HomeCard(
                        item.id, item.title, item.kind, item.duration, share, rec.reason, item.path
                    )
                )
            if cards:
                shelves.append(Shelf(row.title, row.intent, tuple(cards)))
        return shelves

    def record(self, media_id: int, kind: str, position: float) -> None:
        """Append a player event (play, pause, seek, progress, complete) to the watch log."""
        from core.recommend.events import record_event

        with self._lock:
            record_event(self._lib(), media_id, kind, position)

    def thumbnail(
        self, path: str, at: float = 5.0, width: int = 320
    ) -> tuple[int, int, bytes] | None:
        """A video frame as ``(width, height, rgb bytes)``; None for audio and transcripts.

        Errors are not raised: a file that cannot be decoded simply gets a generated cover.
        """
        from core.media import video_frame

        try:
            frame = video_frame(Path(path), at, width)
        except MediaMindError as exc:
            log.info("no thumbnail for %s: %s", path, exc.message)
            return None
        if frame is None:
            return None
        return frame.shape[1], frame.shape[0], frame.tobytes()

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._library is not None:
                self._library.close()
            self._library = self._recs = None


# -- annotation review ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewCard:
    """One machine tag to review.

    Attributes:
        tag_id: The tag.
        media_id: Its item.
        title: The item's title.
        type: ``summary``, ``topic``, ``mood``, ``entity`` or ``safety``.
        value: The tag's value (label, name, rating or summary text).
        display: One-line rendering (entity type, safety reasons).
        confidence: The annotator's confidence, 0..1.
        source: ``lowest`` (lowest confidence first) or ``random`` (the unbiased sample).
        context: Supporting moments as ``(start seconds, text)``.
        choices: Allowed values for an edit (empty: free text).
        status: ``auto``, or after review ``accepted``, ``edited`` or ``rejected``.
    """

    tag_id: int
    media_id: int
    title: str
    type: str
    value: str
    display: str
    confidence: float
    source: str
    context: tuple[tuple[float, str], ...]
    choices: tuple[str, ...]
    status: str = "auto"


class ReviewService:
    """The annotation review queue, on its own connection (call from a worker)."""

    def __init__(self, directory: Path) -> None:
        """Bind to a library directory; the connection opens on first use."""
        self.directory = Path(directory).expanduser()
        self._library: Library | None = None
        self._lock = threading.Lock()

    def _lib(self) -> Library:
        if self._library is None:
            from core.library import Library

            self._library = Library(self.directory)
        return self._library

    def queue(self, n: int = 20) -> list[ReviewCard]:
        """The next tags to review: lowest confidence first, then the random sample."""
        from core.annotate import review_queue

        with self._lock:
            tasks = review_queue(self._lib(), n)
        return [
            ReviewCard(
                t.tag.id,
                t.tag.media_id,
                t.title,
                t.tag.type,
                t.tag.value,
                t.tag.display,
                t.tag.confidence,
                t.source,
                tuple((start, text) for _cid, start, text in t.context),
                t.choices,
                t.tag.status,
            )
            for t in tasks
        ]

    def decide(self, card: ReviewCard, decision: str, new_value: str | None = None) -> ReviewCard:
        """Accept, reject or edit a tag; it becomes gold and annotation never overwrites it.

        Raises:
            UsageError: An edit value that is not allowed (e.g. an entity not in the item).
        """
        from dataclasses import replace

        from core.annotate import record_review

        with self._lock:
            tag = record_review(self._lib(), card.tag_id, decision, new_value)
        return replace(card, value=tag.value, display=tag.display, status=tag.status)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._library is not None:
                self._library.close()
            self._library = None


# -- the bundle ---------------------------------------------------------------------------------


@dataclass
class Services:
    """Everything the main window needs."""

    library: LibraryService
    search: SearchService
    ingest: IngestService
    settings: SettingsService
    ask: AskService
    home: HomeService
    review: ReviewService

    @classmethod
    def open(cls, directory: Path, settings: SettingsService) -> Services:
        """Build the services for a library directory (opens nothing yet)."""
        directory = Path(directory).expanduser()
        return cls(
            LibraryService(directory),
            SearchService(directory),
            IngestService(directory, settings),
            settings,
            AskService(directory, settings),
            HomeService(directory),
            ReviewService(directory),
        )

    @property
    def directory(self) -> Path:
        """The library directory."""
        return self.library.directory

    def close(self) -> None:
        """Close database connections."""
        self.home.close()
        self.review.close()
        self.search.close()
        self.library.close()
