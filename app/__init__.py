"""MediaMind desktop app (PySide6). Talks to ``core`` only through ``app.services``."""
