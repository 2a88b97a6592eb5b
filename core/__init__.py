"""MediaMind engine: library store, media, transcription, search, answers and more.

This package never imports Qt or torch (enforced by import-linter).
"""

__version__ = "0.1.0"
