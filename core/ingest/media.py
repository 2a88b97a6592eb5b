"""Reading media files: what is in them (probe) and their audio as 16 kHz mono (decode).

PyAV (FFmpeg) does the work. Every failure becomes a :class:`~core.errors.MediaError` subclass
whose message names the file and what to do.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import MediaError, NoAudioError, PathMissingError, UnsupportedMediaError

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000

AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".webm", ".mov", ".m4v"})
SUBTITLE_EXTENSIONS = frozenset({".srt", ".vtt"})
MEDIA_EXTENSIONS = AUDIO_EXTENSIONS | VIDEO_EXTENSIONS

# A decode that yields less than this share of the duration the container announces is a
# truncated or damaged file, not a short one.
_MIN_DECODED_SHARE = 0.8


@dataclass(frozen=True)
class MediaInfo:
    """What a media file contains.

    Attributes:
        path: The file.
        kind: ``audio`` or ``video`` (a video has a picture track).
        container: FFmpeg's container name, e.g. ``mov,mp4,m4a,3gp,3g2,mj2``.
        audio_codec: The codec of the audio stream that will be transcribed.
        video_codec: The picture codec, or ``None``.
        duration: Seconds, as announced by the container (0.0 when unknown).
        title: From the file's tags, else from its name.
        tags: The container's metadata tags.
    """

    path: Path
    kind: str
    container: str
    audio_codec: str
    video_codec: str | None
    duration: float
    title: str
    tags: dict[str, str] = field(default_factory=dict)


def title_from_filename(path: Path) -> str:
    """Turn ``town_hall-q4_2024.mp4`` into ``town hall q4 2024``."""
    stem = re.sub(r"[_.]+", " ", path.stem)
    stem = re.sub(r"(?<=\S)-(?=\S)", " ", stem)  # joined-words, but keep "Talk - Guest"
    return re.sub(r"\s+", " ", stem).strip() or path.name


def check_readable(path: Path) -> None:
    """Raise a clear error when ``path`` is missing, not a file, empty or unreadable."""
    if not path.exists():
        raise PathMissingError(
            f"{path}: no such file or folder.", fix="Check the path and try again."
        )
    if not path.is_file():
        raise UnsupportedMediaError(f"{path}: not a regular file.")
    if not os.access(path, os.R_OK):
        raise MediaError(
            f"{path}: permission denied.", fix="Make the file readable (chmod +r) and retry."
        )
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes).", fix="Re-copy or re-export it.")


def _open(path: Path) -> Any:
    import av

    check_readable(path)
    try:
        return av.open(str(path), metadata_errors="ignore")
    except PermissionError as exc:
        raise MediaError(
            f"{path}: permission denied.", fix="Make the file readable (chmod +r) and retry."
        ) from exc
    except (av.error.InvalidDataError, av.error.EOFError) as exc:
        raise UnsupportedMediaError(
            f"{path}: not a media file FFmpeg can read, or it is corrupt ({exc.strerror}).",
            fix="Check that the file plays in a media player; re-export or re-download it.",
        ) from exc
    except av.error.FFmpegError as exc:
        raise MediaError(f"{path}: cannot be opened ({exc}).") from exc


def probe(path: Path) -> MediaInfo:
    """Read a media file's streams, duration and tags without decoding it.

    Raises:
        PathMissingError: The file does not exist.
        UnsupportedMediaError: It is not a media file FFmpeg can read.
        NoAudioError: It has no audio stream.
        MediaError: It is empty, unreadable or otherwise broken.
    """
    with _open(path) as container:
        audio = next(iter(container.streams.audio), None)
        video = next(
            (
                s
                for s in container.streams.video
                # Cover art in MP3/M4A is a one-frame "video" stream; it is not a picture track.
                if not (s.disposition & 0x400)  # AV_DISPOSITION_ATTACHED_PIC
            ),
            None,
        )
        if audio is None:
            what = "a video with no audio stream" if video is not None else "no audio stream"
            raise NoAudioError(
                f"{path}: {what}, so there is nothing to transcribe.",
                fix="Use a file with a sound track, or add a same-named .srt/.vtt and use "
                "--prefer-subtitles.",
            )
        duration = 0.0
        if container.duration:
            duration = float(container.duration) / 1_000_000
        elif audio.duration and audio.time_base:
            duration = float(audio.duration * audio.time_base)
        # Ogg and some Matroska files keep their tags on the stream, not the container.
        tags = {str(k).lower(): str(v) for k, v in (audio.metadata or {}).items()}
        tags.update({str(k).lower(): str(v) for k, v in (container.metadata or {}).items()})
        title = tags.get("title", "").strip() or title_from_filename(path)
        return MediaInfo(
            path=path,
            kind="video" if video is not None else "audio",
            container=container.format.name,
            audio_codec=audio.codec_context.name,
            video_codec=video.codec_context.name if video is not None else None,
            duration=duration,
            title=title,
            tags=tags,
        )


def decode_audio(path: Path, expected_duration: float = 0.0) -> npt.NDArray[np.float32]:
    """Decode the first audio stream to 16 kHz mono float32 in [-1, 1].

    Stereo is averaged to mono, which keeps speech from either channel (two speakers on two
    channels both end up in the mix).

    Args:
        path: The media file.
        expected_duration: The container's announced duration, used to detect truncation.

    Raises:
        MediaError: The stream is corrupt or truncated.
    """
    import av

    pieces: list[npt.NDArray[np.float32]] = []
    errors = 0
    with _open(path) as container:
        stream = next(iter(container.streams.audio), None)
        if stream is None:
            raise NoAudioError(f"{path}: no audio stream, so there is nothing to transcribe.")
        resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        try:
            for packet in container.demux(stream):
                try:
                    for frame in packet.decode():
                        for out in resampler.resample(frame):
                            pieces.append(
                                np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1).copy()
                            )
                except av.error.InvalidDataError:
                    # A few bad packets in a long file are tolerable; their audio is silence.
                    errors += 1
            for out in resampler.resample(None):
                pieces.append(np.asarray(out.to_ndarray(), dtype=np.float32).reshape(-1).copy())
        except av.error.FFmpegError as exc:
            raise MediaError(
                f"{path}: the audio could not be decoded ({exc}); the file is corrupt.",
                fix="Re-export or re-download the file.",
            ) from exc
    audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
    decoded = audio.shape[0] / SAMPLE_RATE
    if decoded == 0.0:
        raise MediaError(
            f"{path}: no audio could be decoded ({errors} damaged packets); the file is corrupt.",
            fix="Re-export or re-download the file.",
        )
    if expected_duration > 2.0 and decoded < _MIN_DECODED_SHARE * expected_duration:
        raise MediaError(
            f"{path}: the file is truncated or damaged: only {decoded:.1f} s of its "
            f"{expected_duration:.1f} s of audio could be decoded.",
            fix="Re-copy or re-download the complete file.",
        )
    if errors:
        log.warning("%s: skipped %d damaged audio packets", path, errors)
    return audio.astype(np.float32, copy=False)


def video_frame(path: Path, at: float, width: int = 320) -> npt.NDArray[np.uint8] | None:
    """One frame of a video as an RGB array ``(h, w, 3)``, scaled to ``width`` pixels wide.

    Used for thumbnails. Seeks to the keyframe before ``at`` seconds and decodes forward to
    the first frame at or after it (or the last frame before the end).

    Returns:
        The frame, or None when the file has no picture track (audio, or cover art only).

    Raises:
        PathMissingError: The file does not exist.
        UnsupportedMediaError: It is not a media file FFmpeg can read.
        MediaError: It is unreadable or broken.
    """
    import av

    with _open(path) as container:
        stream = next(
            (s for s in container.streams.video if not (s.disposition & 0x400)),
            None,
        )
        if stream is None:
            return None
        stream.thread_type = "AUTO"
        frame = None
        try:
            if at > 0 and stream.time_base:
                container.seek(int(at / stream.time_base), stream=stream, backward=True)
            for candidate in container.decode(stream):
                frame = candidate
                if candidate.time is None or candidate.time >= at:
                    break
        except av.error.FFmpegError as exc:
            if frame is None:
                raise MediaError(f"{path}: cannot decode a video frame ({exc}).") from exc
        if frame is None:
            return None
        height = max(2, round(frame.height * width / max(1, frame.width)) // 2 * 2)
        rgb: npt.NDArray[np.uint8] = frame.reformat(
            width=width, height=height, format="rgb24"
        ).to_ndarray()
        return rgb
