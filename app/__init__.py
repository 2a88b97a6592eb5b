"""MediaMind desktop app (PySide6). Talks to ``core`` only through ``app.services``."""

from app.qtcompat import guard_refcounts

guard_refcounts()
