"""The bad-input table: each broken file gets one clear error that names it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from core.errors import MediaError, NoAudioError, PathMissingError, UnsupportedMediaError
from core.ingest.media import decode_audio, probe, title_from_filename
from tests.conftest import write_silent_video, write_tone_wav


def test_probe_and_decode_a_real_file(tmp_path: Path) -> None:
    wav = write_tone_wav(tmp_path / "Board_Meeting-2024.wav", seconds=3.0, rate=44100)
    info = probe(wav)
    assert info.kind == "audio" and info.audio_codec == "pcm_s16le"
    assert info.duration == pytest.approx(3.0, abs=0.05)
    assert info.title == "Board Meeting 2024"
    audio = decode_audio(wav, info.duration)
    assert audio.dtype.name == "float32" and audio.shape[0] == pytest.approx(48000, abs=200)


def test_video_with_picture_track_is_video(tmp_path: Path, jfk: Path) -> None:
    assert probe(jfk).kind == "audio"
    with pytest.raises(NoAudioError, match="no audio stream") as err:
        probe(write_silent_video(tmp_path / "silent.mp4"))
    assert "silent.mp4" in str(err.value) and "video" in str(err.value)


@pytest.mark.parametrize(
    "name,content,error,words",
    [
        ("empty.mp3", b"", MediaError, "empty"),
        ("notes.mp4", b"Meeting notes, not a video.\n" * 40, UnsupportedMediaError, "not a media"),
        ("random.wav", bytes(range(256)) * 64, UnsupportedMediaError, "not a media"),
    ],
)
def test_broken_files(tmp_path: Path, name: str, content: bytes, error: type, words: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(error, match=words) as err:
        probe(path)
    assert str(path) in str(err.value)


def test_truncated_file(tmp_path: Path, jfk: Path) -> None:
    data = jfk.read_bytes()
    cut = tmp_path / "cut.flac"
    cut.write_bytes(data[: len(data) // 3])
    info = probe(cut)  # the header still announces the full 11 s
    with pytest.raises(MediaError, match="truncated") as err:
        decode_audio(cut, info.duration)
    assert "cut.flac" in str(err.value)


def test_corrupt_middle_is_reported_or_decoded_but_never_crashes(tmp_path: Path, jfk: Path) -> None:
    data = bytearray(jfk.read_bytes())
    for i in range(len(data) // 4, len(data) // 2, 97):
        data[i] ^= 0xFF
    bad = tmp_path / "bad.flac"
    bad.write_bytes(bytes(data))
    try:
        audio = decode_audio(bad, probe(bad).duration)
    except MediaError as exc:
        assert "bad.flac" in str(exc)
    else:
        assert audio.shape[0] > 0


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(PathMissingError, match="no such file"):
        probe(tmp_path / "gone.mp3")


def test_title_from_filename() -> None:
    assert title_from_filename(Path("town_hall_q4.mp4")) == "town hall q4"
    assert title_from_filename(Path("a-b.mp3")) == "a b"


def test_copy_keeps_working(tmp_path: Path, jfk: Path) -> None:
    copy = tmp_path / "copy.flac"
    shutil.copy(jfk, copy)
    assert probe(copy).duration == pytest.approx(11.0, abs=0.1)
