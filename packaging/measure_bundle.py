"""Measure the packaged app: size, ``--version`` and ``gui --smoke`` start-up times.

Each command runs ``--runs`` times alternately from the bundle and from the development venv
(the named peer, same machine, same moment), with ``env -i`` and a fresh HOME, offscreen Qt;
medians and the bundle/venv ratio are printed as a Markdown table for docs/packaging.md.
``gui --smoke`` is timed twice: wall clock (process start to exit) and the app's own
"ready in X s" (window shown, first paint and data load done).

With ``--cold`` the bundle's files are also evicted from the page cache before each of
``--runs`` extra bundle starts (``posix_fadvise(DONTNEED)`` on every file of the bundle only:
what a first start after installing or rebooting reads from disk).

Usage: python packaging/measure_bundle.py [--bundle dist/MediaMind] [--runs 7] [--cold]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _dir_size(path: Path) -> int:
    return sum(p.lstat().st_size for p in path.rglob("*") if p.is_file() or p.is_symlink())


def _evict(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file() and not path.is_symlink():
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)


def _run(exe: Path, args: list[str], home: Path) -> tuple[float, float | None]:
    env = {
        "HOME": str(home),
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "QT_QPA_PLATFORM": "offscreen",
    }
    start = time.perf_counter()
    proc = subprocess.run(
        ["env", "-i", *(f"{k}={v}" for k, v in env.items()), str(exe), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{exe} {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    ready = re.search(r"ready in (\d+\.\d+) s", proc.stderr)
    return wall, float(ready.group(1)) if ready else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=REPO / "dist" / "MediaMind")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--cold", action="store_true", help="also time cold-cache bundle starts")
    args = parser.parse_args()
    bundle_exe = args.bundle / "mediamind"
    venv_exe = REPO / ".venv" / "bin" / "mediamind"

    size = _dir_size(args.bundle)
    models = _dir_size(args.bundle / "_internal" / "mediamind-models")
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        library = str(home / "library")
        # One untimed start each, so that both read their files from the page cache.
        for exe in (bundle_exe, venv_exe):
            _run(exe, ["--library", library, "gui", "--smoke"], home)
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.runs):
            for name, exe in (("bundle", bundle_exe), ("venv", venv_exe)):
                wall, _ready = _run(exe, ["--version"], home)
                times.setdefault((name, "--version wall"), []).append(wall)
                wall, ready = _run(exe, ["--library", library, "gui", "--smoke"], home)
                times.setdefault((name, "gui --smoke wall"), []).append(wall)
                if ready is not None:
                    times.setdefault((name, "gui --smoke ready"), []).append(ready)
        cold: dict[str, list[float]] = {}
        for _ in range(args.runs if args.cold else 0):
            _evict(args.bundle)
            cold.setdefault("--version wall", []).append(_run(bundle_exe, ["--version"], home)[0])
            _evict(args.bundle)
            wall, ready = _run(bundle_exe, ["--library", library, "gui", "--smoke"], home)
            cold.setdefault("gui --smoke wall", []).append(wall)
            if ready is not None:
                cold.setdefault("gui --smoke ready", []).append(ready)
    load_after = os.getloadavg()

    print(f"bundle: {args.bundle} = {size / 1e6:.0f} MB ({models / 1e6:.0f} MB of it models)")
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after; "
        f"{args.runs} runs each, alternating, warm page cache"
    )
    print()
    print("| measure | bundle median (s) | venv median (s) | bundle / venv |")
    print("| --- | --- | --- | --- |")
    for what in ("--version wall", "gui --smoke wall", "gui --smoke ready"):
        b = times.get(("bundle", what))
        v = times.get(("venv", what))
        if not b or not v:
            continue
        mb, mv = statistics.median(b), statistics.median(v)
        print(f"| {what} | {mb:.2f} | {mv:.2f} | {mb / mv:.2f} |")
    if cold:
        print()
        print("| cold page cache (bundle only) | median (s) | max (s) |")
        print("| --- | --- | --- |")
        for what, values in cold.items():
            print(f"| {what} | {statistics.median(values):.2f} | {max(values):.2f} |")


if __name__ == "__main__":
    main()
