"""Ingest: turn media and subtitle files into library items with timestamped transcripts.

:func:`ingest` is a generator of :class:`IngestEvent` so the CLI can draw a progress bar and
the GUI can drive its job list from the same stream. One broken file never stops the others:
it becomes a ``failed`` event (and an item with status ``error``) and the run goes on.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import (
    DiskFullError,
    MediaMindError,
    ModelError,
    PathMissingError,
    UnsupportedMediaError,
    UsageError,
)
from core.ingest.language import AUTO, LanguageRouter, RoutedInfo
from core.ingest.media import (
    MEDIA_EXTENSIONS,
    SAMPLE_RATE,
    SUBTITLE_EXTENSIONS,
    MediaInfo,
    decode_audio,
    probe,
)
from core.ingest.transcribe import Transcriber, TranscriptionInfo, _one_blas_thread
from core.registry import sha256_file
from core.speakers import hooks as speaker_hooks
from core.store import ItemMetadata, Library
from core.transcript import Segment, read_subtitles

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from core.search import TextEncoder
    from core.speakers.diarize import Diarization
    from core.store import Chunk

log = logging.getLogger(__name__)

INGESTIBLE_EXTENSIONS = MEDIA_EXTENSIONS | SUBTITLE_EXTENSIONS


@dataclass(frozen=True)
class IngestEvent:
    """One step of an ingest run.

    Attributes:
        kind: ``started``, ``progress``, ``done``, ``skipped`` or ``failed``.
        path: The file concerned.
        index: 1-based position of the file in this run.
        total: Number of files in this run.
        fraction: Share of this file's audio transcribed so far, 0..1.
        item_id: The library item, once one exists.
        message: Why a file was skipped or failed; the language for ``done``.
        chunks_indexed: Chunks of this file's new transcript that search already finds.
            While a new file is transcribed it grows batch by batch (``progress`` events);
            a changed file's new chunks replace its old ones only at ``done``.
        warning: For ``done``: what was left out of a file that was otherwise read, e.g.
            "skipped 2 malformed cues (the first at line 7)".
    """

    kind: str
    path: Path
    index: int
    total: int
    fraction: float = 0.0
    item_id: int | None = None
    message: str = ""
    chunks_indexed: int = 0
    warning: str = ""
    # Seconds of audio in the file once known (0 before): with ``fraction``, how much audio
    # is done, which gives the speed (x real time) and the time left of a progress display.
    duration: float = 0.0


@dataclass(frozen=True)
class IngestOptions:
    """Choices that apply to a whole ingest run."""

    # ``auto``: English to tiny.en, other languages to ``multilingual_model``
    # (core/ingest/language.py); a name or folder forces that model for every file.
    model: str = AUTO
    language: str | None = None  # forced language code; None detects it
    multilingual_model: str = "base"
    # Store an English translation of non-English speech (core/ingest/translation.py).
    translate: bool = False
    prefer_subtitles: bool = False
    threads: int | None = None
    index: bool = True  # embed chunks for search as they are stored
    # Finished ~30 s chunks embedded and committed together while a file is transcribed
    # (about 2 minutes of audio): each commit makes them searchable mid-file.
    batch_chunks: int = 4
    speakers: bool = True  # diarize transcribed audio and match voices to speaker profiles


def _link_problem(path: Path) -> str | None:
    """Why a symbolic link cannot be followed (a loop, or a missing target), else None."""
    try:
        path.resolve(strict=True)
    except RuntimeError:  # Python 3.11 reports a loop this way
        return f"{path}: a symbolic link loop (it leads back to itself)."
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return f"{path}: a symbolic link loop (it leads back to itself)."
        if path.is_symlink():
            target = os.readlink(path)
            return f"{path}: a broken symbolic link (its target {target} does not exist)."
        return None
    return None


def _failed(path: Path, message: str, fix: str) -> IngestEvent:
    return IngestEvent("failed", path, 0, 0, message=str(PathMissingError(message, fix=fix)))


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[IngestEvent]]:
    """Expand files and folders (recursively) into the files to ingest, in a stable order.

    Inside folders, only media and subtitle files are taken (hidden entries are skipped), and
    a subtitle file that sits beside a same-named media file belongs to that media file rather
    than becoming an item of its own. A file named explicitly is always attempted.

    Returns:
        The files, and ``failed`` events (one per path) for paths that do not exist and for
        symbolic links that loop or point nowhere; the other files are still returned.
    """
    files: list[Path] = []
    missing: list[IngestEvent] = []
    seen: set[Path] = set()
    link_fix = "Fix or remove the link."
    for raw in paths:
        path = Path(os.path.abspath(Path(raw).expanduser()))
        if not path.exists():
            problem = _link_problem(path) if path.is_symlink() else None
            if problem:
                if path not in seen:  # named twice (itself and inside its folder): one line
                    seen.add(path)
                    missing.append(_failed(path, problem, link_fix))
            else:
                missing.append(
                    _failed(
                        path, f"{path}: no such file or folder.", "Check the path and try again."
                    )
                )
            continue
        if path.is_dir():
            found = []
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in names:
                    p = Path(root) / name
                    if not name.startswith(".") and p.suffix.lower() in INGESTIBLE_EXTENSIONS:
                        found.append(p)
            stems = {p.with_suffix("") for p in found if p.suffix.lower() in MEDIA_EXTENSIONS}
            candidates = sorted(
                p
                for p in found
                if not (p.suffix.lower() in SUBTITLE_EXTENSIONS and p.with_suffix("") in stems)
            )
        else:
            candidates = [path]
        for p in candidates:
            problem = _link_problem(p) if p.is_symlink() else None
            if problem:
                if p not in seen:  # named twice (itself and inside its folder): one line
                    seen.add(p)
                    missing.append(_failed(p, problem, link_fix))
                continue
            resolved = p.resolve()
            if resolved not in seen:
                seen.add(resolved)
                files.append(resolved)
    return files, missing


def sidecar_subtitles(path: Path) -> Path | None:
    """Return a same-named .srt or .vtt beside a media file, if there is one."""
    for ext in (".srt", ".vtt", ".SRT", ".VTT"):
        candidate = path.with_suffix(ext)
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class Prepared:
    """A file read up to the point where it needs Whisper (the driver's part of ingest).

    Attributes:
        digest: sha256 of the file.
        size: Its size in bytes.
        mtime: Its modification time.
        info: What :func:`probe` found; ``None`` for a subtitle file.
        transcript: Metadata and segments of a file that needs no Whisper (a subtitle file, a
            sidecar with ``prefer_subtitles``, the same bytes already transcribed elsewhere).
        warning: What was left out of a subtitle file that was otherwise read.
        reused: The transcript is another item's (same bytes): its voices are copied too.
    """

    digest: str
    size: int
    mtime: float
    info: MediaInfo | None
    transcript: tuple[ItemMetadata, list[Segment]] | None = None
    warning: str = ""
    reused: bool = False

    @property
    def probed_duration(self) -> float:
        """The container's duration (0 when unknown), which decoding checks against."""
        return self.info.duration if self.info is not None else 0.0

    def metadata(self, duration: float, language: str | None, source: str) -> ItemMetadata:
        """The item's metadata once its transcript (``duration`` s, by ``source``) exists."""
        info = self.info
        if info is None:
            raise TypeError("a subtitle file's metadata comes with its transcript")
        codec = (
            info.audio_codec
            if info.video_codec is None
            else f"{info.video_codec}+{info.audio_codec}"
        )
        return ItemMetadata(
            self.digest,
            self.size,
            self.mtime,
            info.duration or duration,
            info.container,
            codec,
            info.kind,
            info.title,
            language,
            source,
        )


def make_transcriber(options: IngestOptions) -> Transcriber | LanguageRouter:
    """The transcriber ``options`` ask for (``auto``: routed by language).

    Raises:
        ModelError: The model is missing or damaged.
    """
    if options.model == AUTO:
        return LanguageRouter(multilingual=options.multilingual_model, threads=options.threads)
    return Transcriber(options.model, threads=options.threads)


class Transcription:
    """Diarization and transcription of one file's audio, as local ingest and Ray workers run it.

    :meth:`steps` does the work; :attr:`language`, :attr:`model_id` and :attr:`speakers` are
    final once it is exhausted (routing settles the language and model only once every window
    is decoded).
    """

    def __init__(
        self,
        transcriber: Transcriber | LanguageRouter,
        audio: npt.NDArray[np.float32],
        options: IngestOptions,
    ) -> None:
        self.transcriber = transcriber
        self.audio = audio
        self.options = options
        self.duration = audio.shape[0] / SAMPLE_RATE
        self.speakers: Diarization | None = None
        self.info: TranscriptionInfo | RoutedInfo | None = None

    @property
    def language(self) -> str:
        """The language of the speech (Whisper's, or routing's for most of it)."""
        if self.info is None:
            raise RuntimeError("steps() has not started transcribing yet")
        return self.info.language

    @property
    def model_id(self) -> str:
        """The transcript source, e.g. ``whisper:tiny.en``."""
        if self.info is None:
            raise RuntimeError("steps() has not started transcribing yet")
        return _model_id(self.transcriber, self.info)

    def steps(self) -> Iterator[tuple[float, list[Segment]]]:
        """Diarize (``options.speakers``), then transcribe.

        Yields ``(fraction done, new segments labelled with their speakers)``; the first
        yield after transcription has started (:attr:`info` set) carries no segments.
        """
        share = speaker_hooks.PROGRESS_SHARE if self.options.speakers else 0.0
        if self.options.speakers:
            steps = speaker_hooks.diarize_steps(self.audio, self.transcriber.threads)
            while True:  # who speaks when, before the words, so each segment is stored once
                try:
                    # Its mel features too come out the same on a Ray worker (one BLAS thread).
                    with _one_blas_thread():
                        fraction = next(steps)
                except StopIteration as finished:
                    self.speakers = finished.value
                    break
                yield share * fraction, []
        self.info, gen = self.transcriber.transcribe(self.audio, self.options.language)
        yield share, []
        duration = self.duration
        for seg in gen:
            done = min(seg.end / duration, 0.999) if duration else 0.0
            yield share + (1 - share) * done, speaker_hooks.label([seg], self.speakers)

    def translation(self) -> tuple[list[Segment], str] | None:
        """English segments of non-English speech and the model that made them, when asked."""
        if not self.options.translate or self.language == "en":
            return None
        from core.ingest.translation import translate

        t = self.transcriber
        # Only non-English items get here, so a forced model is a multilingual one.
        multi = t.multilingual() if isinstance(t, LanguageRouter) else t
        return translate(multi, self.audio, self.language), multi.model_id


def transcribe_file(
    transcriber: Transcriber | LanguageRouter,
    path: Path,
    probed_duration: float,
    options: IngestOptions,
) -> Transcription:
    """Decode a media file for transcription (the Whisper part of ingest starts from here)."""
    return Transcription(transcriber, decode_audio(path, probed_duration), options)


class Ingestor:
    """One ingest run over a library: checks, transcription, storage, one file at a time.

    Local ingest drives it with :meth:`run`; the Ray driver (``core.cluster``) calls its steps
    (:meth:`precheck`, :meth:`start`, :meth:`prepare`, :meth:`store_prepared`) so that both
    write items the same way.
    """

    def __init__(
        self, library: Library, options: IngestOptions, encoder: TextEncoder | None
    ) -> None:
        if options.language not in (None, "en") and options.model == "tiny.en":
            # Every file would fail the same way: stop before the first.
            raise UsageError(
                f"--language {options.language} needs a multilingual model; "
                "tiny.en knows only English.",
                fix="Leave out --model (or use --model base) for other languages.",
            )
        self.library = library
        self.options = options
        self._transcriber: Transcriber | LanguageRouter | None = None
        self._warning = ""
        self._duration = 0.0  # seconds of audio of the file being ingested, once known
        self.embed = None
        if options.index:
            from core.search import EmbeddingStore, default_encoder

            self.embed = EmbeddingStore(library, encoder or default_encoder).embed

    def transcriber(self) -> Transcriber | LanguageRouter:
        """The Whisper model (or language router) for this run, loaded once."""
        # Resolved on first need, so subtitle-only runs never touch the model.
        if self._transcriber is None:
            self._transcriber = make_transcriber(self.options)
        return self._transcriber

    def _wanted_source(self) -> str | None:
        """The transcript source a forced model or language asks for (None: any will do)."""
        if self.options.model != AUTO:
            t = self.transcriber()
            return t.model_id if isinstance(t, Transcriber) else None
        return None

    def _stale(self, source: str | None, language: str | None, item_id: int | None) -> bool:
        """Whether a stored Whisper transcript differs from what this run forces.

        An explicit ``--model`` or ``--language`` re-transcribes items made otherwise, and
        ``--translate`` a non-English item (``item_id``) that has no translation yet.
        """
        if not (source or "").startswith("whisper:"):
            return False
        if self.options.translate and language not in (None, "en") and item_id is not None:
            from core.ingest.translation import stored_translation

            if not stored_translation(self.library, item_id):
                return True
        wanted = self._wanted_source()
        if wanted is not None and source != wanted:
            return True
        return self.options.language is not None and language != self.options.language

    def run(self, files: list[Path], failures: list[IngestEvent]) -> Iterator[IngestEvent]:
        """Ingest ``files`` in order, after reporting the ``failures`` discovery found."""
        total = len(files) + len(failures)
        for n, event in enumerate(failures, start=1):
            yield IngestEvent("failed", event.path, n, total, message=event.message)
        full: DiskFullError | None = None
        for n, path in enumerate(files, start=len(failures) + 1):
            if full is not None:
                # Every later file would fail at its first write: report each without
                # spending minutes transcribing it.
                yield IngestEvent(
                    "failed", path, n, total, message=f"{path}: not ingested: the disk is full."
                )
                continue
            try:
                yield from self.one(path, n, total)
            except DiskFullError as exc:
                full = exc
                yield IngestEvent("failed", path, n, total, message=f"{path}: not stored: {exc}")

    def precheck(self, path: Path, n: int, total: int) -> IngestEvent | os.stat_result:
        """A ``skipped`` or ``failed`` event for a file that needs no work, else its stat.

        Raises:
            ModelError: A forced model is missing or damaged.
        """
        suffix = path.suffix.lower()
        if suffix not in INGESTIBLE_EXTENSIONS:
            supported = " ".join(sorted(INGESTIBLE_EXTENSIONS))
            return IngestEvent(
                "failed",
                path,
                n,
                total,
                message=str(
                    UnsupportedMediaError(
                        f"{path}: not a media or subtitle file (extension {suffix or 'none'}).",
                        fix=f"MediaMind reads {supported}.",
                    )
                ),
            )
        try:
            st = path.stat()
        except OSError as exc:
            return IngestEvent("failed", path, n, total, message=f"{path}: {exc.strerror}.")
        existing = self.library.item_by_path(str(path))
        try:
            stale = existing is not None and self._stale(
                existing.transcript_source, existing.language, existing.id
            )
        except MediaMindError as exc:
            if isinstance(exc, ModelError):
                raise
            return IngestEvent("failed", path, n, total, message=str(exc))
        if existing and existing.status == "ready" and existing.size == st.st_size and not stale:
            if existing.mtime == st.st_mtime:
                return IngestEvent("skipped", path, n, total, 1.0, existing.id, "unchanged")
            if os.access(path, os.R_OK) and sha256_file(path) == existing.sha256:
                self.library.touch(existing.id, st.st_mtime)
                return IngestEvent("skipped", path, n, total, 1.0, existing.id, "unchanged")
        return st

    def start(self, path: Path) -> int:
        """Record that ``path`` is being ingested; return its item id."""
        kind = "subtitle" if path.suffix.lower() in SUBTITLE_EXTENSIONS else "audio"
        return self.library.upsert_pending(str(path), path.stem, kind)

    def one(self, path: Path, n: int, total: int) -> Iterator[IngestEvent]:
        """Ingest one file (the ``n``-th of ``total``), yielding its progress events."""
        st = self.precheck(path, n, total)
        if isinstance(st, IngestEvent):
            yield st
            return
        item_id = self.start(path)
        yield IngestEvent("started", path, n, total, 0.0, item_id)
        indexed = 0
        self._warning = ""
        self._duration = 0.0
        try:
            for fraction, indexed in self._process(path, item_id, st):
                yield IngestEvent(
                    "progress",
                    path,
                    n,
                    total,
                    fraction,
                    item_id,
                    chunks_indexed=indexed,
                    duration=self._duration,
                )
        except ModelError as exc:
            # Every following file would fail the same way: stop the run with the fix.
            self.library.mark_failed(item_id, str(exc))
            raise
        except DiskFullError as exc:
            with contextlib.suppress(DiskFullError):  # recording the failure needs room too
                self.library.mark_failed(item_id, str(exc))
            raise
        except MediaMindError as exc:
            self.library.mark_failed(item_id, str(exc))
            yield IngestEvent("failed", path, n, total, 0.0, item_id, str(exc))
            return
        except OSError as exc:
            if exc.errno == errno.ENOSPC:
                raise disk_full(exc, path) from exc
            msg = f"{path}: {exc.strerror or exc}."
            self.library.mark_failed(item_id, msg)
            yield IngestEvent("failed", path, n, total, 0.0, item_id, msg)
            return
        except BaseException:
            # Ctrl-C or a kill: the item stays unfinished and is redone by the next run.
            self.library.mark_failed(item_id, "interrupted; run ingest again to finish it")
            raise
        item = self.library.get_item(item_id)
        yield IngestEvent(
            "done",
            path,
            n,
            total,
            1.0,
            item_id,
            item.language or "",
            chunks_indexed=indexed,
            warning=self._warning,
            duration=item.duration or self._duration,
        )

    def _process(self, path: Path, item_id: int, st: os.stat_result) -> Iterator[tuple[float, int]]:
        """Transcribe and store one file, yielding ``(fraction done, chunks searchable)``."""
        prep = self.prepare(path, item_id, st)
        if prep.transcript is not None:
            self._warning = prep.warning
            self._duration = prep.transcript[0].duration or 0.0
            yield 1.0, len(self.store_prepared(item_id, prep))
            return
        yield from self._transcribe(path, item_id, prep)

    def prepare(self, path: Path, item_id: int, st: os.stat_result) -> Prepared:
        """Read a file up to where it needs Whisper; its transcript if it needs none."""
        from core.ingest.media import check_readable

        check_readable(path)
        digest = sha256_file(path)
        if path.suffix.lower() in SUBTITLE_EXTENSIONS:
            parsed = read_subtitles(path)
            segments = parsed.segments
            meta = ItemMetadata(
                digest,
                st.st_size,
                st.st_mtime,
                segments[-1].end,
                "subtitle",
                path.suffix[1:],
                "subtitle",
                path.stem.replace("_", " "),
                None,
                "subtitle",
            )
            return Prepared(
                digest, st.st_size, st.st_mtime, None, (meta, segments), parsed.skipped_note()
            )

        prep = Prepared(digest, st.st_size, st.st_mtime, probe(path))
        sidecar = sidecar_subtitles(path) if self.options.prefer_subtitles else None
        if sidecar is not None:
            parsed = read_subtitles(sidecar)
            segments = parsed.segments
            meta = prep.metadata(segments[-1].end, None, f"subtitle:{sidecar.name}")
            note = parsed.skipped_note() and f"{sidecar.name}: {parsed.skipped_note()}"
            return replace(prep, transcript=(meta, segments), warning=note)
        if (reuse := self._reuse_transcript(digest, item_id)) is not None:
            segments, source, language = reuse
            meta = prep.metadata(segments[-1].end if segments else 0, language, source)
            return replace(prep, transcript=(meta, segments), reused=True)
        return prep

    def store_prepared(self, item_id: int, prep: Prepared) -> list[Chunk]:
        """Store the transcript of a file that needed no Whisper; return its chunks."""
        if prep.transcript is None:
            raise TypeError("this file needs transcribing")
        meta, segments = prep.transcript
        on_complete = (
            speaker_hooks.reused(self.library, prep.digest, item_id) if prep.reused else None
        )
        return self.library.store_transcript(
            item_id, meta, segments, self.embed, on_complete=on_complete
        )

    def _transcribe(self, path: Path, item_id: int, prep: Prepared) -> Iterator[tuple[float, int]]:
        """Transcribe a file, storing its chunks batch by batch as they are finished."""
        run = transcribe_file(self.transcriber(), path, prep.probed_duration, self.options)
        self._duration = run.duration
        writer = None
        for fraction, segments in run.steps():
            if writer is None and run.info is not None:
                writer = self.library.transcript_writer(
                    item_id,
                    prep.metadata(run.duration, run.language, run.model_id),
                    self.embed,
                    batch_chunks=self.options.batch_chunks,
                )
            if writer is not None and segments:
                writer.add(segments)
            yield fraction, writer.indexed if writer is not None else 0
        if writer is None:
            raise RuntimeError("transcription ended before it started")
        # Routing settles the language and model only once every window is decoded.
        writer.meta = replace(writer.meta, language=run.language, transcript_source=run.model_id)
        writer.on_complete = speaker_hooks.on_complete(self.library, item_id, run.speakers)
        writer.finish()
        self.store_translation(item_id, run.translation())
        yield 1.0, writer.indexed

    def store_translation(
        self, item_id: int, translation: tuple[list[Segment], str] | None
    ) -> None:
        """Store an item's English translation (from :meth:`Transcription.translation`)."""
        if translation is None:
            return
        from core.ingest.translation import store_translation

        segments, model_id = translation
        store_translation(self.library, item_id, segments, model_id, self.embed)

    def _reuse_transcript(
        self, digest: str, item_id: int
    ) -> tuple[list[Segment], str, str | None] | None:
        # The same bytes under another name (a copy, a move before prune) already have a
        # transcript by this model: reuse it instead of spending minutes of CPU again.
        for other in self.library.items(status="ready"):
            if (
                other.sha256 == digest
                and other.id != item_id
                and not self._stale(other.transcript_source, other.language, None)
                and (other.transcript_source or "").startswith("whisper:")
            ):
                return (
                    self.library.segments(other.id),
                    other.transcript_source or "",
                    other.language,
                )
        return None


def disk_full(exc: OSError, path: Path) -> DiskFullError:
    """The one-line error for a write that found the disk full."""
    return DiskFullError(
        f"No space left on the disk ({exc.filename or path}).",
        fix="Free some disk space and run the command again.",
    )


def _model_id(transcriber: Transcriber | LanguageRouter, info: object) -> str:
    if isinstance(info, RoutedInfo) or not isinstance(transcriber, Transcriber):
        return info.model_id if isinstance(info, RoutedInfo) else "whisper:"
    return transcriber.model_id


def ingest(
    library: Library,
    paths: Iterable[Path | str] | Path | str,
    options: IngestOptions | None = None,
    encoder: TextEncoder | None = None,
) -> Iterator[IngestEvent]:
    """Ingest files and folders into ``library``, yielding progress as it goes.

    ``encoder`` replaces the default embedding model (the GUI shares one; tests count calls).

    Unchanged files (same size and mtime, or same sha256) are skipped; changed files are
    re-transcribed. While a new file is transcribed, its finished chunks are embedded and
    committed every ``options.batch_chunks`` chunks (each batch one transaction), so search
    finds them before the file is done; the item is ``ready`` only when all of it is stored.
    A changed file keeps its old transcript searchable until the new one replaces it in one
    transaction. A run that dies mid-file leaves whole batches of an item that is not
    ``ready``; the next run deletes them in the transaction that stores the file anew.

    Raises:
        ModelError: The Whisper model is missing or damaged (raised once, not per file).
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files, failures = discover(Path(p) for p in paths)
    with library.ingest_running():
        yield from Ingestor(library, options or IngestOptions(), encoder).run(files, failures)


def prune(library: Library) -> list[int]:
    """Remove items whose files no longer exist; return their ids.

    Imported transcripts (whose path is not a file path) are kept.
    """
    removed = []
    for item in library.items():
        if item.kind == "transcript":
            continue
        if not Path(item.path).exists():
            library.delete_item(item.id)
            removed.append(item.id)
    return removed


def import_transcript(
    library: Library,
    key: str,
    title: str,
    segments: list[Segment],
    encoder: TextEncoder | None = None,
) -> int:
    """Add (or replace) a transcript that has no media file, e.g. meeting minutes.

    Args:
        library: Where to store it.
        key: A stable identifier used as the item's path, e.g. ``transcript:qmsum/Bed003``.
        title: The item's title.
        segments: The timed text.
        encoder: Replaces the default embedding model.

    Returns:
        The item id.
    """
    from core.search import EmbeddingStore, default_encoder

    digest = hashlib.sha256(
        "\n".join(f"{s.start}\t{s.end}\t{s.text}" for s in segments).encode()
    ).hexdigest()
    existing = library.item_by_path(key)
    if existing and existing.status == "ready" and existing.sha256 == digest:
        return existing.id
    item_id = library.upsert_pending(key, title, "transcript")
    meta = ItemMetadata(
        digest,
        None,
        None,
        segments[-1].end if segments else 0.0,
        None,
        None,
        "transcript",
        title,
        None,
        "import",
    )
    library.store_transcript(
        item_id, meta, segments, EmbeddingStore(library, encoder or default_encoder).embed
    )
    return item_id
