from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import ModelError
from core.registry import (
    WHISPER_TINY_EN,
    ModelFile,
    model_statuses,
    sha256_file,
    verify_file,
    whisper_model_dir,
)


def test_tiny_en_resolves_and_verifies() -> None:
    path = whisper_model_dir("tiny.en")
    assert (path / "model.bin").stat().st_size == 75537502
    assert all(s.installed for s in model_statuses() if s.name == "tiny.en")


def test_a_damaged_file_is_named_with_the_fix(tmp_path: Path) -> None:
    good = tmp_path / "weights.bin"
    good.write_bytes(b"x" * 1000)
    spec_file = ModelFile("weights.bin", sha256_file(good), 1000)
    verify_file(good, spec_file, WHISPER_TINY_EN)
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"y" * 1000)
    with pytest.raises(ModelError, match=r"damaged.*sha256.*--force-reinstall"):
        verify_file(bad, spec_file, WHISPER_TINY_EN)
    with pytest.raises(ModelError, match="missing"):
        verify_file(tmp_path / "gone.bin", spec_file, WHISPER_TINY_EN)
    short = tmp_path / "short.bin"
    short.write_bytes(b"x" * 10)
    with pytest.raises(ModelError, match="size 10 bytes, expected 1000"):
        verify_file(short, spec_file, WHISPER_TINY_EN)


def test_unknown_model_choice() -> None:
    with pytest.raises(ModelError, match="neither a registered name nor a folder"):
        whisper_model_dir("large-v9")


@pytest.mark.slow
def test_whisper_base_is_joined_verified_and_transcribes(jfk: Path) -> None:
    from bench.wer import wer
    from core.ingest import decode_audio
    from core.ingest.transcribe import Transcriber

    path = whisper_model_dir("base")
    assert (path / "model.bin").stat().st_size == 2 * 72608766
    assert whisper_model_dir("base") == path  # second call reuses the joined file
    tr = Transcriber("base")
    info, segments = tr.transcribe(decode_audio(jfk))
    text = " ".join(s.text for s in segments)
    assert info.language == "en"
    assert (
        wer(
            "And so my fellow Americans, ask not what your country can do for you, "
            "ask what you can do for your country.",
            text,
        )
        < 0.1
    )
    # A user-supplied CTranslate2 folder works too.
    custom = path.parent / "my-copy"
    shutil.copytree(path, custom, dirs_exist_ok=True)
    assert Transcriber(str(custom)).model_id == "whisper:my-copy"


@pytest.mark.slow
def test_language_detection_with_a_multilingual_model() -> None:
    from core.ingest import decode_audio
    from core.ingest.transcribe import Transcriber
    from tests.conftest import require_shared

    clip = require_shared("speech", "fleurs", "fleurs-de-000.ogg")
    info, segments = Transcriber("base").transcribe(decode_audio(clip))
    assert info.language == "de" and info.language_probability > 0.5
    assert any(s.text for s in segments)
