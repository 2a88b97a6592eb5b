"""Build the all-MiniLM-L6-v2 ONNX models: ``python -m models.embedding.export``.

``--out DIR`` (default ``build/embedding``) gets the fp32 and the int8 graph; ``--install``
builds the int8 model where the app looks for it (the user's model directory, or
``$MEDIAMIND_MODELS``), once: ``make run`` and the installer build call it.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from core.errors import MediaMindError
from core.search import CONFIG_FILENAME, EmbeddingConfig
from models.embedding.build import build_embedding_model, ensure_embedding_model

DEFAULT_OUT = Path("build/embedding")


def main(argv: Sequence[str] | None = None) -> int:
    """Build the model(s) and print their paths and sizes.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when ``None``).

    Returns:
        Process exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    where.add_argument(
        "--install",
        action="store_true",
        help="build the int8 model into the user's model directory unless it is current there",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    start = time.perf_counter()
    try:
        out = ensure_embedding_model() if args.install else build_embedding_model(args.out)
    except MediaMindError as exc:
        print(f"error: {exc}")
        return exc.exit_code
    config = EmbeddingConfig.load(out)
    print(
        f"{config.model_id} ({config.quantization}) in {out}, {time.perf_counter() - start:.1f} s"
    )
    for role, name in sorted(config.files.items()):
        path = out / name
        print(f"  {role:<9} {path}  {path.stat().st_size / 1e6:7.1f} MB")
    print(f"  config    {out / CONFIG_FILENAME}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
