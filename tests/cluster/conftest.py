"""Cluster tests run on a real Ray, but only inside a private network namespace.

Ray binds the machine's own network address by default. ``test_netns.py`` re-runs the other
tests of this folder under ``unshare -rn`` (a new user and network namespace whose only
interface is a loopback it brings up), where Ray can bind nothing but 127.0.0.1. Outside that
namespace the inner tests are deselected; inside it, the outer test is.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_NETNS = os.environ.get("MEDIAMIND_TEST_NETNS") == "1"
HERE = Path(__file__).resolve().parent
OUTER = "test_netns.py"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        path = Path(str(item.fspath)).resolve()
        if path.parent == HERE and (path.name == OUTER) == IN_NETNS:
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def netns() -> None:
    """Fail unless this process is in a namespace whose only network interface is loopback."""
    import socket

    names = [name for _, name in socket.if_nameindex()]
    assert IN_NETNS and names == ["lo"], f"not in a private network namespace: {names}"


@pytest.fixture(scope="session")
def shared_models(_session_models_dir: Path) -> Iterator[Path]:
    """One model directory for the driver and every Ray worker (the session's, built once).

    Ray workers inherit the environment of the process that starts Ray, so this is set in the
    process environment before any test starts one.
    """
    models = _session_models_dir
    old = os.environ.get("MEDIAMIND_MODELS")
    os.environ["MEDIAMIND_MODELS"] = str(models)
    yield models
    if old is None:
        os.environ.pop("MEDIAMIND_MODELS", None)
    else:
        os.environ["MEDIAMIND_MODELS"] = old


@pytest.fixture(scope="session")
def ray_tmp() -> Iterator[Path]:
    """A short private directory for Ray's sockets and logs (unix socket paths are short)."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="mmray-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)
