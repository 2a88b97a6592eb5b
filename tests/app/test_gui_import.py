"""`mediamind gui --import PATH` (what `make run` does): the files are ingested on start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.paths import DB_FILENAME
from core.store import Library
from tests.conftest import REPO
from tests.core.test_search import TALKS, write_subs

pytestmark = pytest.mark.slow


def test_gui_import_ingests_the_folder_and_closes_cleanly(tmp_path: Path) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    write_subs(subs)
    library = tmp_path / "lib"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")  # the app's settings, not the user's
    gui = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mediamind",
            "--library",
            str(library),
            "gui",
            "--import",
            str(subs),
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 180
        ready: list[str] = []
        while time.monotonic() < deadline and gui.poll() is None:
            if (library / DB_FILENAME).exists():
                with Library(library) as lib:
                    ready = sorted(Path(i.path).name for i in lib.items("ready"))
                if len(ready) == len(TALKS):
                    break
            time.sleep(0.5)
        assert gui.poll() is None, f"the app exited early: {gui.communicate()[1][-3000:]}"
        assert ready == sorted(TALKS), ready
        gui.send_signal(signal.SIGINT)  # Ctrl-C in the terminal closes the window
        _, err = gui.communicate(timeout=60)
        assert gui.returncode == 0, err[-3000:]
        assert "Traceback" not in err, err[-3000:]
    finally:
        if gui.poll() is None:
            gui.kill()
            gui.wait()
