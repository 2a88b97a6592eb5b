"""core.ingest.transcribe's window logic on built inputs: where audio is cut, how words are grouped,
and the re-decode of a window whose text looks like a decoding loop.

The speech is the committed JFK clip (real speech for the real Silero VAD), laid out with
silences and repeats so that the right answer is known in advance.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from core.ingest.media import SAMPLE_RATE, decode_audio
from core.ingest.transcribe import (
    DecodeOptions,
    Transcriber,
    _looks_repetitive,
    _quietest_point,
    _WindowDecoder,
    load_whisper,
    speech_windows,
    words_to_segments,
)
from core.transcript import Word

# Where the VAD (threshold 0.35, as speech_windows uses it) hears speech in jfk.flac.
JFK_SPEECH = (0.32, 11.0)


@pytest.fixture(scope="module")
def speech(jfk: Path) -> npt.NDArray[np.float32]:
    return decode_audio(jfk)


def _silence(seconds: float) -> npt.NDArray[np.float32]:
    return np.zeros(int(seconds * SAMPLE_RATE), dtype=np.float32)


def _check_layout(windows: list[tuple[float, float]], total: float, longest: float) -> None:
    assert windows, "speech gave no window"
    assert all(a < b for a, b in windows)
    assert all(b - a <= longest + 1e-6 for a, b in windows)
    assert all(w[1] <= n[0] + 1e-9 for w, n in itertools.pairwise(windows))
    assert windows[0][0] >= 0.0 and windows[-1][1] <= total + 1e-9


def _covered(windows: list[tuple[float, float]], start: float, end: float) -> bool:
    """Whether [start, end] lies inside the union of the windows (no speech dropped)."""
    at = start
    for a, b in windows:
        if a <= at + 1e-6 < b:
            at = b
    return at >= end - 1e-6


def test_a_pause_between_utterances_is_a_cut_and_no_speech_is_dropped(
    speech: npt.NDArray[np.float32],
) -> None:
    audio = np.concatenate([speech, _silence(2.0), speech])
    total = audio.shape[0] / SAMPLE_RATE
    windows = speech_windows(audio)
    _check_layout(windows, total, 28.0)
    second = (13.0 + JFK_SPEECH[0], 13.0 + JFK_SPEECH[1])
    assert _covered(windows, *JFK_SPEECH) and _covered(windows, *second)
    # The 2 s of silence holds a boundary, so no window spans both utterances.
    cuts = [b for _, b in windows[:-1]]
    assert any(JFK_SPEECH[1] <= c <= second[0] for c in cuts), cuts


def test_speech_without_a_long_enough_pause_is_cut_under_max_window_at_quiet_points(
    speech: npt.NDArray[np.float32],
) -> None:
    # With pauses of 2 s required, the clip is one VAD region; 4 s windows force cuts in it.
    windows = speech_windows(speech, max_window=4.0, pause=2.0)
    _check_layout(windows, speech.shape[0] / SAMPLE_RATE, 4.0)
    assert len(windows) >= 3 and _covered(windows, 0.0, speech.shape[0] / SAMPLE_RATE)
    assert all(_quiet(speech, cut) for _, cut in windows[:-1]), windows


def _quiet(audio: npt.NDArray[np.float32], at: float) -> bool:
    """Whether the 100 ms around ``at`` is quieter than the recording's median 20 ms frame."""
    energy = np.mean(audio[: audio.shape[0] // 320 * 320].reshape(-1, 320) ** 2, axis=1)
    frame = int(at * 50)
    return bool(energy[max(0, frame - 2) : frame + 3].mean() < np.median(energy))


def test_a_recording_over_28_seconds_without_pauses_gets_windows_of_at_most_28(
    speech: npt.NDArray[np.float32],
) -> None:
    # 77 s back to back, one VAD region: more than 2.5 windows long, where the quiet-point
    # search once started past the window's end and every cut fell at exactly 28 s.
    audio = np.concatenate([speech] * 7)
    windows = speech_windows(audio, max_window=28.0, pause=5.0)
    _check_layout(windows, 77.0, 28.0)
    assert len(windows) >= 3 and _covered(windows, JFK_SPEECH[0], 77.0)
    assert all(_quiet(audio, cut) for _, cut in windows[:-1]), windows


def test_empty_audio_has_no_windows() -> None:
    assert speech_windows(np.zeros(0, dtype=np.float32)) == []


def _noise(seconds: float, seed: int = 0) -> npt.NDArray[np.float32]:
    rng = np.random.default_rng(seed)
    return (0.3 * rng.standard_normal(int(seconds * SAMPLE_RATE))).astype(np.float32)


@pytest.mark.parametrize("depth", [0.01, 0.5, 0.75])
def test_quietest_point_finds_a_dip_even_a_shallow_one(depth: float) -> None:
    audio = _noise(3.0)
    audio[int(1.5 * SAMPLE_RATE) : int(1.7 * SAMPLE_RATE)] *= depth
    # A 75% amplitude dip is 56% of the energy: the edges of the range, which once averaged
    # in missing frames as silence, must not look quieter than it.
    assert 1.45 <= _quietest_point(audio, 0.0, 3.0) <= 1.75


def test_quietest_point_is_relative_to_the_range_and_short_ranges_end_it() -> None:
    audio = _noise(6.0)
    audio[int(4.0 * SAMPLE_RATE) : int(4.2 * SAMPLE_RATE)] = 0.0
    assert 3.95 <= _quietest_point(audio, 2.0, 6.0) <= 4.25
    assert _quietest_point(audio, 5.0, 5.01) == 5.01  # under two 20 ms frames: the range end


def _words(spec: list[tuple[float, float, str]]) -> list[Word]:
    return [Word(a, b, w, 0.9) for a, b, w in spec]


def test_words_become_segments_at_pauses_sentence_ends_and_length() -> None:
    words = _words(
        [
            (0.0, 0.5, " Ask"),
            (0.5, 1.0, " not"),
            (1.0, 1.8, " what."),  # a sentence end, but the segment is under 2 s: goes on
            (1.8, 2.5, " Your"),
            (2.5, 3.5, " country."),  # a sentence end after 3.5 s: cut here
            (3.6, 4.0, " Can"),
            (5.0, 5.5, " do"),  # a 1 s pause: cut before
        ]
    )
    segments = words_to_segments(words)
    assert [s.text for s in segments] == ["Ask not what. Your country.", "Can", "do"]
    assert [(s.start, s.end) for s in segments] == [(0.0, 3.5), (3.6, 4.0), (5.0, 5.5)]
    assert segments[0].words == tuple(words[:5])


def test_a_run_on_sentence_is_cut_at_max_seconds() -> None:
    words = _words([(i * 0.5, i * 0.5 + 0.4, f" w{i}") for i in range(60)])  # 30 s, no stops
    segments = words_to_segments(words, max_seconds=12.0)
    assert len(segments) == 3
    assert all(s.end - s.start <= 12.0 for s in segments)
    assert sum(len(s.words or ()) for s in segments) == 60


def test_no_words_no_segments() -> None:
    assert words_to_segments([]) == []


@pytest.mark.parametrize(
    ("text", "seconds", "looping"),
    [
        ("And so, my fellow Americans, ask not what your country can do for you.", 5.0, False),
        ("the the the the the the the the the the the the the the the the the the", 10.0, True),
        ("Thank you. " * 12, 20.0, True),  # compresses far better than speech does
        ("one two three four five six seven eight nine ten eleven twelve", 1.0, True),
        ("", 3.0, False),
    ],
)
def test_decoding_loop_signs(text: str, seconds: float, looping: bool) -> None:
    assert _looks_repetitive(text, seconds) is looping


class _LoopingFirstPass(_WindowDecoder):
    """The real decoder, with a decoding loop injected into the short-padded first pass."""

    def __init__(self, model: Any, options: DecodeOptions) -> None:
        super().__init__(model, options)
        self.frames: list[tuple[int, int]] = []

    def _run(self, feats, windows, frames, options, tokenizer):  # type: ignore[no-untyped-def]
        outputs, languages = super()._run(feats, windows, frames, options, tokenizer)
        self.frames.append((frames, len(windows)))
        if frames < 3000:
            loop = {"text": " you" * 80, "words": [], "start": 0.0, "end": 1.0}
            outputs[1] = [loop]
        return outputs, languages


def test_a_window_that_loops_is_decoded_again_padded_to_30_seconds(
    speech: npt.NDArray[np.float32],
) -> None:
    transcriber = Transcriber("tiny.en", threads=1)
    decoder = _LoopingFirstPass(load_whisper(transcriber.model_dir, 1), DecodeOptions())
    windows = [(0.0, 5.5), (5.5, 11.0)]
    words = decoder.decode(speech, windows, "en")
    # One short-padded pass of both windows, then only the looping one again at 3000 frames.
    assert decoder.frames[0][0] < 3000 and decoder.frames[0][1] == 2
    assert decoder.frames[1:] == [(3000, 1)]
    text = "".join(w.word for w in words).lower()
    assert "country" in text and "for you" in text  # the second half is the redo's real text
    assert all(w.start >= 5.5 - 0.5 for w in words if "country" in w.word.lower())
