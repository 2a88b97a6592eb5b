"""Speech to text with faster-whisper (CTranslate2, int8 on the CPU).

The model is loaded once per process and per (model, threads). :meth:`Transcriber.transcribe`
is a generator, like faster-whisper's, so callers can show progress segment by segment.
"""

from __future__ import annotations

import itertools
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
    """Whisper decoding settings; the defaults were measured with ``python -m bench.ingest``.

    Attributes:
        beam_size: 1 is greedy decoding, about twice as fast as beam 5 on a 2-core CPU; the
            WER cost is in ``docs/benchmarks.md``.
        batch_size: Windows encoded and decoded together.
        max_window: Longest window in seconds (Whisper sees at most 30 s at once).
        pause: A pause (by voice activity) at least this long is a window boundary. Whisper,
            given a 28 s window that holds two speakers, often transcribes one and skips the
            other; cutting at pauses keeps windows to one utterance or speaker turn.
        min_frames: Shortest encoder input, in 10 ms mel frames.
        tail_frames: Silence kept after a window's audio. Whisper always pads to 30 s; encoding
            only the window plus this tail is several times cheaper, and without the tail the
            decoder does not see the speech end and may repeat itself.
    """

    beam_size: int = 1
    batch_size: int = 8
    max_window: float = 28.0
    pause: float = 0.5
    min_frames: int = 1000
    tail_frames: int = 300


def speech_windows(
    audio: npt.NDArray[np.float32], max_window: float = 28.0, pause: float = 0.5
) -> list[tuple[float, float]]:
    """Split a recording into consecutive windows that cover all of it.

    Boundaries go in the middle of pauses found by the Silero voice-activity model that ships
    with faster-whisper. VAD only places the cuts; no audio is dropped, because VAD filtering
    was measured to lose soft speech on joined recordings. A window still longer than
    ``max_window`` is cut at its quietest 200 ms.

    Returns:
        (start, end) pairs in seconds, in order, with no gaps between them.
    """
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    total = audio.shape[0] / SAMPLE_RATE
    if total == 0:
        return []
    regions = get_speech_timestamps(
        audio,
        VadOptions(
            threshold=0.35,
            min_silence_duration_ms=int(pause * 1000),
            min_speech_duration_ms=100,
            speech_pad_ms=0,
        ),
    )
    cuts = [0.0]
    for left, right in itertools.pairwise(regions):
        cuts.append((left["end"] + right["start"]) / 2 / SAMPLE_RATE)
    cuts.append(total)
    windows: list[tuple[float, float]] = []
    for start, end in itertools.pairwise(cuts):
        a = start
        while end - a > max_window:
            cut = _quietest_point(audio, a + 0.4 * (end - a), min(end, a + max_window))
            windows.append((a, cut))
            a = cut
        if end > a:
            windows.append((a, end))
    return windows


def _quietest_point(audio: npt.NDArray[np.float32], lo: float, hi: float) -> float:
    frame = 320  # 20 ms
    seg = audio[int(lo * SAMPLE_RATE) : int(hi * SAMPLE_RATE)].astype(np.float64)
    count = seg.shape[0] // frame
    if count < 2:
        return hi
    energy = np.mean(seg[: count * frame].reshape(count, frame) ** 2, axis=1)
    smooth = np.convolve(energy, np.ones(10) / 10, mode="same")
    return lo + int(np.argmin(smooth)) * frame / SAMPLE_RATE


_SENTENCE_END = (".", "?", "!")


def words_to_segments(words: list[Word], max_seconds: float = 12.0) -> list[Segment]:
    """Group words into subtitle-sized segments at sentence ends and pauses."""
    segments: list[Segment] = []
    current: list[Word] = []

    def close() -> None:
        if current:
            text = "".join(w.word for w in current).strip()
            segments.append(Segment(current[0].start, current[-1].end, text, tuple(current)))
            current.clear()

    for word in words:
        if current:
            pause = word.start - current[-1].end
            length = word.end - current[0].start
            ended = current[-1].word.strip().endswith(_SENTENCE_END)
            if (
                pause > 0.8
                or length > max_seconds
                or (ended and current[-1].end - current[0].start > 2.0)
            ):
                close()
        current.append(word)
    close()
    return segments


def _looks_repetitive(text: str, seconds: float) -> bool:
    """Whisper's decoding-failure signs: text that compresses too well, or too many words."""
    from faster_whisper.transcribe import get_compression_ratio

    words = len(text.split())
    return bool(text) and (get_compression_ratio(text) > 2.4 or words > 7 * max(seconds, 1.0))


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
        self, audio: npt.NDArray[np.float32], language: str | None = None
    ) -> tuple[TranscriptionInfo, Iterator[Segment]]:
        """Start transcribing; segments are produced lazily, a batch of windows at a time.

        Args:
            audio: 16 kHz mono samples.
            language: Force a language code instead of detecting it.

        Returns:
            The detected language and duration, and a generator of segments in time order.
        """
        decoder = _WindowDecoder(load_whisper(self.model_dir, self.threads), self.options)
        opts = self.options
        windows = speech_windows(audio, opts.max_window, opts.pause)
        language, probability = decoder.language(audio, windows, language)
        tinfo = TranscriptionInfo(language, probability, audio.shape[0] / SAMPLE_RATE)

        def generate() -> Iterator[Segment]:
            for i in range(0, len(windows), opts.batch_size):
                words = decoder.decode(audio, windows[i : i + opts.batch_size], language)
                yield from words_to_segments(words)

        return tinfo, generate()


def _one_blas_thread() -> Any:
    """A context in which numpy's BLAS runs on one thread.

    The mel spectrogram is a numpy matrix product whose float sums come out slightly different
    with another BLAS thread count, and Whisper's word timings and probabilities with them.
    Ray workers run with one BLAS thread (``OMP_NUM_THREADS=1``); computing the features on
    one thread everywhere makes a transcript the same whichever process made it.
    """
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1, user_api="blas")


class _WindowDecoder:
    """Batched Whisper decoding of given windows, encoding only as many frames as needed.

    Built on faster-whisper's batched pipeline (its ``forward`` does decoding and word
    alignment); only the padding differs, which is where most of the CPU time went.
    """

    def __init__(self, model: Any, options: DecodeOptions) -> None:
        self.model = model
        self.options = options
        self.pipeline = _batched_pipeline(model)

    def language(
        self, audio: npt.NDArray[np.float32], windows: list[tuple[float, float]], forced: str | None
    ) -> tuple[str, float]:
        if not self.model.model.is_multilingual:
            return "en", 1.0
        if forced or not windows:
            return forced or "en", 1.0
        # Detect once, on up to 30 s of the start, then decode every batch in that language.
        end = min(windows[-1][1], windows[0][0] + 30.0)
        segment = audio[int(windows[0][0] * SAMPLE_RATE) : int(end * SAMPLE_RATE)]
        with _one_blas_thread():
            language, probability, _ = self.model.detect_language(segment)
        return str(language), float(probability)

    def _options(self, language: str) -> tuple[Any, Any]:
        from faster_whisper.tokenizer import Tokenizer

        # The pipeline builds its options object inside transcribe(); asking it for a
        # (lazy, never run) transcription of one second gets exactly that object.
        _, info = self.pipeline.transcribe(
            np.zeros(SAMPLE_RATE, dtype=np.float32),
            clip_timestamps=[{"start": 0.0, "end": 1.0}],
            beam_size=self.options.beam_size,
            word_timestamps=True,
            language=language,
        )
        tokenizer = Tokenizer(
            self.model.hf_tokenizer,
            self.model.model.is_multilingual,
            task="transcribe",
            language=language,
        )
        return info.transcription_options, tokenizer

    def _features(
        self, audio: npt.NDArray[np.float32], window: tuple[float, float]
    ) -> npt.NDArray[np.float32]:
        a, b = window
        chunk = audio[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]
        return np.asarray(self.model.feature_extractor(chunk)[..., :-1], dtype=np.float32)

    def _run(
        self,
        feats: list[npt.NDArray[np.float32]],
        windows: list[tuple[float, float]],
        frames: int,
        options: Any,
        tokenizer: Any,
    ) -> list[list[dict[str, Any]]]:
        from faster_whisper.audio import pad_or_trim

        batch = np.stack([pad_or_trim(f, frames) for f in feats])
        meta = [
            {"offset": a, "duration": b - a, "segments": [{"start": a, "end": b}]}
            for a, b in windows
        ]
        result: list[list[dict[str, Any]]] = self.pipeline.forward(batch, tokenizer, meta, options)
        return result

    def decode(
        self, audio: npt.NDArray[np.float32], windows: list[tuple[float, float]], language: str
    ) -> list[Word]:
        if not windows:
            return []
        options, tokenizer = self._options(language)
        with _one_blas_thread():
            feats = [self._features(audio, w) for w in windows]
        longest = max(f.shape[-1] for f in feats)
        frames = min(
            3000, max(self.options.min_frames, -(-longest // 100) * 100 + self.options.tail_frames)
        )
        outputs = self._run(feats, windows, frames, options, tokenizer)
        if frames < 3000:
            # A window whose text looks like a decoding loop is decoded again the standard
            # way, padded to the full 30 s.
            bad = [
                i
                for i, (w, out) in enumerate(zip(windows, outputs, strict=True))
                if _looks_repetitive(" ".join(s["text"] for s in out), w[1] - w[0])
            ]
            if bad:
                redo = self._run(
                    [feats[i] for i in bad], [windows[i] for i in bad], 3000, options, tokenizer
                )
                for i, out in zip(bad, redo, strict=True):
                    outputs[i] = out
        words: list[Word] = []
        for out in outputs:
            for seg in out:
                words.extend(
                    Word(
                        float(w["start"]), float(w["end"]), str(w["word"]), float(w["probability"])
                    )
                    for w in seg.get("words") or ()
                )
        return words


_PIPELINES: dict[int, Any] = {}


def _batched_pipeline(model: Any) -> Any:
    with _MODELS_LOCK:
        if id(model) not in _PIPELINES:
            from faster_whisper import BatchedInferencePipeline

            _PIPELINES[id(model)] = BatchedInferencePipeline(model)
        return _PIPELINES[id(model)]
