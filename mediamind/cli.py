"""``mediamind``: the engine's commands (:mod:`core.cli`) plus ``gui`` and ``train-recsys``.

Data goes to stdout, progress and errors to stderr; errors become one message in
:func:`core.cli.main`, for these commands too.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from app.main import add_arguments as add_gui_arguments
from core import cli as engine_cli
from core.errors import UsageError

if TYPE_CHECKING:
    from core.cli import SubParsers


def cmd_gui(args: argparse.Namespace) -> int:
    """``mediamind gui``: the desktop app (needs the ``gui`` extra)."""
    if importlib.util.find_spec("PySide6") is None:
        raise UsageError(
            "The desktop app cannot start: PySide6 is not installed.",
            fix="Install it with: pip install 'mediamind[gui]'",
        )
    from app.main import main as app_main

    argv = ["--library", str(args.library)] if args.library else []
    if args.smoke:
        argv.append("--smoke")
    for path in args.import_paths:
        argv += ["--import", path]
    return app_main(argv)


def cmd_train_recsys(args: argparse.Namespace) -> int:
    """``mediamind train-recsys``: fine-tune the recommender on this library's event log."""
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            f"Training the recommender needs torch, which cannot be imported ({exc}).",
            fix="Install the train extra: pip install -e .[train]",
        ) from exc
    try:
        from models.recsys.app_model import train_on_library
    except ImportError as exc:
        raise UsageError(
            f"The training code (models/recsys) cannot be imported ({exc}).",
            fix="Run from a source checkout installed with: pip install -e .[train]",
        ) from exc
    from core.paths import default_library_dir
    from core.store import Library

    with Library(Path(args.library) if args.library else default_library_dir()) as lib:
        directory = lib.directory
    result = train_on_library(directory, epochs=args.epochs)
    print(
        f"trained on {result.n_views} viewings of {result.n_items} items "
        f"(loss {result.final_loss:.3f}); model saved to {result.model_dir}"
    )
    return 0


def _add_commands(sub: SubParsers) -> None:
    p = sub.add_parser("gui", help="open the desktop app")
    add_gui_arguments(p, library_default=argparse.SUPPRESS)
    p.set_defaults(func=cmd_gui)

    p = sub.add_parser(
        "train-recsys", help="fine-tune the recommender on this library's viewing history"
    )
    p.add_argument("--epochs", type=int, default=30, help="optimisation steps (default 30)")
    p.set_defaults(func=cmd_train_recsys)


def build_parser() -> argparse.ArgumentParser:
    """The whole ``mediamind`` command line."""
    return engine_cli.build_parser([_add_commands])


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``mediamind`` command; return the process exit status."""
    return engine_cli.main(argv, build_parser())


if __name__ == "__main__":
    sys.exit(main())
