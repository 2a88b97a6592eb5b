"""The player's missing-part message names the real cause, read from the import error."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.views.player import multimedia_missing_reason
from tests.conftest import REPO, require


def test_missing_module_and_missing_system_library_get_different_advice() -> None:
    addons = multimedia_missing_reason(ImportError("No module named 'PySide6.QtMultimedia'"))
    assert "PySide6-Addons" in addons
    pulse = multimedia_missing_reason(
        ImportError("libpulse.so.0: cannot open shared object file: No such file or directory")
    )
    assert "libpulse.so.0" in pulse and "apt-get install -y libpulse0" in pulse
    assert "PySide6-Addons" not in pulse


def _loaded_pulse_dir() -> Path | None:
    """The folder of libpulsecommon as this process loaded it (via QtMultimedia)."""
    pytest.importorskip("PySide6.QtMultimedia")
    for line in Path("/proc/self/maps").read_text().splitlines():
        if "libpulsecommon" in line:
            return Path(line.split()[-1]).parent
    return None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux shared libraries")
def test_without_the_pulse_library_the_reason_names_libpulse0() -> None:
    """Hide libpulse's private library in a mount namespace: the real failure of a fresh box."""
    folder = _loaded_pulse_dir()
    require(folder is not None, "QtMultimedia here does not load libpulse", ci_provides=False)
    probe = subprocess.run(["unshare", "-rm", "true"], capture_output=True, check=False)
    if shutil.which("unshare") is None or probe.returncode:
        pytest.skip(f"unshare -rm is refused here (user namespaces off): {probe.stderr!r}")
    code = "from app.views.player import MULTIMEDIA_ERROR as e; print(e)"
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    proc = subprocess.run(
        [
            *("unshare", "-rm", "sh", "-c", 'mount -t tmpfs none "$0" && exec "$1" -c "$2"'),
            *(str(folder), sys.executable, code),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )
    assert "libpulse" in proc.stdout and "apt-get install -y libpulse0" in proc.stdout
    assert "PySide6-Addons" not in proc.stdout
