"""``mediamind gui --smoke`` in a real process, offscreen."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import REPO


def gui_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        QT_QPA_PLATFORM="offscreen",
        XDG_CONFIG_HOME=str(tmp_path / "config"),  # QSettings of this run only
        HOME=str(tmp_path / "home"),
    )
    return env


def test_gui_smoke_exits_0(tmp_path: Path) -> None:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "mediamind", "gui", "--library", str(tmp_path / "lib"), "--smoke"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=gui_env(tmp_path),
        timeout=120,
        check=False,
    )
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    assert "ready in" in proc.stderr
    assert (tmp_path / "lib" / "library.sqlite").is_file()
    assert elapsed < 30


def test_gui_smoke_fails_with_the_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = subprocess.run(
        [sys.executable, "-m", "mediamind", "--library", str(blocker), "gui", "--smoke"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=gui_env(tmp_path),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "mediamind gui: error: Cannot create the library directory" in proc.stderr


def test_start_up_loads_no_model(tmp_path: Path) -> None:
    script = (
        "import sys; from app.main import main\n"
        f"rc = main(['--library', {str(tmp_path / 'lib')!r}, '--smoke'])\n"
        "heavy = [m for m in ('onnxruntime', 'faster_whisper', 'ctranslate2',"
        " 'core.search.embedding', 'core.ingest.transcribe', 'tokenizers') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
        "sys.exit(rc)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=gui_env(tmp_path),
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "HEAVY []" in proc.stdout
