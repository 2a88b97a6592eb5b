"""Work-arounds for two PySide6 defects that crash or hang a long-running app.

1. **Lost references to None, True and False** (shiboken6 6.12.0 on Python < 3.12): every
   call of a void method returns ``None`` without a new reference, and ``Signal.emit`` does
   the same with ``True``/``False``. Python 3.12 made these objects immortal (PEP 683), so
   there it is harmless; on 3.11 each call lowers their reference count until CPython aborts
   with "deallocating None" after some tens of thousands of calls (minutes of playback).
   :func:`guard_refcounts` gives the three singletons the effectively infinite count that
   Python 3.12 gives them. PySide6 6.11 is not affected.

2. **Dead-lock in ``QMediaPlayer.stop()``** (any recent PySide6): when playback stops, the
   FFmpeg back end destroys objects on its audio thread; Qt then calls ``disconnectNotify``
   on their senders while holding the signal-slot lock. If the sender is a ``QAudioOutput``
   created from Python, shiboken needs the GIL to look for a Python override, while the GUI
   thread holds the GIL and waits for that lock inside ``stop()``. An audio output created by
   C++ (here through QML) has no Python override to look up: :func:`create_audio_output`.
"""

from __future__ import annotations

import ctypes
import logging
import sys
from importlib import metadata
from typing import Any

log = logging.getLogger(__name__)

_IMMORTAL = 1 << 60


def _version(dist: str) -> tuple[int, ...]:
    try:
        raw = metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ()
    return tuple(int(p) for p in raw.split(".")[:2] if p.isdigit())


def needs_refcount_guard() -> bool:
    """Whether this Python and shiboken6 combination loses references to None/True/False."""
    return (
        sys.version_info < (3, 12)
        and sys.implementation.name == "cpython"
        and not hasattr(sys, "gettotalrefcount")  # debug builds lay objects out differently
        and _version("shiboken6") >= (6, 12)
    )


def guard_refcounts() -> bool:
    """Make None, True and False immortal where PySide6 would otherwise free them.

    Returns:
        Whether the guard is (now) in place.
    """
    if sys.getrefcount(None) >= _IMMORTAL:  # already done (idempotent)
        return True
    if not needs_refcount_guard():
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += _IMMORTAL
    log.debug("PySide6 refcount guard applied (shiboken6 %s)", _version("shiboken6"))
    return True


def create_audio_output(parent: Any) -> Any:
    """A ``QAudioOutput`` created by C++ (so stopping playback cannot dead-lock).

    Falls back to a Python-created one when the QtMultimedia QML module is missing.
    """
    from PySide6.QtCore import QUrl
    from PySide6.QtMultimedia import QAudioOutput

    try:
        from PySide6.QtQml import QQmlComponent, QQmlEngine

        engine = QQmlEngine(parent)
        component = QQmlComponent(engine)
        component.setData(b"import QtMultimedia\nAudioOutput {}\n", QUrl())
        output = component.create()
    except ImportError:
        output = None
    if isinstance(output, QAudioOutput):
        output.setParent(parent)
        return output
    log.warning("QtMultimedia QML module unavailable; using a Python QAudioOutput")
    return QAudioOutput(parent)
