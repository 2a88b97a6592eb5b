"""Where MediaMind keeps its files: the library directory and the model directory."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "MediaMind"
LIBRARY_ENV = "MEDIAMIND_LIBRARY"
MODELS_ENV = "MEDIAMIND_MODELS"
DB_FILENAME = "library.sqlite"


def _user_data_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_library_dir() -> Path:
    """The library used when ``--library`` is not given.

    Returns:
        ``$MEDIAMIND_LIBRARY`` when set, otherwise ``<user data dir>/library``.
    """
    env = os.environ.get(LIBRARY_ENV)
    if env:
        return Path(env).expanduser()
    return _user_data_dir() / "library"


def models_dir() -> Path:
    """The per-user directory for models that MediaMind builds or assembles itself.

    Returns:
        ``$MEDIAMIND_MODELS`` when set, otherwise ``<user data dir>/models``.
    """
    env = os.environ.get(MODELS_ENV)
    if env:
        return Path(env).expanduser()
    return _user_data_dir() / "models"
