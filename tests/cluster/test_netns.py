"""Runs the cluster tests on a real Ray inside a private network namespace (see conftest)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent


def test_cluster_tests_pass_on_ray_in_a_private_network_namespace() -> None:
    pytest.importorskip("ray", reason="Ray is the cluster extra: pip install -e '.[cluster]'")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("the cluster tests need unshare and ip (util-linux, iproute2)")
    probe = subprocess.run(
        ["unshare", "-rn", "sh", "-c", "ip link set lo up"], capture_output=True, check=False
    )
    if probe.returncode != 0:
        pytest.skip(
            "this system does not allow unprivileged user+network namespaces "
            f"(unshare -rn: {probe.stderr.decode().strip()}); Ray is never started outside one"
        )
    inner = sorted(str(p) for p in HERE.glob("test_ray_*.py"))
    env = {
        **os.environ,
        "MEDIAMIND_TEST_NETNS": "1",
        # Ray's workers import MediaMind from this checkout, like the driver.
        "PYTHONPATH": os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "RAY_USAGE_STATS_ENABLED": "0",
    }
    result = subprocess.run(
        [
            "unshare",
            "-rn",
            "sh",
            "-c",
            'ip link set lo up && exec "$0" -m pytest -q -p no:cacheprovider "$@"',
            sys.executable,
            *inner,
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    print(result.stdout[-8000:])
    print(result.stderr[-4000:], file=sys.stderr)
    assert result.returncode == 0, (
        "cluster tests failed inside the namespace:\n" + (result.stdout[-4000:])
    )
    summary = result.stdout.strip().splitlines()[-1]
    assert "passed" in summary and "skipped" not in summary, summary
