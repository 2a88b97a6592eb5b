"""Typed access to the persisted preferences, and checks of what a user picks in Settings."""

from __future__ import annotations

import json
import sys
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
            multilingual_model=str(self._get("ingest/multilingual", "base")) or "base",
        )

    @ingest.setter
    def ingest(self, value: IngestSettings) -> None:
        self.store.setValue("ingest/model", value.model)
        self.store.setValue("ingest/threads", value.threads or 0)
        self.store.setValue(
            "ingest/prefer_subtitles", "true" if value.prefer_subtitles else "false"
        )
        self.store.setValue("ingest/multilingual", value.multilingual_model)

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

    @property
    def welcome_dismissed(self) -> bool:
        """Whether the user closed the first-start offer to try the demo library."""
        return str(self._get("ui/welcome_dismissed", "false")).lower() in ("true", "1")

    @welcome_dismissed.setter
    def welcome_dismissed(self, value: bool) -> None:
        self.store.setValue("ui/welcome_dismissed", "true" if value else "false")

    def sync(self) -> None:
        """Write pending changes to disk."""
        self.store.sync()


def demo_media_dir() -> Path | None:
    """The bundled demo library's media folder, or None where it was not shipped.

    A source checkout has it in ``demo/media``; the packaged app beside its other data files.
    """
    roots = [Path(__file__).resolve().parents[2]]
    frozen = getattr(sys, "_MEIPASS", None)
    if frozen:
        roots.insert(0, Path(frozen))
    for root in roots:
        folder = root / "demo" / "media"
        if folder.is_dir() and any(folder.iterdir()):
            return folder
    return None


def check_whisper_folder(folder: Path, multilingual: bool = True) -> str | None:
    """Why ``folder`` cannot be used as a Whisper model (one line: the folder and the fix).

    Args:
        folder: The folder the user picked.
        multilingual: Whether the model must know languages other than English.

    Returns:
        None when the folder holds a usable CTranslate2 Whisper model, else the message.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        return f"{folder} is not a folder: pick the folder that holds model.bin."
    missing = [n for n in ("model.bin", "config.json") if not (folder / n).is_file()]
    if missing:
        return (
            f"{folder} is not a CTranslate2 Whisper model (no {' or '.join(missing)}): pick a "
            "folder converted with ct2-transformers-converter."
        )
    if not ((folder / "tokenizer.json").is_file() or (folder / "vocabulary.txt").is_file()):
        return (
            f"{folder} has no tokenizer.json or vocabulary.txt: copy the model's tokenizer "
            "files into it."
        )
    if multilingual:
        size = _vocabulary_size(folder)
        if size is None:
            return (
                f"{folder}: its tokenizer cannot be read; copy the model's tokenizer files again."
            )
        if size < MULTILINGUAL_VOCABULARY:
            return (
                f"{folder} holds an English-only Whisper model: pick a multilingual one "
                "(a name without .en, e.g. base or small)."
            )
    return None


# Whisper's English-only models have 51,864 tokens, the multilingual ones 51,865 or more
# (large-v3: 51,866); tokenizer.json leaves out the 1,500 timestamp tokens.
MULTILINGUAL_VOCABULARY = 51865
_TIMESTAMP_TOKENS = 1500


def _vocabulary_size(folder: Path) -> int | None:
    try:
        vocabulary = folder / "vocabulary.txt"
        if vocabulary.is_file():
            with vocabulary.open(encoding="utf-8") as fh:
                return sum(1 for _ in fh)
        data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        tokens = len(data["model"]["vocab"]) + len(data.get("added_tokens", []))
        return tokens + _TIMESTAMP_TOKENS
    except (OSError, ValueError, KeyError, TypeError):
        return None
