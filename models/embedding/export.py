"""Build the all-MiniLM-L6-v2 fp32 and int8 ONNX models: ``python -m models.embedding.export``."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Sequence
from pathlib import Path

from core.embedding import CONFIG_FILENAME, EmbeddingConfig, build_embedding_model
from core.errors import MediaMindError

DEFAULT_OUT = Path("build/embedding")


def main(argv: Sequence[str] | None = None) -> int:
    """Build both models into ``--out`` and print their paths and sizes.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when ``None``).

    Returns:
        Process exit code.
    """
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")

    start = time.perf_counter()
    try:
        out = build_embedding_model(args.out)
    except MediaMindError as exc:
        print(f"error: {exc}")
        return exc.exit_code
    config = EmbeddingConfig.load(out)
    print(f"built {config.model_id} ({config.quantization}) in {time.perf_counter() - start:.1f} s")
    for role, name in sorted(config.files.items()):
        path = out / name
        print(f"  {role:<9} {path}  {path.stat().st_size / 1e6:7.1f} MB")
    print(f"  config    {out / CONFIG_FILENAME}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
