"""Check the shipped speaker encoder against the original: ``python -m models.speaker.evaluate``.

On real speech (the clips of ``../shared/data/speech``, 1.6 s windows every 0.4 s):

1. The ONNX graph against resemblyzer's torch model on the same mel windows: per-window cosine
   (the target is at least 0.999 for every window).
2. The numpy mel front end against librosa's ``feature.melspectrogram`` (what resemblyzer calls),
   when librosa can be imported (``--librosa-path DIR`` adds a folder where it was installed
   with ``pip install --target DIR librosa``; MediaMind itself never needs it): relative error
   of the frames, and the end-to-end cosine of (numpy mel + ONNX) against (librosa + torch).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from core.ingest import decode_audio
from core.speakers.encoder import WINDOW_SAMPLES, SpeakerEncoder
from core.speakers.frontend import HOP, N_FFT, N_MELS, SAMPLE_RATE, WINDOW_FRAMES, mel_spectrogram
from models.speaker.export import source_checkpoint
from models.speaker.model import load_encoder

STEP = int(0.4 * SAMPLE_RATE)


def speech_clips(root: Path) -> list[Path]:
    """The evaluation clips: every FLEURS, LibriSpeech and MFA recording under ``root``."""
    found = [
        *sorted((root / "fleurs").glob("*.ogg")),
        *sorted((root / "librispeech").glob("*.flac")),
        *sorted((root / "mfa_spontaneous").glob("*.wav")),
    ]
    return [p for p in found if p.is_file()]


def windows(audio: npt.NDArray[np.float32]) -> list[int]:
    """Start samples of the 1.6 s windows every 0.4 s (at least one)."""
    return list(range(0, max(1, audio.shape[0] - WINDOW_SAMPLES + 1), STEP))


def _cos(a: npt.NDArray[np.float32], b: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.asarray(
        np.sum(a64 * b64, axis=1)
        / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1) + 1e-12)
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run both checks and print a summary (``--json``: machine-readable)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=None, help="the speech folder")
    parser.add_argument("--librosa-path", type=Path, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--clips", type=int, default=0, help="use every n-th clip only (0: all); for a busy box"
    )
    args = parser.parse_args(argv)
    from bench.data import shared_data

    root = args.data or shared_data("speech")
    clips = speech_clips(root)
    if args.clips > 1:
        clips = clips[:: args.clips]
    if not clips:
        print(f"error: no speech clips under {root} (set --data or MEDIAMIND_SHARED_DATA)")
        return 1
    if args.librosa_path is not None:
        sys.path.append(str(args.librosa_path))  # appended: it must not shadow our numpy
    try:
        import librosa  # type: ignore[import-not-found]
    except ImportError:
        librosa = None

    torch.set_num_threads(2)
    model = load_encoder(source_checkpoint())
    encoder = SpeakerEncoder(threads=2)
    onnx_vs_torch: list[float] = []
    e2e: list[float] = []
    mel_rel: list[float] = []
    for path in clips:
        audio = decode_audio(path)
        starts = windows(audio)
        padded = np.pad(audio, (0, max(0, starts[-1] + WINDOW_SAMPLES - audio.shape[0])))
        mel = mel_spectrogram(padded)
        mels = np.stack([mel[s // HOP : s // HOP + WINDOW_FRAMES] for s in starts])
        with torch.no_grad():
            ref = model(torch.from_numpy(mels)).numpy()
        got = encoder.embed_frames(mels)
        onnx_vs_torch.extend(_cos(ref, got).tolist())
        if librosa is not None:
            lib = librosa.feature.melspectrogram(
                y=padded, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS
            ).T.astype(np.float32)
            denom = float(np.max(lib)) + 1e-12
            mel_rel.append(float(np.max(np.abs(lib - mel)) / denom))
            lmels = np.stack([lib[s // HOP : s // HOP + WINDOW_FRAMES] for s in starts])
            with torch.no_grad():
                lref = model(torch.from_numpy(lmels)).numpy()
            e2e.extend(_cos(lref, got).tolist())
    result: dict[str, Any] = {
        "clips": len(clips),
        "windows": len(onnx_vs_torch),
        "onnx_vs_torch_cosine_min": min(onnx_vs_torch),
        "onnx_vs_torch_cosine_mean": float(np.mean(onnx_vs_torch)),
        "librosa": None if librosa is None else librosa.__version__,
    }
    if librosa is not None:
        result["mel_max_rel_error"] = max(mel_rel)
        result["end_to_end_cosine_min"] = min(e2e)
        result["end_to_end_cosine_mean"] = float(np.mean(e2e))
    ok = result["onnx_vs_torch_cosine_min"] >= 0.999 and (
        librosa is None or result["end_to_end_cosine_min"] >= 0.999
    )
    result["pass"] = ok
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:28} {value}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
