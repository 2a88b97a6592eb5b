"""Resemblyzer's GE2E speaker encoder as a torch module (same layers, same state-dict keys).

Three LSTM layers (40 mel bands in, 256 hidden) read 160 frames; the last layer's final hidden
state goes through a 256x256 linear layer and a ReLU and is L2-normalised.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

N_MELS = 40
HIDDEN = 256
EMBEDDING = 256
LAYERS = 3


class GE2EEncoder(nn.Module):
    """``[batch, frames, 40]`` mel power frames to ``[batch, 256]`` unit speaker embeddings."""

    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(N_MELS, HIDDEN, LAYERS, batch_first=True)
        self.linear = nn.Linear(HIDDEN, EMBEDDING)
        self.relu = nn.ReLU()

    def forward(self, mels: torch.Tensor) -> torch.Tensor:
        """Embed a batch of windows."""
        _, (hidden, _) = self.lstm(mels)
        raw = self.relu(self.linear(hidden[-1]))
        # The epsilon only matters for an all-zero (silent, ReLU-killed) output.
        out: torch.Tensor = raw / (torch.linalg.vector_norm(raw, dim=1, keepdim=True) + 1e-12)
        return out


def load_encoder(checkpoint: Path) -> GE2EEncoder:
    """Load resemblyzer's ``pretrained.pt`` into :class:`GE2EEncoder` (eval mode)."""
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = GE2EEncoder()
    weights = {k: v for k, v in state["model_state"].items() if not k.startswith("similarity_")}
    model.load_state_dict(weights, strict=True)
    model.eval()
    return model
