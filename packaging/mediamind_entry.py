"""Entry point of the packaged app (PyInstaller): the ``mediamind`` CLI, and the GUI by default.

Started with no arguments (a double-click, the desktop launcher) it opens the desktop app;
with arguments it is the ``mediamind`` command line, e.g. ``mediamind ingest FILE``.
"""

from __future__ import annotations

import multiprocessing
import sys


def main() -> int:
    """Run the CLI (or the GUI when no arguments are given); return the exit status."""
    # The GUI runs ingest and answers in spawned processes; in a frozen app each of them starts
    # this same executable, and freeze_support() turns that start into the worker's code
    # instead of a second app.
    multiprocessing.freeze_support()
    from mediamind.cli import main as cli_main

    argv = sys.argv[1:]
    if not argv:
        argv = ["gui"]
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main())
