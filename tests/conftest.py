"""Shared fixtures: the real evaluation data, small real media made on the fly, no network."""

from __future__ import annotations

import importlib
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
JFK = FIXTURES / "jfk.flac"


def in_ci() -> bool:
    """True when the suite runs in CI (``CI=true``, as CI services set it)."""
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def require(ok: object, reason: str, *, ci_provides: bool = True) -> None:
    """Skip the test with ``reason`` unless ``ok``; in CI a missing part CI provides fails.

    ``reason`` names the real cause and the fix (the package, the command). ``ci_provides``
    says whether CI is supposed to have the part (``make test`` installs it, or the CI machine
    has it): then, under ``CI=true``, its absence is a failure, since a skip there would turn a
    broken set-up into a green run. Parts CI honestly cannot have (``ci_provides=False``) stay
    a skip everywhere.
    """
    if ok:
        return
    if ci_provides and in_ci():
        pytest.fail(f"CI=true, and a part CI must provide is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def require_module(name: str, fix: str, *, ci_provides: bool = True) -> Any:
    """Import ``name``, or skip (fail in CI) naming the import error and ``fix``."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        require(False, f"{name} cannot be imported ({exc}); {fix}", ci_provides=ci_provides)
        raise  # unreachable: require() skipped or failed


def requires(ok: object, reason: str, *, ci_provides: bool = True) -> pytest.MarkDecorator:
    """Decorator form of :func:`require`, applied when the test is set up."""
    return pytest.mark.requirement(bool(ok), reason, ci_provides=ci_provides)


def mediamind(
    *args: str,
    library: Path | None = None,
    cwd: Path = REPO,
    timeout: float = 900,
    **kw: Any,
) -> subprocess.CompletedProcess[str]:
    """Run the engine's command line (``python -m core.cli``) as a user would; never raises."""
    lib = ["--library", str(library)] if library is not None else []
    return subprocess.run(
        [sys.executable, "-m", "core.cli", *lib, *args],
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        timeout=timeout,
        **kw,
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requirement(ok, reason, ci_provides=True): see tests.conftest.require"
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers("requirement"):
        require(*mark.args, **mark.kwargs)


def shared_data_dir() -> Path:
    """../shared/data next to the repository, or $MEDIAMIND_SHARED_DATA."""
    env = os.environ.get("MEDIAMIND_SHARED_DATA")
    return Path(env) if env else (REPO.parent / "shared" / "data")


def require_shared(*parts: str) -> Path:
    """Return a path inside ../shared/data, or skip the test saying what is missing.

    CI clones the repository beside ``shared/``, so there a missing file is a failure.
    """
    path = shared_data_dir().joinpath(*parts)
    require(
        path.exists(),
        f"evaluation data {path} is absent (it lives in ../shared/data beside the repo; "
        "set MEDIAMIND_SHARED_DATA to point elsewhere)",
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

    from core.search import SOURCE_PACKAGE

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
