"""Spoken-language routing: English to the fast English model, other speech to a multilingual one.

The English model (tiny.en) cannot tell languages apart and turns German into English
nonsense; the multilingual model (Whisper base) is about twice as slow. Running base's
language detection on every file would cost English recordings more than their transcription
(a 30 s base encoder pass against a few tiny.en windows), so detection is asked only where the
English model is unsure:

1. Every window is decoded by the English model first (its token budget capped, so a window
   it cannot follow stops early instead of looping to Whisper's 448-token limit).
2. A window whose mean word probability is under :data:`UNSURE_BELOW`, or whose text has the
   signs of a decoding loop, goes to the multilingual model's language detection (encoding
   only that window's frames).
3. A window detected as another language is decoded again by the multilingual model in the
   language it hears there; once most of a batch is not English, the rest of the file goes to
   the multilingual model directly (each window in its own detected language), so a German
   file pays for one English batch, not for every window twice.

English speech that the English model is sure of never loads the multilingual model. The
thresholds and their measurements are in ``docs/languages.md`` (``python -m bench.languages``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from core.errors import ModelError, UsageError
from core.ingest.media import SAMPLE_RATE
from core.ingest.transcribe import (
    DecodeOptions,
    Transcriber,
    WindowText,
    _WindowDecoder,
    load_whisper,
    speech_windows,
    words_to_segments,
)
from core.transcript import Segment

log = logging.getLogger(__name__)

ENGLISH_MODEL = "tiny.en"
MULTILINGUAL_MODEL = "base"
AUTO = "auto"

# Mean word probability of a tiny.en window under which its language is checked. On the
# English clips of the shared data (LibriSpeech, FLEURS-en, JFK, a spontaneous dialogue) every
# clip's mean is 0.79 or more; tiny.en on German/French/Spanish/Portuguese speech gives
# 0.18-0.61 unless it loops (which the loop check catches).
UNSURE_BELOW = 0.7
# A detected language must be at least this likely to take a window away from English.
DETECTED_MIN = 0.5
# The English model's token budget per second of window (plus a margin): fast English speech
# is about 4 tokens a second; a window that reaches the cap is a loop and is checked anyway.
TOKENS_PER_SECOND = 8
TOKENS_MARGIN = 32


def check_language(code: str | None) -> str | None:
    """Normalise a ``--language`` value; ``None`` or ``auto`` means detect.

    Raises:
        UsageError: The code is not a language Whisper knows.
    """
    if code is None or code.strip().lower() in ("", AUTO):
        return None
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    norm = code.strip().lower()
    if norm not in _LANGUAGE_CODES:
        raise UsageError(
            f"Unknown language {code!r}.",
            fix="Use a two-letter code Whisper knows, e.g. en, de, fr, es, pt (or auto).",
        )
    return norm


@dataclass
class RoutedInfo:
    """What routing found out; complete once the segment generator is exhausted.

    Attributes:
        language: The language of most of the speech (seconds of windows).
        language_probability: The detector's probability for it (1.0 when forced or when the
            English model was sure).
        duration: Seconds of audio.
        seconds: Seconds of speech windows per language.
        models: Seconds of speech windows per model id that decoded them.
    """

    language: str
    language_probability: float
    duration: float
    seconds: dict[str, float] = field(default_factory=dict)
    models: dict[str, float] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        """The model(s) that made the transcript, most-used first, e.g. ``whisper:base``."""
        if not self.models:
            return f"whisper:{ENGLISH_MODEL}"
        names = sorted(self.models, key=lambda m: -self.models[m])
        return "whisper:" + "+".join(n.removeprefix("whisper:") for n in names)

    def add(self, texts: list[WindowText], model_id: str) -> None:
        """Count decoded windows towards the languages and models of the file."""
        for t in texts:
            if not t.words:
                continue
            span = t.window[1] - t.window[0]
            self.seconds[t.language] = self.seconds.get(t.language, 0.0) + span
            self.models[model_id] = self.models.get(model_id, 0.0) + span
        if self.seconds:
            self.language = max(self.seconds, key=lambda lang: self.seconds[lang])


class LanguageRouter:
    """Transcribes with the English or the multilingual model, by the language spoken.

    Has :class:`~core.ingest.transcribe.Transcriber`'s ``transcribe`` shape; the models are loaded
    on first need and cached per process.
    """

    def __init__(
        self,
        english: str = ENGLISH_MODEL,
        multilingual: str = MULTILINGUAL_MODEL,
        threads: int | None = None,
        options: DecodeOptions | None = None,
    ) -> None:
        """Resolve the English model now (it is always needed); the multilingual one lazily.

        Raises:
            ModelError: The English model is missing or damaged.
        """
        self.english = Transcriber(english, threads=threads, options=options)
        self.multilingual_name = multilingual
        self._multilingual: Transcriber | None = None
        self.threads = self.english.threads
        self.options = self.english.options

    def multilingual(self) -> Transcriber:
        """The multilingual transcriber (resolved, and checked, on first use).

        Raises:
            ModelError: It is missing, damaged, or English-only.
        """
        if self._multilingual is None:
            t = Transcriber(self.multilingual_name, threads=self.threads, options=self.options)
            if not load_whisper(t.model_dir, t.threads, t.compute_type).model.is_multilingual:
                raise ModelError(
                    f"The Whisper model {self.multilingual_name} is English-only.",
                    fix="Choose a multilingual Whisper model (e.g. base) for other languages.",
                )
            self._multilingual = t
        return self._multilingual

    def _decoder(self, t: Transcriber) -> _WindowDecoder:
        return _WindowDecoder(load_whisper(t.model_dir, t.threads, t.compute_type), self.options)

    def transcribe(
        self, audio: npt.NDArray[np.float32], language: str | None = None
    ) -> tuple[RoutedInfo, Iterator[Segment]]:
        """Start transcribing; the first batch of windows is decoded before this returns.

        Args:
            audio: 16 kHz mono samples.
            language: Force a language: ``en`` uses the English model only, any other the
                multilingual model in that language for every window.

        Returns:
            What is known of the language and models (updated while the generator runs), and
            a generator of segments in time order.

        Raises:
            ModelError: A model that is needed is missing or damaged.
        """
        opts = self.options
        windows = speech_windows(audio, opts.max_window, opts.pause)
        batches = [
            windows[i : i + opts.batch_size] for i in range(0, len(windows), opts.batch_size)
        ]
        info = RoutedInfo(language or "en", 1.0, audio.shape[0] / SAMPLE_RATE)
        if language is not None:
            return info, self._forced(audio, batches, language, info)
        first = self._route_batch(audio, batches[0], info) if batches else []

        def generate() -> Iterator[Segment]:
            texts = first
            for n, batch in enumerate(batches):
                if n > 0:
                    texts = self._route_batch(audio, batch, info)
                yield from words_to_segments([w for t in texts for w in t.words])

        return info, generate()

    def _forced(
        self,
        audio: npt.NDArray[np.float32],
        batches: list[list[tuple[float, float]]],
        language: str,
        info: RoutedInfo,
    ) -> Iterator[Segment]:
        t = self.english if language == "en" else self.multilingual()
        decoder = self._decoder(t)
        for batch in batches:
            texts = decoder.decode_windows(audio, batch, language)
            info.add(texts, t.model_id)
            yield from words_to_segments([w for t in texts for w in t.words])

    def _route_batch(
        self, audio: npt.NDArray[np.float32], batch: list[tuple[float, float]], info: RoutedInfo
    ) -> list[WindowText]:
        """Decode one batch of windows, each by the model for its language."""
        foreign = [lang for lang in info.seconds if lang != "en"]
        if foreign and sum(info.seconds[x] for x in foreign) > info.seconds.get("en", 0.0):
            # Mostly another language so far: no English pass first.
            return self._multilingual_decode(audio, batch, info.language, info)
        english = self._decoder(self.english)
        longest = max(b - a for a, b in batch)
        cap = int(TOKENS_PER_SECOND * longest) + TOKENS_MARGIN
        texts = english.decode_windows(audio, batch, "en", max_new_tokens=cap, redo=False)
        unsure = [i for i, t in enumerate(texts) if t.words and _unsure(t)]
        detected: dict[int, tuple[str, float]] = {}
        if unsure:
            try:
                multi = self._decoder(self.multilingual())
            except ModelError as exc:
                if self.multilingual_name != MULTILINGUAL_MODEL:
                    raise  # a model the user chose: say what is wrong with it
                # Without base installed, transcribe as before (English) and say why.
                log.warning("Language detection skipped: %s", exc)
                multi = None
            if multi is not None:
                found = multi.detect(audio, [batch[i] for i in unsure])
                detected = dict(zip(unsure, found, strict=True))
        other = [i for i, (lang, p) in detected.items() if lang != "en" and p >= DETECTED_MIN]
        # English after all, but possibly cut by the cap (a token is at least 0.6 words).
        redo_en = [
            i
            for i in unsure
            if i not in other and (texts[i].repetitive or len(texts[i].words) > 0.6 * cap)
        ]
        result = list(texts)
        english_done = [t for i, t in enumerate(texts) if i not in other and i not in redo_en]
        info.add(english_done, self.english.model_id)
        if redo_en:
            again = english.decode_windows(audio, [batch[i] for i in redo_en], "en")
            info.add(again, self.english.model_id)
            for i, t in zip(redo_en, again, strict=True):
                result[i] = t
        if other:
            votes: dict[str, float] = {}
            for i in other:
                lang, p = detected[i]
                votes[lang] = votes.get(lang, 0.0) + p
            fallback = max(votes, key=lambda lang: votes[lang])
            info.language_probability = max(p for i in other for _, p in [detected[i]])
            redone = self._multilingual_decode(audio, [batch[i] for i in other], fallback, info)
            for i, t in zip(other, redone, strict=True):
                result[i] = t
        return result

    def _multilingual_decode(
        self,
        audio: npt.NDArray[np.float32],
        windows: list[tuple[float, float]],
        fallback: str,
        info: RoutedInfo,
    ) -> list[WindowText]:
        t = self.multilingual()
        texts = self._decoder(t).decode_windows(audio, windows, fallback, per_window=True)
        info.add(texts, t.model_id)
        return texts


def _unsure(text: WindowText) -> bool:
    return text.mean_probability < UNSURE_BELOW or text.repetitive
