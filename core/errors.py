"""The one error hierarchy of the engine.

Every message names the thing that went wrong and how to fix it. The CLI and the GUI turn these
into user-facing messages in one place each (``core.cli.main`` and the app's error notifier).
"""

from __future__ import annotations


class MediaMindError(Exception):
    """Base of every error the engine raises on purpose."""

    exit_code = 1

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        self.message = message
        self.fix = fix
        super().__init__(f"{message} {fix}" if fix else message)


class MediaError(MediaMindError):
    """A media file could not be read, decoded or used."""


class UnsupportedMediaError(MediaError):
    """The file is not a media or subtitle file that MediaMind can read."""


class NoAudioError(MediaError):
    """The file has no audio stream to transcribe."""


class PathMissingError(MediaError):
    """A path given by the user does not exist."""


class ModelError(MediaMindError):
    """A model file is missing, damaged or unknown."""


class LibraryError(MediaMindError):
    """The library database cannot be opened, migrated or written."""


class DiskFullError(LibraryError):
    """The disk holding the library or the model directory is full."""


class NotFoundError(MediaMindError):
    """A library item the user named does not exist."""


class UsageError(MediaMindError):
    """The user asked for something in a way that cannot work."""

    exit_code = 2


class LLMError(MediaMindError):
    """The local language model could not build a prompt or failed while generating."""


class DamagedLibraryError(LibraryError):
    """The library database failed an integrity check or could not be read."""
