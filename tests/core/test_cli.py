"""The command-line contract that later issues, the GUI and acceptance checks build on."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import __version__
from tests.conftest import mediamind

mm = mediamind


def test_version_and_help() -> None:
    out = mm("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"mediamind {__version__}"
    assert mm().returncode == 2


@pytest.mark.parametrize("command", ["search", "ask"])
@pytest.mark.parametrize(("k", "why"), [("0", "at least 1"), ("-3", "at least 1"), ("x", "whole")])
def test_k_must_be_a_positive_count(tmp_path: Path, command: str, k: str, why: str) -> None:
    out = mm(command, "budget", "-k", k, library=tmp_path / "lib")
    assert out.returncode == 2 and "argument -k" in out.stderr and why in out.stderr


def test_models_json_lists_the_registry() -> None:
    out = mm("models", "--json")
    assert out.returncode == 0, out.stderr
    models = {m["name"]: m for m in json.loads(out.stdout)}
    assert {"tiny.en", "base", "smollm2-135m", "all-MiniLM-L6-v2"} <= set(models)
    assert models["tiny.en"]["installed"] is True and models["tiny.en"]["license"] == "MIT"


@pytest.mark.slow
def test_ingest_library_transcript_search(tmp_path: Path, jfk: Path) -> None:
    clip = Path(shutil.copy(jfk, tmp_path / "JFK_inaugural.flac"))
    lib = tmp_path / "lib"
    out = mm("ingest", str(clip), library=lib)
    assert out.returncode == 0 and out.stdout == "", (out.stdout, out.stderr)
    (item,) = json.loads(mm("library", "--json", library=lib).stdout)
    assert item["title"] == "Inaugural Address (excerpt), 20 January 1961"  # from the tags
    assert item["status"] == "ready"
    assert item["path"] == str(clip.resolve()) and item["duration"] == pytest.approx(11.0, abs=0.1)

    srt = mm("transcript", str(item["id"]), "--format", "srt", library=lib).stdout
    assert srt.startswith("1\n00:00:0") and "-->" in srt
    vtt = mm("transcript", str(item["id"]), "--format", "vtt", library=lib).stdout
    assert vtt.startswith("WEBVTT")
    words = json.loads(mm("transcript", str(item["id"]), "--format", "json", library=lib).stdout)
    assert words[0]["words"][0]["start"] >= 0

    hits = json.loads(mm("search", "what can you do for the nation", "--json", library=lib).stdout)
    assert hits[0]["media_id"] == item["id"] and {"title", "start", "end", "text", "score"} <= set(
        hits[0]
    )

    missing = mm("transcript", "999", library=lib)
    assert missing.returncode == 1 and "no item 999" in missing.stderr and missing.stdout == ""


def test_library_env_var_sets_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    envlib = tmp_path / "envlib"
    monkeypatch.setenv("MEDIAMIND_LIBRARY", str(envlib))
    # Reading a library that does not exist says so and creates nothing.
    out = mm("library", "--json")
    assert out.returncode == 1 and out.stdout == ""
    assert f"There is no library at {envlib}" in out.stderr
    assert not envlib.exists()
    # Ingest creates it where the variable points.
    srt = tmp_path / "note.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,000\nHello there.\n", encoding="utf-8")
    assert mm("ingest", str(srt)).returncode == 0
    assert (envlib / "library.sqlite").is_file()
    (item,) = json.loads(mm("library", "--json").stdout)
    assert item["status"] == "ready"
