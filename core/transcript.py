"""Transcripts: segments with timings, ~30 s chunks, and the SRT/VTT/TXT/JSON formats."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping, Sequence
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
    """A timed span of transcript text (a Whisper segment or a subtitle cue).

    ``speaker`` is the item-local speaker label from diarization (0 = the first voice), or
    ``None`` when the item was not diarized; the library maps labels to speaker profiles.
    """

    start: float
    end: float
    text: str
    words: tuple[Word, ...] | None = None
    speaker: int | None = None


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


SpeakerNames = Mapping[int, str]


def _shown_speakers(segments: Sequence[Segment], names: SpeakerNames | None) -> SpeakerNames:
    """Names to print: only when the item has more than one speaker (one voice adds nothing)."""
    if not names:
        return {}
    used = {s.speaker for s in segments if s.speaker is not None and s.text.strip()}
    return names if len({names.get(u, "") for u in used}) > 1 else {}


def to_srt(segments: Iterable[Segment], speakers: SpeakerNames | None = None) -> str:
    """Render segments as SubRip (.srt), with a ``Name:`` prefix when speakers differ."""
    segs = [s for s in segments if s.text.strip()]
    shown = _shown_speakers(segs, speakers)
    out = []
    for n, seg in enumerate(segs, start=1):
        end = max(seg.end, seg.start + 0.001)
        name = shown.get(seg.speaker) if seg.speaker is not None else None
        text = f"{name}: {_cue_text(seg.text)}" if name else _cue_text(seg.text)
        out.append(f"{n}\n{_srt_time(seg.start)} --> {_srt_time(end)}\n{text}\n")
    return "\n".join(out)


def to_vtt(segments: Iterable[Segment], speakers: SpeakerNames | None = None) -> str:
    """Render segments as WebVTT (.vtt), with ``<v Name>`` voice spans when speakers differ."""
    segs = [s for s in segments if s.text.strip()]
    shown = _shown_speakers(segs, speakers)
    out = ["WEBVTT\n"]
    for seg in segs:
        end = max(seg.end, seg.start + 0.001)
        start_s, end_s = _srt_time(seg.start).replace(",", "."), _srt_time(end).replace(",", ".")
        # "<", ">" and "&" are markup in WebVTT cue text.
        text = html.escape(_cue_text(seg.text), quote=False)
        name = shown.get(seg.speaker) if seg.speaker is not None else None
        if name:
            voice = html.escape(name, quote=False).replace(">", "&gt;")
            text = f"<v {voice}>{text}"
        out.append(f"{start_s} --> {end_s}\n{text}\n")
    return "\n".join(out)


def to_txt(segments: Iterable[Segment], speakers: SpeakerNames | None = None) -> str:
    """Render segments as plain text, one line per segment with its start time."""
    segs = list(segments)
    shown = _shown_speakers(segs, speakers)
    lines = []
    for s in segs:
        name = shown.get(s.speaker) if s.speaker is not None else None
        prefix = f"{name}: " if name else ""
        lines.append(f"[{format_timestamp(s.start)}] {prefix}{s.text.strip()}\n")
    return "".join(lines)


def to_json(segments: Iterable[Segment], speakers: SpeakerNames | None = None) -> str:
    """Render segments (with word timings where known) as a JSON list.

    ``speaker`` is the speaker's library-wide name (a profile's name, or ``Speaker N``), or
    ``null`` for an item that was not diarized.
    """
    rows = []
    for s in segments:
        row = asdict(s)
        row["speaker"] = (speakers or {}).get(s.speaker) if s.speaker is not None else None
        rows.append(row)
    return json.dumps(rows, ensure_ascii=False, indent=2)


_TIME = re.compile(
    r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})\s*-->\s*(?:(\d+):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})"
)
_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")


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
