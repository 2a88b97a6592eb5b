"""The GE2E speaker encoder's input: a (not log-scaled) 40-band mel power spectrogram.

Resemblyzer computes it with ``librosa.feature.melspectrogram(sr=16000, n_fft=400,
hop_length=160, n_mels=40)``: a periodic Hann window of 400 samples, frames centred on every
160th sample (the signal padded by 200 samples at each end), the power spectrum, and librosa's
default Slaney-style mel filterbank (Slaney mel scale, area-normalised triangles, 0-8 kHz).
This module computes the same with numpy alone; ``python -m models.speaker.evaluate`` checks
it against librosa.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

SAMPLE_RATE = 16_000
N_FFT = 400  # 25 ms
HOP = 160  # 10 ms
N_MELS = 40
WINDOW_FRAMES = 160  # one encoder input: 1.6 s of frames


def _hz_to_mel(hz: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    # Slaney's scale: linear below 1 kHz (200/3 Hz per mel), logarithmic above.
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    mel = hz / f_sp
    high = hz >= min_log_hz
    mel[high] = min_log_mel + np.log(hz[high] / min_log_hz) / logstep
    return mel


def _mel_to_hz(mel: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    f_sp = 200.0 / 3
    min_log_hz, min_log_mel, logstep = 1000.0, 1000.0 / f_sp, np.log(6.4) / 27.0
    hz = mel * f_sp
    high = mel >= min_log_mel
    hz[high] = min_log_hz * np.exp(logstep * (mel[high] - min_log_mel))
    return hz


@functools.cache
def mel_filterbank() -> npt.NDArray[np.float32]:
    """The ``[N_MELS, N_FFT // 2 + 1]`` filterbank (librosa ``filters.mel`` defaults)."""
    fft_freqs = np.linspace(0, SAMPLE_RATE / 2, N_FFT // 2 + 1)
    edges = _mel_to_hz(
        np.linspace(
            _hz_to_mel(np.array([0.0]))[0],
            _hz_to_mel(np.array([SAMPLE_RATE / 2]))[0],
            N_MELS + 2,
        )
    )
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


@functools.cache
def _hann() -> npt.NDArray[np.float64]:
    n = np.arange(N_FFT)
    return 0.5 - 0.5 * np.cos(2 * np.pi * n / N_FFT)  # periodic, as scipy's fftbins=True


def mel_spectrogram(audio: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Mel power frames of 16 kHz mono audio, ``[1 + len(audio) // HOP, N_MELS]``.

    Frames are centred (zero padding at both ends, librosa's default ``pad_mode``) so frame
    ``i`` describes the audio around sample ``i * HOP``.
    """
    x = np.asarray(audio, dtype=np.float32)
    padded = np.pad(x, N_FFT // 2)
    count = 1 + (padded.shape[0] - N_FFT) // HOP
    if count <= 0:
        return np.zeros((0, N_MELS), dtype=np.float32)
    frames = np.lib.stride_tricks.as_strided(
        padded,
        shape=(count, N_FFT),
        strides=(padded.strides[0] * HOP, padded.strides[0]),
        writeable=False,
    )
    out = np.empty((count, N_MELS), dtype=np.float32)
    bank = mel_filterbank().T
    window = _hann().astype(np.float32)
    # In blocks, so an hour of audio never holds its whole complex spectrum in memory.
    for i in range(0, count, 4096):
        spec = np.fft.rfft(frames[i : i + 4096] * window, axis=1)
        power = (spec.real**2 + spec.imag**2).astype(np.float32)
        out[i : i + 4096] = power @ bank
    return out
