"""Where the shared evaluation data lives (read in place, never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def shared_data(*parts: str) -> Path:
    """A path inside ``../shared/data`` beside the repo, or ``$MEDIAMIND_SHARED_DATA``."""
    env = os.environ.get("MEDIAMIND_SHARED_DATA")
    return (Path(env) if env else REPO.parent / "shared" / "data").joinpath(*parts)
