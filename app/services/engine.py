"""Small engine look-ups for the widgets: vocabularies, models, defaults, preloading."""

from __future__ import annotations

from pathlib import Path


def vocabularies() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """The fixed topic, mood and safety-rating labels (for facet menus)."""
    from core.taxonomy import MOODS, RATINGS, TOPICS

    return TOPICS, MOODS, RATINGS


def preload_engine_modules() -> None:
    """Import the engine modules that workers use, here on the GUI thread.

    Two threads importing modules at once under PySide6's import hook can crash the process
    (seen as a segfault while a worker imported ``core.recommend`` during playback). Importing
    them once up front costs ~50 ms and loads no model: onnxruntime, faster-whisper,
    tokenizers and llama.cpp stay unloaded until a model is needed.
    """
    import numpy  # noqa: F401

    import core.annotate.store
    import core.ingest.media
    import core.recommend.events
    import core.recommend.home
    import core.registry
    import core.search.hybrid
    import core.store.library
    import core.transcript  # noqa: F401


def default_library_dir() -> Path:
    """``$MEDIAMIND_LIBRARY`` or the user data directory's library."""
    from core.paths import default_library_dir as core_default

    return core_default()


def physical_cores() -> int:
    """The number of physical CPU cores (what 'auto' threads means)."""
    from core.system import physical_cores as cores

    return cores()


def model_overview() -> list[tuple[str, str, bool]]:
    """(name, task, installed) of every registered model; cheap after the first check."""
    from core.registry import model_statuses

    return [(s.name, s.task, s.installed) for s in model_statuses()]


def install_model(source: Path, model: str | None) -> tuple[str, Path]:
    """Check a model picked in Settings and copy it into the model directory (seconds).

    Args:
        source: The file or folder the user picked.
        model: A registered model's name (``base``), or ``None`` for a GGUF of the user's own.

    Returns:
        A one-line result for the page, and where the model now is.
    """
    from core.registry import get_spec, install_model_from

    result = install_model_from(source, get_spec(model) if model else None)
    check = "checksum verified" if result.verified else "GGUF signature checked"
    return f"{result.name} added ({result.size / 1e6:.0f} MB, {check}).", result.path
