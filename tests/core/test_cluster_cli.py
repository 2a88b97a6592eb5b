"""``--ray`` without Ray installed, and the import boundary of the cluster extra (no Ray runs)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

# Imports MediaMind's CLI with Ray made unimportable, as on a machine without the extra.
WITHOUT_RAY = "import sys; sys.modules['ray'] = None; from core.cli import main; sys.exit(main())"


def without_ray(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_RAY, *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("command", [["ingest", "{jfk}"], ["annotate", "--all"]])
def test_ray_flag_without_ray_says_how_to_install_it(
    tmp_path: Path, jfk: Path, command: list[str]
) -> None:
    args = [a.format(jfk=jfk) for a in command]
    result = without_ray("--library", str(tmp_path / "lib"), *args, "--ray", "local")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "mediamind: error: --ray needs Ray, which is not installed. Install the cluster extra: "
        "pip install 'mediamind[cluster]' (in a source checkout: pip install -e '.[cluster]')."
    ]


def test_core_cluster_imports_without_ray() -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['ray'] = None; import core.cluster"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_ray_address_defaults_to_auto_and_takes_any_address() -> None:
    from core.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["ingest", "x"]).ray is None
    assert parser.parse_args(["ingest", "x", "--ray"]).ray == "auto"
    args = parser.parse_args(["ingest", "x", "--ray", "ray://head:10001", "--ship"])
    assert (args.ray, args.ship) == ("ray://head:10001", True)
    assert parser.parse_args(["annotate", "--all", "--ray", "local"]).ray == "local"
