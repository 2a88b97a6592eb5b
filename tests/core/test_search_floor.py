"""The relevance floor of search and the ingest progress of the command line (issue 21)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from core.search import RELEVANCE_FLOOR, Searcher
from core.store import Library
from tests.conftest import REPO, mediamind


def mm(*args: str, library: Path) -> subprocess.CompletedProcess[str]:
    return mediamind(
        *args, library=library, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600
    )


SRT = """1
00:00:01,000 --> 00:00:05,000
Glaciers carve deep fjords into the mountains over thousands of years.

2
00:00:06,000 --> 00:00:10,000
The moraines they leave behind mark how far the ice once reached.
"""


@pytest.fixture
def glacier_library(tmp_path: Path) -> Path:
    (tmp_path / "glaciers.srt").write_text(SRT, encoding="utf-8")
    lib = tmp_path / "lib"
    out = mm("ingest", str(tmp_path / "glaciers.srt"), library=lib)
    assert out.returncode == 0, out.stderr
    return lib


def test_a_query_about_nothing_in_the_library_finds_nothing(glacier_library: Path) -> None:
    out = mm("search", "sourdough bread recipe", "--json", library=glacier_library)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
    text = mm("search", "sourdough bread recipe", library=glacier_library)
    assert text.stdout.strip() == "No matches."
    # --all shows the nearest moments anyway, each with its (low) relevance.
    every = json.loads(
        mm("search", "sourdough bread recipe", "--all", "--json", library=glacier_library).stdout
    )
    assert every and all(r["relevance"] < RELEVANCE_FLOOR for r in every)


def test_a_relevant_query_keeps_its_hit_with_a_relevance(glacier_library: Path) -> None:
    out = mm("search", "how glaciers shape fjords", "--json", library=glacier_library)
    hits = json.loads(out.stdout)
    assert hits and hits[0]["relevance"] >= RELEVANCE_FLOOR
    assert "fjords" in hits[0]["text"] and set(hits[0]) >= {"media_id", "start", "score"}
    with Library(glacier_library) as lib:
        searcher = Searcher(lib)
        chunk = [c.id for c in lib.chunks(1)]
        ((cos, coverage),) = searcher.relevance_parts("glaciers fjords", chunk).values()
        assert 0 < cos < 1 and coverage == 1.0  # both words are in the chunk
        # A word the library never mentions weighs most: "shape" is missing here.
        ((_, part),) = searcher.relevance_parts("glaciers shape fjords", chunk).values()
        assert 0 < part < 0.5


def test_ingest_progress_is_plain_lines_off_a_terminal(tmp_path: Path) -> None:
    (tmp_path / "glaciers.srt").write_text(SRT, encoding="utf-8")
    out = mm("ingest", str(tmp_path / "glaciers.srt"), library=tmp_path / "lib")
    assert out.returncode == 0
    assert "\r" not in out.stderr and "\x1b" not in out.stderr, out.stderr
    # One line per file (with its time and speed), then the summary.
    first, summary = out.stderr.splitlines()
    assert first.startswith("ingested (1/1) glaciers.srt in ") and first.endswith(" real time")
    assert summary == "1 ingested, 0 unchanged, 0 failed"


def test_ingest_progress_on_a_terminal_is_a_rich_bar(tmp_path: Path) -> None:
    (tmp_path / "glaciers.srt").write_text(SRT, encoding="utf-8")
    pid, fd = pty.fork()
    if pid == 0:  # the child: the command line, with a terminal as stdout and stderr
        os.environ["PYTHONPATH"] = str(REPO)
        os.chdir(REPO)
        os.execv(
            sys.executable,
            [
                sys.executable,
                "-m",
                "core.cli",
                "--library",
                str(tmp_path / "lib"),
                "ingest",
                str(tmp_path / "glaciers.srt"),
            ],
        )
    output = b""
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        output += data
    _, status = os.waitpid(pid, 0)
    text = output.decode("utf-8", "replace")
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "\x1b[?25l" in text  # rich's live display hides the cursor while it draws
    assert "[#" not in text  # not the old hand-drawn bar
    assert "ingested (1/1) glaciers.srt" in text and "\u00d7 real time" in text
