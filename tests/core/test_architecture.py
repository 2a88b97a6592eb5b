"""The engine's structure: shipped models found through the registry, no side doors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core import registry
from core.errors import ModelError


def test_the_shipped_recommender_is_found_and_checked_through_the_registry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = registry.shipped_model_dir(registry.RECSYS_APP)
    assert folder == registry.SHIPPED_DATA_DIR / "recsys" / "shipped-app"
    assert (folder / "config.json").is_file()

    copy = tmp_path / "data"
    shutil.copytree(registry.SHIPPED_DATA_DIR / "recsys", copy / "recsys")
    items = copy / "recsys" / "shipped-app" / "items.npz"
    damaged = bytearray(items.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # same size: only the checksum can tell
    items.write_bytes(bytes(damaged))
    monkeypatch.setattr(registry, "SHIPPED_DATA_DIR", copy)
    with pytest.raises(ModelError, match=r"items\.npz is damaged"):
        registry.shipped_model_dir(registry.RECSYS_APP)


def test_only_shipped_models_have_a_folder_in_core() -> None:
    with pytest.raises(ModelError, match="does not ship"):
        registry.shipped_dir(registry.SMOLLM2)
