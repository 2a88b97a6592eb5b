"""packaging/system_packages.sh: `make run`/`make test` install the README's apt packages.

The script runs against stand-in ``dpkg-query``/``apt-get``/``id``/``sudo`` commands on
PATH, so each situation of a fresh machine (root, no sudo, not Debian, CI) is exercised
without touching this one.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

SCRIPT = REPO / "packaging" / "system_packages.sh"


def test_the_script_installs_exactly_the_readme_list() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = re.search(r"sudo apt-get install -y ((?:[\w.+-]+\s|\\\n\s*)+)", readme)
    assert command, "README lost its apt-get line"
    listed = command.group(1).replace("\\", " ").split()
    script = subprocess.run([SCRIPT, "--list"], capture_output=True, text=True, check=True)
    assert script.stdout.split() == listed


def _fake_system(tmp: Path, *, uid: int, sudo_ok: bool, installed: set[str]) -> Path:
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    log = tmp / "apt.log"
    scripts = {
        "dpkg-query": 'for a; do p="$a"; done\n'
        + 'case " {} " in *" $p "*) printf \'install ok installed\';; *) exit 1;; esac'.format(
            " ".join(sorted(installed))
        ),
        "apt-get": f'echo "$*" >> "{log}"',
        "id": f"echo {uid}",
        "sudo": ("exec " if sudo_ok else "") + ('"${@:2}"' if sudo_ok else "exit 1"),
    }
    for name, body in scripts.items():
        path = bin_dir / name
        path.write_text(f"#!/bin/bash\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def _run(bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    unset = {"CI", "MEDIAMIND_SKIP_SYSTEM_PACKAGES"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [str(SCRIPT)],
        capture_output=True,
        text=True,
        env={**clean, "PATH": f"{bin_dir}:/usr/bin:/bin", **env},
        check=False,
    )


ALL_BUT_PULSE = set(SCRIPT.read_text().split("PACKAGES=(")[1].split(")")[0].split()) - {"libpulse0"}


def test_as_root_the_missing_package_is_installed(tmp_path: Path) -> None:
    bin_dir = _fake_system(tmp_path, uid=0, sudo_ok=False, installed=ALL_BUT_PULSE)
    proc = _run(bin_dir)
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls[0] == "update -qq"
    assert calls[1].startswith("install -y") and calls[1].split()[-1] == "libpulse0"
    assert len(calls) == 2


def test_with_password_less_sudo_the_missing_package_is_installed(tmp_path: Path) -> None:
    bin_dir = _fake_system(tmp_path, uid=1000, sudo_ok=True, installed=ALL_BUT_PULSE)
    proc = _run(bin_dir)
    assert proc.returncode == 0, proc.stderr
    assert "libpulse0" in (tmp_path / "apt.log").read_text()


def test_without_root_or_sudo_it_stops_with_the_exact_command(tmp_path: Path) -> None:
    bin_dir = _fake_system(tmp_path, uid=1000, sudo_ok=False, installed=ALL_BUT_PULSE)
    proc = _run(bin_dir)
    assert proc.returncode == 1
    assert "sudo apt-get install -y libpulse0\n" in proc.stderr
    assert not (tmp_path / "apt.log").exists()
    # A developer may go on without it (the player tests then skip naming libpulse0)...
    assert _run(bin_dir, MEDIAMIND_SKIP_SYSTEM_PACKAGES="1").returncode == 3
    # ...but not CI, where a missing system part is a failure.
    assert _run(bin_dir, MEDIAMIND_SKIP_SYSTEM_PACKAGES="1", CI="true").returncode == 1


def test_nothing_runs_when_everything_is_installed(tmp_path: Path) -> None:
    bin_dir = _fake_system(tmp_path, uid=0, sudo_ok=False, installed=ALL_BUT_PULSE | {"libpulse0"})
    assert _run(bin_dir).returncode == 0
    assert not (tmp_path / "apt.log").exists()


@pytest.mark.parametrize("ci", ["", "true"])
def test_a_system_without_apt_gets_the_package_list(tmp_path: Path, ci: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    proc = subprocess.run(
        ["/bin/bash", str(SCRIPT)],
        capture_output=True,
        text=True,
        env={"PATH": str(bin_dir), "CI": ci, "MEDIAMIND_SKIP_SYSTEM_PACKAGES": "1"},
        check=False,
    )
    assert "not a Debian/Ubuntu system" in proc.stderr and "libpulse0" in proc.stderr
    assert proc.returncode == (1 if ci else 3)
