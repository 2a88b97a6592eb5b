"""The GE2E speaker encoder on onnxruntime: 1.6 s windows of 16 kHz audio to unit vectors.

The encoder's input is mel *power* (not log-scaled), so a window's loudness changes its
embedding (the same clip 20 dB quieter measured cosine 0.74 against itself). Every window is
therefore brought to the level resemblyzer normalised its training audio to (-30 dBFS) before
it is encoded.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from core.errors import ModelError
from core.speakers.frontend import HOP, WINDOW_FRAMES, mel_spectrogram

if TYPE_CHECKING:
    import onnxruntime

EMBEDDING_DIM = 256
WINDOW_SAMPLES = WINDOW_FRAMES * HOP  # 1.6 s
TARGET_DBFS = -30.0
BATCH = 64

_sessions: dict[tuple[str, int], onnxruntime.InferenceSession] = {}
_lock = threading.Lock()


def _session(path: Path, threads: int) -> onnxruntime.InferenceSession:
    import onnxruntime as ort

    key = (str(path), threads)
    with _lock:
        if key not in _sessions:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
            # Runs beside transcription on a small machine: idle threads sleep, not spin.
            opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
            try:
                _sessions[key] = ort.InferenceSession(
                    str(path), opts, providers=["CPUExecutionProvider"]
                )
            except Exception as exc:  # onnxruntime raises untyped errors for bad files
                raise ModelError(
                    f"The speaker encoder {path} could not be loaded ({exc}).",
                    fix="Restore core/data/speaker from the repository "
                    "(or rebuild it with python -m models.speaker.export).",
                ) from exc
        return _sessions[key]


class SpeakerEncoder:
    """Embeds windows of audio; the ONNX session is loaded once per process and thread count."""

    def __init__(self, threads: int = 1, path: Path | None = None) -> None:
        """Locate (and verify) the shipped graph; it is loaded on first use.

        Raises:
            ModelError: The graph is missing or damaged.
        """
        from core.registry import speaker_encoder_path

        self.path = path or speaker_encoder_path()
        self.threads = max(1, threads)

    def embed_frames(self, mels: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Run the encoder on ``[n, 160, 40]`` mel windows; returns ``[n, 256]`` unit rows."""
        session = _session(self.path, self.threads)
        out = np.zeros((mels.shape[0], EMBEDDING_DIM), dtype=np.float32)
        for i in range(0, mels.shape[0], BATCH):
            out[i : i + BATCH] = session.run(None, {"mels": mels[i : i + BATCH]})[0]
        return out

    def embed(
        self, audio: npt.NDArray[np.float32], starts: npt.NDArray[np.int64] | list[int]
    ) -> npt.NDArray[np.float32]:
        """Embed the 1.6 s windows of ``audio`` (16 kHz mono) starting at sample ``starts``.

        Each window is brought to -30 dBFS first (see the module docstring). A window running
        past the end of the audio is zero-padded.

        Returns:
            ``[len(starts), 256]`` unit vectors.
        """
        starts = np.asarray(starts, dtype=np.int64)
        if starts.size == 0:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        need = int(starts.max()) + WINDOW_SAMPLES
        x = np.asarray(audio, dtype=np.float32)
        if x.shape[0] < need:
            x = np.pad(x, (0, need - x.shape[0]))
        mel = mel_spectrogram(x)
        first = starts // HOP
        mels = np.stack([mel[f : f + WINDOW_FRAMES] for f in first]).astype(np.float32)
        energy = np.concatenate([[0.0], np.cumsum(x.astype(np.float64) ** 2)])
        power = (energy[starts + WINDOW_SAMPLES] - energy[starts]) / WINDOW_SAMPLES
        target = 10 ** (TARGET_DBFS / 10)  # mean square at -30 dBFS
        gain = target / np.maximum(power, 1e-10)
        mels *= gain.astype(np.float32)[:, None, None]
        return self.embed_frames(mels)
