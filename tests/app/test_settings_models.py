"""Settings: models that are not bundled are added by picking a file or folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtWidgets import QFileDialog

from app.services import SettingsService
from core.registry import SMOLLM2, model_file


def test_a_picked_gguf_is_checked_copied_and_becomes_the_answer_model(
    make_window,
    library_dir: Path,
    settings: SettingsService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qtbot,
) -> None:
    models = tmp_path / "models"
    monkeypatch.setenv("MEDIAMIND_MODELS", str(models))
    own = tmp_path / "picked" / "my-model.gguf"
    own.parent.mkdir()
    with model_file(SMOLLM2).open("rb") as fh:  # a real GGUF header
        own.write_bytes(fh.read(1 << 16))
    window = make_window(library_dir, autostart_jobs=False)
    view = window.settings_view
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(own), ""))

    view.llm_pick.click()
    qtbot.waitUntil(lambda: settings.llm_path is not None, timeout=20_000)

    assert settings.llm_path == models / "llm" / own.name
    assert settings.llm_path.read_bytes() == own.read_bytes()
    assert str(settings.llm_path) in view.llm_label.text()
    assert "GGUF signature checked" in view.llm_note.text()
    view.llm_default.click()
    assert settings.llm_path is None and "built in" in view.llm_label.text()


def test_a_wrong_folder_for_whisper_base_says_what_is_missing(
    make_window,
    library_dir: Path,
    settings: SettingsService,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    qtbot,
) -> None:
    monkeypatch.setenv("MEDIAMIND_MODELS", str(tmp_path / "models"))
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    window = make_window(library_dir, autostart_jobs=False)
    view = window.settings_view
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(empty))

    view.add_base.click()
    qtbot.waitUntil(lambda: "not found" in view.install_note.text(), timeout=20_000)

    assert "model.bin" in view.install_note.text()
    assert view.add_base.isEnabled()
    assert settings.ingest.model == "auto"
