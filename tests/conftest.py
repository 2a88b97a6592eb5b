"""Shared fixtures: the real evaluation data, small real media made on the fly, no network."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
JFK = FIXTURES / "jfk.flac"


def shared_data_dir() -> Path:
    """../shared/data next to the repository, or $MEDIAMIND_SHARED_DATA."""
    env = os.environ.get("MEDIAMIND_SHARED_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data")


def require_shared(*parts: str) -> Path:
    """Return a path inside ../shared/data, or skip the test saying what is missing."""
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        pytest.skip(
            f"evaluation data {path} is absent (it lives in ../shared/data beside the repo; "
            "set MEDIAMIND_SHARED_DATA to point elsewhere)"
        )
    return path


@pytest.fixture(scope="session")
def _session_models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model dir per session, holding the int8 embedding model when its weights exist.

    The runtime never builds that model (``make run`` does, through models.embedding.build);
    tests, the CLI subprocesses among them, find it here as the app finds the user's.
    """
    models = tmp_path_factory.getbasetemp() / "models"
    models.mkdir(exist_ok=True)
    from importlib import metadata

    from core.embedding import SOURCE_PACKAGE

    try:
        metadata.distribution(SOURCE_PACKAGE)
    except metadata.PackageNotFoundError:
        return models  # tests that embed fail naming the package; the others run
    from models.embedding.build import ensure_embedding_model

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIAMIND_MODELS", str(models))
        ensure_embedding_model()
    return models


@pytest.fixture(autouse=True)
def _isolated_user_dirs(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    _session_models_dir: Path,
):
    """Keep tests away from the real user's library; share one model dir per session."""
    monkeypatch.setenv("MEDIAMIND_LIBRARY", str(tmp_path_factory.mktemp("default-library")))
    monkeypatch.setenv("MEDIAMIND_MODELS", str(_session_models_dir))


class NetworkBlocked(RuntimeError):
    """Raised by the socket guard: runtime code tried to open a network connection."""


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Make any attempt to open an internet or unix socket connection fail loudly."""

    def guard(*args: object, **kwargs: object) -> None:
        raise NetworkBlocked(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", guard)
    monkeypatch.setattr(socket.socket, "connect_ex", guard)
    monkeypatch.setattr(socket, "create_connection", guard)
    monkeypatch.setattr(socket, "getaddrinfo", guard)
    yield


def write_tone_wav(path: Path, seconds: float = 2.0, rate: int = 16000) -> Path:
    """Write a real (if speechless) mono WAV file with PyAV."""
    import av

    t = np.arange(int(seconds * rate)) / rate
    samples = (0.2 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.rate = rate
        for packet in stream.encode(frame):
            out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_silent_video(path: Path, seconds: float = 1.0) -> Path:
    """Write an MP4 with a picture track and no audio stream."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.time_base = Fraction(1, 5)
        for i in range(int(seconds * 5)):
            img = np.full((48, 64, 3), i * 20 % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


@pytest.fixture(scope="session")
def jfk() -> Path:
    """The public-domain JFK inaugural clip (committed fixture, 11 s)."""
    assert JFK.is_file(), f"fixture {JFK} is missing; run demo/make_demo.py"
    return JFK
