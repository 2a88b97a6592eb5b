"""One app per library: a second `mediamind gui` hands its --import to the first and exits;
SIGTERM closes the app and ends its engine processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.instance import InstanceServer, hand_over, server_name
from core.paths import DB_FILENAME
from core.store import Library
from tests.conftest import REPO
from tests.core.test_search import TALKS, write_subs

pytestmark = pytest.mark.slow


def test_a_second_start_hands_its_paths_to_the_first(tmp_path: Path, qtbot) -> None:
    library = tmp_path / "lib"
    assert server_name(library) == server_name(tmp_path / "lib" / ".." / "lib")
    assert server_name(library) != server_name(tmp_path / "other")
    assert not hand_over(library, [tmp_path / "a.mp3"], timeout_ms=200)  # nobody listens yet

    server = InstanceServer(library)
    assert server.listen()
    # The second instance is another process (a thread would hold the GIL while it waits).
    script = (
        "import sys; from pathlib import Path; from app.instance import hand_over; "
        "sys.exit(0 if hand_over(Path(sys.argv[1]), [Path(sys.argv[2])]) else 3)"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "QT_QPA_PLATFORM": "offscreen"}
    try:
        with qtbot.waitSignal(server.import_requested, timeout=30_000) as got:
            client = subprocess.Popen(
                [sys.executable, "-c", script, str(library), str(tmp_path / "a.mp3")],
                cwd=REPO,
                env=env,
            )
        qtbot.waitUntil(lambda: client.poll() is not None, timeout=30_000)
    finally:
        server.close()
        if client.poll() is None:
            client.kill()
            client.wait()
    assert got.args == [[(tmp_path / "a.mp3").resolve()]]
    assert client.returncode == 0

    # A socket left behind by a crashed instance is taken over.
    stale = InstanceServer(library)
    assert stale.listen()
    stale.server.close()
    again = InstanceServer(library)
    try:
        assert again.listen()
    finally:
        again.close()


def _children(pid: int) -> set[int]:
    out = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.add(int(entry.name))
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_second_gui_imports_into_the_first_and_sigterm_ends_the_workers(
    tmp_path: Path, embedding_model: Path, qtbot
) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    write_subs(subs)
    library = tmp_path / "lib"
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(REPO)}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    env["MEDIAMIND_MODELS"] = str(embedding_model.parent)
    command = [sys.executable, "-m", "mediamind", "--library", str(library), "gui"]
    first = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not hand_over(library, [], timeout_ms=200):  # listening: the window is up
            assert first.poll() is None, first.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the first instance never listened"
            time.sleep(0.3)

        second = subprocess.run(
            [*command, "--import", str(subs)],
            cwd=REPO,
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert second.returncode == 0, second.stderr[-3000:]
        assert "already open" in second.stderr

        ready: list[str] = []
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and first.poll() is None:
            if (library / DB_FILENAME).exists():
                with Library(library) as lib:
                    ready = sorted(Path(i.path).name for i in lib.items("ready"))
                if len(ready) == len(TALKS):
                    break
            time.sleep(0.5)
        assert ready == sorted(TALKS), ready  # the first instance ingested them

        workers = {
            pid
            for pid in _children(first.pid)
            if "spawn_main" in (Path("/proc") / str(pid) / "cmdline").read_text(errors="replace")
        }
        assert workers, "the ingest process should be running (it stays for the next file)"
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err[-3000:]
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not [p for p in workers if _alive(p)], "engine processes outlived the app"
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
