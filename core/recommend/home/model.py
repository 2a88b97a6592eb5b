"""Which recommender Home runs, loaded once per process (see the package docstring)."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from core import registry
from core.errors import ModelError
from core.recommend.scorer import Recommender
from core.store import Library

MODEL_ENV = "MEDIAMIND_RECSYS_MODEL"
LIBRARY_MODEL_DIRNAME = "recsys-model"
SHIPPED_APP_DIR = registry.shipped_dir(registry.RECSYS_APP)
CONTENT_DIM = 384

# One lock for the process-wide caches of the package (models, item tables, representations).
cache_lock = threading.Lock()


def default_model_dir(lib: Library) -> Path:
    """The recommender directory ``home`` uses.

    Returns:
        ``<library>/recsys-model`` (from ``mediamind train-recsys``) when present, else
        ``$MEDIAMIND_RECSYS_MODEL`` when set, else the shipped one
        (``core/data/recsys/shipped-app``, checked against its sha256s in :mod:`core.registry`).

    Raises:
        ModelError: The shipped model's files are missing or damaged.
    """
    own = lib.directory / LIBRARY_MODEL_DIRNAME
    if (own / "config.json").is_file():
        return own
    env = os.environ.get(MODEL_ENV)
    return Path(env).expanduser() if env else registry.shipped_model_dir(registry.RECSYS_APP)


@dataclass
class _LoadedModel:
    rec: Recommender
    model_id: str


_models: dict[Path, tuple[float, _LoadedModel]] = {}


def load_model(model_dir: Path, *, threads: int = 1) -> tuple[Recommender, str]:
    """Load (once per process and config mtime) a recommender that takes MiniLM content.

    Args:
        model_dir: An exported recommender directory.
        threads: onnxruntime threads.

    Returns:
        The recommender and a model id (name + digest of its files) for cache keys.

    Raises:
        ModelError: The model is missing, damaged, or its content input is not 384-d MiniLM.
    """
    path = Path(model_dir).resolve()
    config = path / "config.json"
    if not config.is_file():
        raise ModelError(
            f"No recommender model at {path}.",
            fix="Restore core/data/recsys/shipped-app (python -m models.recsys.app_model ml100k) "
            f"or unset {MODEL_ENV}.",
        )
    mtime = config.stat().st_mtime
    with cache_lock:
        hit = _models.get(path)
        if hit is not None and hit[0] == mtime:
            return hit[1].rec, hit[1].model_id
    rec = Recommender(path, threads=threads)
    if rec.config.content_dim != CONTENT_DIM:
        raise ModelError(
            f"The recommender {rec.config.name} at {path} takes {rec.config.content_dim}-d "
            f"content vectors; library items have {CONTENT_DIM}-d MiniLM embeddings.",
            fix="Use core/data/recsys/shipped-app (trained on MiniLM content), not "
            "models/recsys/shipped (ML-100K features).",
        )
    digest = hashlib.sha256()
    for name in (rec.config.encoder_file, rec.config.scorer_file, rec.config.items_file):
        digest.update((path / name).read_bytes())
    loaded = _LoadedModel(rec, f"{rec.config.name}:{digest.hexdigest()[:16]}")
    with cache_lock:
        _models[path] = (mtime, loaded)
    return loaded.rec, loaded.model_id
