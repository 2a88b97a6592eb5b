"""Desktop app responsiveness: cold start to first paint, and event-loop stalls during ingest.

``python -m bench.gui_latency [--runs 5] [--json]`` (offscreen Qt; no display needed)

* **Cold start to first paint**: a new Python process per run, from just before it is spawned
  until the main window's first paint (``MainWindow.first_paint``), on an empty library and on
  the ingested demo library. Both clocks are ``CLOCK_MONOTONIC`` (``time.monotonic``), which
  is one clock across processes on Linux, so interpreter start-up and every import count. Peer,
  measured in the same run: a bare ``QMainWindow`` in a new process (Python + PySide6's floor).
* **Event-loop stalls during ingest**: in one process, a window ingests a demo file (a new
  library each run, so models load every time) while a 10 ms ``QTimer`` records the gaps
  between its ticks; a stall is a gap over 100 ms. Peer: the same timer over the same time
  with the window idle.

Medians over ``--runs``; the load average before and after is printed with the numbers (the
machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "demo" / "media"
STALL_S = 0.100

# Runs in a child process: open the window and print the monotonic time of its first paint.
_FIRST_PAINT_APP = """
import sys, time
from pathlib import Path
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication
from app import theme
from app.services import Services, SettingsService
from app.window import MainWindow
app = QApplication(["bench"])
settings = SettingsService(QSettings(sys.argv[2], QSettings.Format.IniFormat))
theme.apply(app, False)
window = MainWindow(Services.open(Path(sys.argv[1]), settings), autostart_jobs=False)
window.resize(1440, 900)
def painted():
    print(time.monotonic(), flush=True)
    QTimer.singleShot(0, app.quit)
window.first_paint.connect(painted)
window.show()
app.exec()
window.shutdown()
"""

_FIRST_PAINT_PEER = """
import time
from PySide6.QtCore import QEvent, QObject, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMainWindow
app = QApplication(["bench"])
window = QMainWindow()
window.setCentralWidget(QLabel("peer"))
window.resize(1440, 900)
class Paint(QObject):
    done = False
    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.Paint and not self.done:
            self.done = True
            print(time.monotonic(), flush=True)
            QTimer.singleShot(0, app.quit)
        return False
f = Paint()
window.installEventFilter(f)
window.show()
app.exec()
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["QT_QPA_PLATFORM"] = "offscreen"
    env.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def first_paint(code: str, args: list[str]) -> float:
    """Seconds from spawning ``python -c code args`` to the first paint it reports."""
    start = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        check=True,
    )
    painted = float(out.stdout.strip().splitlines()[-1])
    return painted - start


def ingested_demo(directory: Path) -> Path:
    """A library holding the demo (the podcast from its subtitles, the rest transcribed)."""
    from core.ingest import IngestOptions, ingest
    from core.store import Library

    with Library(directory) as lib:
        for _ in ingest(lib, [DEMO], IngestOptions(prefer_subtitles=True, threads=2)):
            pass
    return directory


def stalls_during_ingest(
    media: Path, work: Path, idle_for: float | None = None
) -> dict[str, float]:
    """Timer gaps while a window ingests ``media`` (or, given ``idle_for``, stays idle)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app.services import Services, SettingsService
    from app.window import MainWindow

    app = QApplication.instance() or QApplication(["bench"])
    settings = SettingsService(QSettings(str(work / "s.ini"), QSettings.Format.IniFormat))
    window = MainWindow(Services.open(work / "lib", settings))
    window.jobs.auto_annotate = False
    window.resize(1440, 900)
    window.show()
    gaps: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    deadline = time.monotonic() + 600
    while not window.is_ready and time.monotonic() < deadline:
        app.processEvents()
        time.sleep(0.005)
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(tick)
    started = time.perf_counter()
    last[0] = started
    timer.start()
    if idle_for is None:
        window.library_view.import_paths([media])
        while window.jobs.rowCount() == 0 and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.001)
        while window.jobs.active_count() and time.monotonic() < deadline:
            app.processEvents()
            time.sleep(0.001)
    else:
        while time.perf_counter() - started < idle_for:
            app.processEvents()
            time.sleep(0.001)
    timer.stop()
    elapsed = time.perf_counter() - started
    if idle_for is None:
        failed = [j.message for j in window.jobs.jobs if j.state == "failed"]
        if failed:
            raise SystemExit(f"ingest failed: {failed}")
    window.shutdown()
    window.deleteLater()
    app.processEvents()
    gaps.sort()
    return {
        "seconds": elapsed,
        "ticks": len(gaps),
        "max_ms": gaps[-1] * 1000,
        "p99_ms": gaps[int(0.99 * (len(gaps) - 1))] * 1000,
        "stalls": sum(g > STALL_S for g in gaps),
    }


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main(argv: list[str] | None = None) -> int:
    """Run both measurements and print a Markdown summary (or ``--json``)."""
    parser = argparse.ArgumentParser(prog="python -m bench.gui_latency")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--media", type=Path, default=DEMO / "science_lecture.webm")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"load_before": _load(), "runs": args.runs, "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="mediamind-gui-bench-") as tmp:
        work = Path(tmp)
        demo = ingested_demo(work / "demo")
        paint: dict[str, list[float]] = {"peer": [], "empty": [], "demo": []}
        for n in range(args.runs):  # interleaved, so load changes hit all three alike
            paint["peer"].append(first_paint(_FIRST_PAINT_PEER, []))
            empty = work / f"empty-{n}"
            paint["empty"].append(first_paint(_FIRST_PAINT_APP, [str(empty), str(work / "p.ini")]))
            paint["demo"].append(first_paint(_FIRST_PAINT_APP, [str(demo), str(work / "p.ini")]))
        report["first_paint_s"] = {k: sorted(v) for k, v in paint.items()}
        report["first_paint_median_s"] = {k: statistics.median(v) for k, v in paint.items()}
        ingest_rows: list[dict[str, float]] = []
        idle_rows: list[dict[str, float]] = []
        for n in range(args.runs):
            run = work / f"ingest-{n}"
            run.mkdir()
            ingest_rows.append(stalls_during_ingest(args.media, run))
            quiet = work / f"idle-{n}"
            quiet.mkdir()
            idle_rows.append(stalls_during_ingest(args.media, quiet, ingest_rows[-1]["seconds"]))
        report["ingest"] = ingest_rows
        report["idle"] = idle_rows
    report["load_after"] = _load()
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    med = report["first_paint_median_s"]
    print(f"machine: {report['cpus']} CPUs, load {report['load_before']} -> {report['load_after']}")
    print(f"runs: {args.runs}; medians")
    print("| cold start to first paint | median s | all runs (s) | × peer |")
    print("|---|---:|---|---:|")
    names = {
        "peer": "peer: bare QMainWindow",
        "empty": "MediaMind, new empty library",
        "demo": "MediaMind, demo library (7 items)",
    }
    for key, label in names.items():
        runs = ", ".join(f"{v:.2f}" for v in report["first_paint_s"][key])
        print(f"| {label} | {med[key]:.2f} | {runs} | {med[key] / med['peer']:.1f} |")
    print()
    print("| event loop, 10 ms timer | median max gap ms | median p99 ms | stalls > 100 ms |")
    print("|---|---:|---:|---:|")
    for label, rows in (
        (f"ingesting {args.media.name}", ingest_rows),
        ("peer: idle window", idle_rows),
    ):
        print(
            f"| {label} ({_median(rows, 'seconds'):.0f} s) | {_median(rows, 'max_ms'):.0f} | "
            f"{_median(rows, 'p99_ms'):.0f} | {sum(int(r['stalls']) for r in rows)} "
            f"(max per run {max(int(r['stalls']) for r in rows)}) |"
        )
    print("max gap per ingest run (ms):", ", ".join(f"{r['max_ms']:.0f}" for r in ingest_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
