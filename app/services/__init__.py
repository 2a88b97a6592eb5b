"""The app's service layer: the only part of ``app`` that calls ``core``.

Widgets receive these services in their constructors and see only the small typed records of
:mod:`app.services.records` (:class:`LibraryItem`, :class:`SearchHit`, :class:`TranscriptLine`,
...), never a ``core`` object. Heavy ``core`` modules (search, ingest, models) are imported
lazily, inside the methods that need them, so that starting the app loads no model and little
code. Ingest and answers run in spawned processes (:mod:`app.services.process`) that receive
task dataclasses and send update dataclasses back.

Nothing here touches Qt widgets; :class:`SettingsService` uses ``QSettings`` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from app.services.ask import AskService, ask_process_main
from app.services.engine import (
    default_library_dir,
    install_model,
    model_overview,
    physical_cores,
    preload_engine_modules,
    vocabularies,
)
from app.services.home import HomeService
from app.services.ingest import IngestService, ingest_process_main
from app.services.library import LibraryService
from app.services.process import EngineProcess
from app.services.records import (
    EXPORT_FORMATS,
    KINDS,
    PRIVACY_STATEMENT,
    WHISPER_MODELS,
    AnnotateTask,
    Answer,
    AskTask,
    AskUpdate,
    Citation,
    EngineTask,
    HomeCard,
    IngestSettings,
    IngestTask,
    IngestUpdate,
    LibraryItem,
    ReviewCard,
    SearchHit,
    Shelf,
    TranscriptLine,
    UserMessage,
    describe_error,
    format_time,
    marked_to_html,
)
from app.services.review import ReviewService
from app.services.search import SearchService
from app.services.settings import SettingsService


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
        self.ask.close()
        self.home.close()
        self.review.close()
        self.search.close()
        self.library.close()


__all__ = [
    "EXPORT_FORMATS",
    "KINDS",
    "PRIVACY_STATEMENT",
    "WHISPER_MODELS",
    "AnnotateTask",
    "Answer",
    "AskService",
    "AskTask",
    "AskUpdate",
    "Citation",
    "EngineProcess",
    "EngineTask",
    "HomeCard",
    "HomeService",
    "IngestService",
    "IngestSettings",
    "IngestTask",
    "IngestUpdate",
    "LibraryItem",
    "LibraryService",
    "ReviewCard",
    "ReviewService",
    "SearchHit",
    "SearchService",
    "Services",
    "SettingsService",
    "Shelf",
    "TranscriptLine",
    "UserMessage",
    "ask_process_main",
    "default_library_dir",
    "describe_error",
    "format_time",
    "ingest_process_main",
    "install_model",
    "marked_to_html",
    "model_overview",
    "physical_cores",
    "preload_engine_modules",
    "vocabularies",
]
