"""``mediamind gui``: start the desktop app (``python -m app`` does the same)."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

SMOKE_TIMEOUT_MS = 60_000


def add_arguments(parser: argparse.ArgumentParser, *, library_default: object = None) -> None:
    """Declare the app's options on ``parser`` (here and on ``mediamind gui``).

    Args:
        parser: The parser to extend.
        library_default: ``--library``'s default; ``mediamind gui`` passes
            ``argparse.SUPPRESS`` so that ``mediamind --library DIR gui`` is not overridden.
    """
    parser.add_argument(
        "--library", metavar="DIR", default=library_default, help="library directory to open"
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="open the window, wait for the first paint and data load, then exit (0 = ok)",
    )
    parser.add_argument(
        "--import",
        dest="import_paths",
        metavar="PATH",
        action="append",
        default=[],
        help="queue files or folders for ingest on start (unchanged files are skipped)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The app's own options (also reachable as ``mediamind gui``)."""
    parser = argparse.ArgumentParser(prog="mediamind gui", description="MediaMind desktop app")
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the app; return the exit status."""
    started = time.perf_counter()
    args = build_parser().parse_args(argv)
    # FFmpeg and audio-backend probing is chatty on machines without PipeWire or VA-API.
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")

    # Worker threads import engine modules on first use; two of them importing numpy at the
    # same moment can see it half-initialised ("partially initialized module"). Importing it
    # here, once, on the main thread takes ~0.1 s and loads no model.
    import numpy  # noqa: F401
    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from app import theme
    from app.services import Services, SettingsService, UserMessage, default_library_dir
    from app.window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "mediamind"])
    assert isinstance(app, QApplication)
    app.setApplicationName("MediaMind")
    app.setOrganizationName("MediaMind")
    app.setApplicationDisplayName("MediaMind")
    settings = SettingsService(QSettings())
    directory = Path(args.library) if args.library else settings.library_dir
    directory = directory or default_library_dir()
    instance = None
    if not args.smoke:
        from app.instance import InstanceServer, hand_over

        # One window per library: a second start gives its files to the first and exits.
        paths = [Path(p) for p in args.import_paths]
        if hand_over(directory, paths):
            sys.stderr.write(
                f"mediamind gui: MediaMind is already open on {directory}; "
                + (f"handed it {len(paths)} path(s) to import.\n" if paths else "raised it.\n")
            )
            return 0
        instance = InstanceServer(directory)
        instance.listen()
    services = Services.open(directory, settings)
    theme.apply(app, settings.dark)
    window = MainWindow(services, autostart_jobs=not args.smoke)
    if instance is not None:
        instance.setParent(window)
        instance.import_requested.connect(window.library_view.import_paths)
        instance.activated.connect(window.bring_to_front)

    failures: list[UserMessage] = []
    if args.smoke:

        def fail(msg: UserMessage) -> None:
            failures.append(msg)
            app.exit(1)

        def ready() -> None:
            sys.stderr.write(f"mediamind gui: ready in {time.perf_counter() - started:.2f} s\n")
            app.exit(0)

        window.notifier.notified.connect(fail)
        window.ready.connect(ready)
        QTimer.singleShot(
            SMOKE_TIMEOUT_MS,
            lambda: fail(UserMessage("The window did not finish loading within 60 s.")),
        )

    # Ctrl-C in the terminal, SIGTERM (logout, kill, systemd) and SIGHUP close the window
    # cleanly, which ends the engine processes; the timer lets Python see the signal.
    for name in ("SIGINT", "SIGTERM", "SIGHUP"):  # SIGHUP: not on Windows
        signum = getattr(signal, name, None)
        if signum is not None:
            signal.signal(signum, lambda *_: window.close())
    tick = QTimer(window)
    tick.timeout.connect(lambda: None)
    tick.start(250)

    window.show()
    if args.import_paths and not args.smoke:
        # `make run` opens the demo library this way: the first start shows the ingest in
        # the Jobs view; later starts find every file unchanged.
        window.library_view.import_paths([Path(p) for p in args.import_paths])
    code = app.exec()
    if instance is not None:
        instance.close()
    window.shutdown()
    window.deleteLater()
    if failures:
        for msg in failures:
            sys.stderr.write(f"mediamind gui: error: {msg.text()}\n")
        return 1
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
