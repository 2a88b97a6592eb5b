"""Transcripts: segments with timings, ~30 s chunks, and the SRT/VTT/TXT/JSON formats."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from core.errors import UnsupportedMediaError

CHUNK_TARGET_SECONDS = 30.0


@dataclass(frozen=True)
class Word:
    """One recognised word with its timing and the model's probability."""

    start: float
    end: float
    word: str
    probability: float


@dataclass(frozen=True)
class Segment:
    """A timed span of transcript text (a Whisper segment or a subtitle cue)."""

    start: float
    end: float
    text: str
    words: tuple[Word, ...] | None = None


@dataclass(frozen=True)
class ChunkSpan:
    """A ~30 s window of consecutive segments: the unit that search and answers use.

    Attributes:
        idx: Position of the chunk in its item.
        start: Start of the first segment, seconds.
        end: End of the last segment, seconds.
        text: The segments' text joined with spaces.
        first_segment: Index of the first segment in the item.
        last_segment: Index of the last segment in the item (inclusive).
    """

    idx: int
    start: float
    end: float
    text: str
    first_segment: int
    last_segment: int


def format_timestamp(seconds: float) -> str:
    """Display form of a time: ``m:ss`` below an hour, else ``h:mm:ss``."""
    total = max(0, int(seconds))
    h, rem = divmod(total, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def make_chunks(
    segments: Sequence[Segment], target: float = CHUNK_TARGET_SECONDS
) -> list[ChunkSpan]:
    """Cut segments into windows of about ``target`` seconds, on segment boundaries.

    A segment is added to the open window while the window is shorter than ``target``; the
    segment that would carry it past the target goes in only when that lands closer to the
    target than stopping short does. A single segment longer than the target is a chunk of
    its own. Empty segments are skipped.
    """
    chunks: list[ChunkSpan] = []
    current: list[int] = []

    def close() -> None:
        if not current:
            return
        first, last = current[0], current[-1]
        text = " ".join(segments[i].text.strip() for i in current if segments[i].text.strip())
        chunks.append(
            ChunkSpan(len(chunks), segments[first].start, segments[last].end, text, first, last)
        )
        current.clear()

    for i, seg in enumerate(segments):
        if not seg.text.strip():
            continue
        if current:
            start = segments[current[0]].start
            so_far = segments[current[-1]].end - start
            with_it = seg.end - start
            if so_far >= target or (with_it > target and (with_it - target) > (target - so_far)):
                close()
        current.append(i)
    close()
    return chunks


# -- formats -------------------------------------------------------------------------------


def _srt_time(t: float) -> str:
    ms = max(0, round(t * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d},{ms:03d}"


def _cue_text(text: str) -> str:
    # A blank line ends a cue in both formats, and "-->" would read as a timing line.
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join(lines).replace("-->", "->") or "…"


def _srt_cue_text(text: str) -> str:
    # SubRip has no escapes, but readers (ours included) take <b>, {\an8} and &amp; as markup:
    # a cue whose words merely look like markup is written with character references, so it
    # reads back as the same words instead of losing them.
    cue = _cue_text(text)
    if _TAGS.search(cue) or html.unescape(cue) != cue:
        cue = html.escape(cue, quote=False).replace("{", "&#123;")
    return cue


def to_srt(segments: Iterable[Segment]) -> str:
    """Render segments as SubRip (.srt)."""
    out = []
    for n, seg in enumerate((s for s in segments if s.text.strip()), start=1):
        end = max(seg.end, seg.start + 0.001)
        text = _srt_cue_text(seg.text)
        out.append(f"{n}\n{_srt_time(seg.start)} --> {_srt_time(end)}\n{text}\n")
    return "\n".join(out)


def to_vtt(segments: Iterable[Segment]) -> str:
    """Render segments as WebVTT (.vtt)."""
    out = ["WEBVTT\n"]
    for seg in segments:
        if not seg.text.strip():
            continue
        end = max(seg.end, seg.start + 0.001)
        start_s, end_s = _srt_time(seg.start).replace(",", "."), _srt_time(end).replace(",", ".")
        # "<", ">" and "&" are markup in WebVTT cue text.
        text = html.escape(_cue_text(seg.text), quote=False).replace("{", "&#123;")
        out.append(f"{start_s} --> {end_s}\n{text}\n")
    return "\n".join(out)


def to_txt(segments: Iterable[Segment]) -> str:
    """Render segments as plain text, one line per segment with its start time."""
    return "".join(f"[{format_timestamp(s.start)}] {s.text.strip()}\n" for s in segments)


def to_json(segments: Iterable[Segment]) -> str:
    """Render segments (with word timings where known) as a JSON list."""
    return json.dumps([asdict(s) for s in segments], ensure_ascii=False, indent=2)


_TIME = re.compile(
    r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
)
# Styling markup a subtitle file may carry: SubRip's <b>/<i>/<u>/<s>/<font>, WebVTT's class, voice,
# language and ruby spans and inline timestamps, and SSA override blocks ({\an8}). Anything else
# in angle brackets ("a <x> b") is the cue's own text.
_TAGS = re.compile(
    r"</?(?:[biusc]|font|v|lang|ruby|rt)(?:[.\s][^>]*)?>|<\d+:\d{2}[:.][^>]*>|\{\\[^}]*\}",
    re.IGNORECASE,
)


def _seconds(h: str | None, m: str, s: str, frac: str) -> float:
    return int(h or 0) * 3600 + int(m) * 60 + int(s) + int(frac.ljust(3, "0")) / 1000


def parse_subtitles(text: str) -> list[Segment]:
    """Parse SRT or WebVTT text into segments (styling tags removed, entities decoded).

    Cue numbers, VTT headers, NOTE/STYLE/REGION blocks and cue settings are ignored; cues
    are returned sorted by start time.
    """
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    segments: list[Segment] = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip("\n").split("\n")
        for i, line in enumerate(lines):
            m = _TIME.match(line)
            if not m:
                continue
            start = _seconds(*m.group(1, 2, 3, 4))
            end = _seconds(*m.group(5, 6, 7, 8))
            body = " ".join(
                html.unescape(_TAGS.sub("", ln)).strip() for ln in lines[i + 1 :] if ln.strip()
            )
            body = re.sub(r"\s+", " ", body).strip()
            if body:
                segments.append(Segment(start, max(end, start), body))
            break
    segments.sort(key=lambda s: (s.start, s.end))
    return segments


def read_subtitle_file(path: Path) -> list[Segment]:
    """Read an .srt or .vtt file.

    Raises:
        UnsupportedMediaError: The file holds no cue that parses.
    """
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")
    segments = parse_subtitles(text)
    if not segments:
        raise UnsupportedMediaError(
            f"{path}: no subtitle cues could be read; it is not a valid SRT/WebVTT file.",
            fix="Check the file in a subtitle editor.",
        )
    return segments
