"""Typed access to the persisted preferences."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.services.records import IngestSettings

if TYPE_CHECKING:
    from PySide6.QtCore import QSettings


class SettingsService:
    """Typed access to the persisted preferences (a ``QSettings`` store)."""

    def __init__(self, store: QSettings) -> None:
        """Wrap ``store``; tests pass an INI file in a temporary directory."""
        self.store = store

    def _get(self, key: str, default: Any) -> Any:
        value = self.store.value(key, default)
        return default if value is None else value

    @property
    def library_dir(self) -> Path | None:
        """The library chosen in Settings, if any."""
        raw = str(self._get("library/dir", ""))
        return Path(raw) if raw else None

    @library_dir.setter
    def library_dir(self, value: Path | None) -> None:
        self.store.setValue("library/dir", str(value) if value else "")

    @property
    def dark(self) -> bool:
        """Whether the dark palette is on."""
        return str(self._get("ui/dark", "false")).lower() in ("true", "1")

    @dark.setter
    def dark(self, value: bool) -> None:
        self.store.setValue("ui/dark", "true" if value else "false")

    @property
    def ingest(self) -> IngestSettings:
        """Model, threads and subtitle preference for new ingest jobs."""
        threads = int(self._get("ingest/threads", 0) or 0)
        return IngestSettings(
            model=str(self._get("ingest/model", "auto")) or "auto",
            threads=threads or None,
            prefer_subtitles=str(self._get("ingest/prefer_subtitles", "false")).lower()
            in ("true", "1"),
        )

    @ingest.setter
    def ingest(self, value: IngestSettings) -> None:
        self.store.setValue("ingest/model", value.model)
        self.store.setValue("ingest/threads", value.threads or 0)
        self.store.setValue(
            "ingest/prefer_subtitles", "true" if value.prefer_subtitles else "false"
        )

    @property
    def llm_path(self) -> Path | None:
        """The GGUF file Ask uses; None means the default (``$MEDIAMIND_LLM`` or SmolLM2)."""
        raw = str(self._get("ask/llm", ""))
        return Path(raw) if raw else None

    @llm_path.setter
    def llm_path(self, value: Path | None) -> None:
        self.store.setValue("ask/llm", str(value) if value else "")

    @property
    def watched_folders(self) -> list[str]:
        """Folders ingested incrementally whenever their content changes."""
        raw = self._get("library/watched", [])
        if isinstance(raw, str):
            raw = [raw] if raw else []
        return [str(p) for p in raw]

    @watched_folders.setter
    def watched_folders(self, folders: Sequence[str]) -> None:
        self.store.setValue("library/watched", list(folders))

    def sync(self) -> None:
        """Write pending changes to disk."""
        self.store.sync()
