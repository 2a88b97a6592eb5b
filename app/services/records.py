"""The small typed records the widgets see, and the messages to and from engine processes.

Widgets never see a ``core`` object: services copy what they show into these.
"""

from __future__ import annotations

import html
import re
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.errors import MediaMindError

if TYPE_CHECKING:
    from core.store import MediaItem

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
    transcript_source: str | None = None  # e.g. whisper:tiny.en, subtitle

    @property
    def model(self) -> str:
        """What made the transcript, as the Library shows it: "tiny.en", "subtitles", "-"."""
        source = self.transcript_source or ""
        if source.startswith("whisper:"):
            return source.removeprefix("whisper:") or "whisper"
        if source.startswith("subtitle"):
            return "subtitles"
        return source or "-"

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
            item.transcript_source,
        )


@dataclass(frozen=True)
class TranscriptLine:
    """One transcript segment; ``speaker`` is the voice's name when the item has several."""

    start: float
    end: float
    text: str
    speaker: str | None = None


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
    relevance: float = 0.0  # 0..1, how closely the moment matches (core SearchResult.relevance)
    speakers: tuple[str, ...] = ()  # who speaks in the moment, most speech first

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
    """The choices an ingest job runs with (mirrors ``core.ingest.pipeline.IngestOptions``)."""

    model: str = "auto"  # tiny.en for English, base for other languages (core/ingest/language.py)
    threads: int | None = None
    prefer_subtitles: bool = False
    # The model for speech that is not English when ``model`` is auto: base or a folder.
    multilingual_model: str = "base"


# -- updates from the engine processes ---------------------------------------------------------


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
    duration: float = 0.0  # seconds of audio in the file, once known (0: not yet)


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


# -- messages to the engine processes (picklable; sent through a multiprocessing queue) --------


@dataclass(frozen=True)
class IngestTask:
    """Ingest one file with the settings it was submitted with."""

    job_id: str
    path: str
    settings: IngestSettings


@dataclass(frozen=True)
class AnnotateTask:
    """Tag one item; ``llm_path`` is the GGUF chosen in Settings ("" for the default)."""

    job_id: str
    item_id: int
    llm_path: str


@dataclass(frozen=True)
class AskTask:
    """Answer one question (``question`` None: only load the model and warm it up)."""

    job_id: str
    question: str | None
    k: int | None
    llm_path: str


EngineTask = IngestTask | AnnotateTask | AskTask
