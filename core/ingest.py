"""Ingest: turn media and subtitle files into library items with timestamped transcripts.

:func:`ingest` is a generator of :class:`IngestEvent` so the CLI can draw a progress bar and
the GUI can drive its job list from the same stream. One broken file never stops the others:
it becomes a ``failed`` event (and an item with status ``error``) and the run goes on.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from core.errors import MediaMindError, ModelError, PathMissingError, UnsupportedMediaError
from core.library import ItemMetadata, Library
from core.media import (
    MEDIA_EXTENSIONS,
    SAMPLE_RATE,
    SUBTITLE_EXTENSIONS,
    MediaInfo,
    decode_audio,
    probe,
)
from core.transcribe import Transcriber, TranscriptionInfo
from core.transcript import Segment, read_subtitle_file

if TYPE_CHECKING:
    from core.search import TextEncoder

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
    """

    kind: str
    path: Path
    index: int
    total: int
    fraction: float = 0.0
    item_id: int | None = None
    message: str = ""
    chunks_indexed: int = 0


@dataclass(frozen=True)
class IngestOptions:
    """Choices that apply to a whole ingest run."""

    model: str = "tiny.en"
    prefer_subtitles: bool = False
    threads: int | None = None
    index: bool = True  # embed chunks for search as they are stored
    # Finished ~30 s chunks embedded and committed together while a file is transcribed
    # (about 2 minutes of audio): each commit makes them searchable mid-file.
    batch_chunks: int = 4


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[IngestEvent]]:
    """Expand files and folders (recursively) into the files to ingest, in a stable order.

    Inside folders, only media and subtitle files are taken (hidden entries are skipped), and
    a subtitle file that sits beside a same-named media file belongs to that media file rather
    than becoming an item of its own. A file named explicitly is always attempted.

    Returns:
        The files, and ``failed`` events for paths that do not exist.
    """
    files: list[Path] = []
    missing: list[IngestEvent] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            missing.append(
                IngestEvent(
                    "failed",
                    path,
                    0,
                    0,
                    message=str(
                        PathMissingError(
                            f"{path}: no such file or folder.", fix="Check the path and try again."
                        )
                    ),
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
            resolved = p.resolve()
            if resolved not in seen:
                seen.add(resolved)
                files.append(resolved)
    return files, missing


def sha256_of(path: Path) -> str:
    """Return the hex sha256 of a file's content."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


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
    """

    digest: str
    size: int
    mtime: float
    info: MediaInfo | None
    transcript: tuple[ItemMetadata, list[Segment]] | None = None

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


def transcribe_file(
    transcriber: Transcriber, path: Path, probed_duration: float
) -> tuple[float, TranscriptionInfo, Iterator[Segment]]:
    """Decode a media file and start transcribing it (the Whisper part of ingest).

    Returns:
        The decoded duration in seconds, what Whisper found about the audio, and the
        segments as a generator.
    """
    audio = decode_audio(path, probed_duration)
    tinfo, segments = transcriber.transcribe(audio)
    return audio.shape[0] / SAMPLE_RATE, tinfo, segments


class _Ingestor:
    def __init__(
        self, library: Library, options: IngestOptions, encoder: TextEncoder | None
    ) -> None:
        self.library = library
        self.options = options
        self._transcriber: Transcriber | None = None
        self.embed = None
        if options.index:
            from core.search import EmbeddingStore, default_encoder

            self.embed = EmbeddingStore(library, encoder or default_encoder).embed

    def transcriber(self) -> Transcriber:
        # Resolved on first need, so subtitle-only runs never touch the model.
        if self._transcriber is None:
            self._transcriber = Transcriber(self.options.model, threads=self.options.threads)
        return self._transcriber

    def run(self, files: list[Path], failures: list[IngestEvent]) -> Iterator[IngestEvent]:
        total = len(files) + len(failures)
        for n, event in enumerate(failures, start=1):
            yield IngestEvent("failed", event.path, n, total, message=event.message)
        for n, path in enumerate(files, start=len(failures) + 1):
            yield from self.one(path, n, total)

    def precheck(self, path: Path, n: int, total: int) -> IngestEvent | os.stat_result:
        """A ``skipped`` or ``failed`` event for a file that needs no work, else its stat."""
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
        if existing and existing.status == "ready" and existing.size == st.st_size:
            if existing.mtime == st.st_mtime:
                return IngestEvent("skipped", path, n, total, 1.0, existing.id, "unchanged")
            if os.access(path, os.R_OK) and sha256_of(path) == existing.sha256:
                self.library.touch(existing.id, st.st_mtime)
                return IngestEvent("skipped", path, n, total, 1.0, existing.id, "unchanged")
        return st

    def start(self, path: Path) -> int:
        """Record that ``path`` is being ingested; return its item id."""
        kind = "subtitle" if path.suffix.lower() in SUBTITLE_EXTENSIONS else "audio"
        return self.library.upsert_pending(str(path), path.stem, kind)

    def one(self, path: Path, n: int, total: int) -> Iterator[IngestEvent]:
        st = self.precheck(path, n, total)
        if isinstance(st, IngestEvent):
            yield st
            return
        item_id = self.start(path)
        yield IngestEvent("started", path, n, total, 0.0, item_id)
        indexed = 0
        try:
            for fraction, indexed in self._process(path, item_id, st):
                yield IngestEvent(
                    "progress", path, n, total, fraction, item_id, chunks_indexed=indexed
                )
        except ModelError as exc:
            # Every following file would fail the same way: stop the run with the fix.
            self.library.mark_failed(item_id, str(exc))
            raise
        except MediaMindError as exc:
            self.library.mark_failed(item_id, str(exc))
            yield IngestEvent("failed", path, n, total, 0.0, item_id, str(exc))
            return
        except OSError as exc:
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
            "done", path, n, total, 1.0, item_id, item.language or "", chunks_indexed=indexed
        )

    def _process(self, path: Path, item_id: int, st: os.stat_result) -> Iterator[tuple[float, int]]:
        """Transcribe and store one file, yielding ``(fraction done, chunks searchable)``."""
        prep = self.prepare(path, item_id, st)
        if prep.transcript is not None:
            meta, segments = prep.transcript
            chunks = self.library.store_transcript(item_id, meta, segments, self.embed)
            yield 1.0, len(chunks)
            return
        yield from self._transcribe(path, item_id, prep)

    def prepare(self, path: Path, item_id: int, st: os.stat_result) -> Prepared:
        """Read a file up to where it needs Whisper; its transcript if it needs none."""
        from core.media import check_readable

        check_readable(path)
        digest = sha256_of(path)
        if path.suffix.lower() in SUBTITLE_EXTENSIONS:
            segments = read_subtitle_file(path)
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
            return Prepared(digest, st.st_size, st.st_mtime, None, (meta, segments))

        prep = Prepared(digest, st.st_size, st.st_mtime, probe(path))
        sidecar = sidecar_subtitles(path) if self.options.prefer_subtitles else None
        if sidecar is not None:
            segments = read_subtitle_file(sidecar)
            meta = prep.metadata(segments[-1].end, None, f"subtitle:{sidecar.name}")
            return replace(prep, transcript=(meta, segments))
        if (reuse := self._reuse_transcript(digest, item_id)) is not None:
            segments, source, language = reuse
            meta = prep.metadata(segments[-1].end if segments else 0, language, source)
            return replace(prep, transcript=(meta, segments))
        return prep

    def _transcribe(self, path: Path, item_id: int, prep: Prepared) -> Iterator[tuple[float, int]]:
        """Transcribe a file, storing its chunks batch by batch as they are finished."""
        transcriber = self.transcriber()
        duration, tinfo, gen = transcribe_file(transcriber, path, prep.probed_duration)
        writer = self.library.transcript_writer(
            item_id,
            prep.metadata(duration, tinfo.language, transcriber.model_id),
            self.embed,
            batch_chunks=self.options.batch_chunks,
        )
        for seg in gen:
            writer.add([seg])
            yield (min(seg.end / duration, 0.999) if duration else 0.0), writer.indexed
        writer.finish()
        yield 1.0, writer.indexed

    def _reuse_transcript(
        self, digest: str, item_id: int
    ) -> tuple[list[Segment], str, str | None] | None:
        # The same bytes under another name (a copy, a move before prune) already have a
        # transcript by this model: reuse it instead of spending minutes of CPU again.
        wanted = (
            None
            if self.options.model not in ("tiny.en", "base")
            else (f"whisper:{self.options.model}")
        )
        for other in self.library.items(status="ready"):
            if (
                other.sha256 == digest
                and other.id != item_id
                and (wanted is None or other.transcript_source == wanted)
                and (other.transcript_source or "").startswith("whisper:")
            ):
                return (
                    self.library.segments(other.id),
                    other.transcript_source or "",
                    other.language,
                )
        return None


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
    yield from _Ingestor(library, options or IngestOptions(), encoder).run(files, failures)


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
