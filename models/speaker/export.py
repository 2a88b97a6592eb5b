"""Convert resemblyzer's GE2E encoder to the float ONNX model MediaMind ships.

``python -m models.speaker.export [--out FILE]`` reads ``resemblyzer/pretrained.pt`` from the
installed ``resemblyzer`` wheel (located through its package metadata; the module itself is
never imported: it needs librosa and webrtcvad, which MediaMind does not use), checks its
sha256 against the registry, and writes ``core/data/speaker/ge2e-speaker.onnx``.

The model stays float32: dynamic int8 quantisation of the LSTM measured cosine 0.3-0.4
against the float model (issue 17), i.e. it stops being a speaker encoder.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from core.registry import (
    SPEAKER_ENCODER_FILE,
    SPEAKER_SOURCE,
    model_file,
    shipped_speaker_dir,
)
from core.speakers.frontend import N_MELS, WINDOW_FRAMES
from models.speaker.model import load_encoder

# Opset 17: what the other shipped graphs use; LSTM has been standard since opset 7.
OPSET = 17


def source_checkpoint() -> Path:
    """The verified ``pretrained.pt`` of the installed resemblyzer wheel."""
    return model_file(SPEAKER_SOURCE)


def export(out: Path) -> Path:
    """Write the ONNX graph (input ``mels`` [batch, 160, 40], output ``embedding`` [batch, 256])."""
    model = load_encoder(source_checkpoint())
    example = torch.rand(2, WINDOW_FRAMES, N_MELS)
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (example,),
        str(out),
        input_names=["mels"],
        output_names=["embedding"],
        dynamic_axes={"mels": {0: "batch", 1: "frames"}, "embedding": {0: "batch"}},
        opset_version=OPSET,
        dynamo=False,
    )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Build the ONNX file and print its path, size and sha256 (for ``core/registry.py``)."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--out", type=Path, default=shipped_speaker_dir() / SPEAKER_ENCODER_FILE.path
    )
    args = parser.parse_args(argv)
    start = time.perf_counter()
    path = export(args.out)
    from core.registry import sha256_file

    print(f"wrote {path} in {time.perf_counter() - start:.1f} s")
    print(f"  size   {path.stat().st_size}")
    print(f"  sha256 {sha256_file(path)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
