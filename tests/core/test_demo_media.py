"""The bundled demo library: its recorded sentence times match the files, and it reads right."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import av
import pytest

from bench.wer import edit_distance, normalize
from core.ingest import IngestOptions, ingest
from core.store import Library
from core.transcript import read_subtitle_file

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "demo"


def _make_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_demo", DEMO / "make_demo.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _duration(path: Path) -> float:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        last = 0.0
        for frame in container.decode(stream):
            last = float(frame.time or 0.0) + frame.samples / frame.sample_rate
        return last


def test_timings_are_those_of_the_written_files_and_cover_the_scripts() -> None:
    md = _make_demo()
    timings = json.loads((DEMO / "timings.json").read_text(encoding="utf-8"))
    for item in md.ITEMS:
        script = [s.text for s in md.parse_script(DEMO / "scripts" / f"{item.stem}.txt")]
        rows = timings[item.stem]
        assert [r["text"] for r in rows] == script, f"{item.stem}: rerun demo/make_demo.py"
        starts = [r["start"] for r in rows]
        assert starts == sorted(starts) and all(r["end"] > r["start"] for r in rows)
        # The file holds the speech and then the fixed tail: its length pins the times down
        # (a different take of the neural voice is seconds longer or shorter).
        duration = _duration(DEMO / "media" / item.filename)
        assert rows[-1]["end"] + md.TAIL_S == pytest.approx(duration, abs=0.15), item.stem
    questions = json.loads((REPO / "bench" / "demo_questions.json").read_text())["questions"]
    for q in questions:
        assert q["sentence"] in {r["text"] for r in timings[q["item"]]}, q["question"]


def test_the_podcast_subtitles_follow_the_recorded_times() -> None:
    timings = json.loads((DEMO / "timings.json").read_text(encoding="utf-8"))
    rows = timings["printing_history_podcast"]
    cues = read_subtitle_file(DEMO / "media" / "printing_history_podcast.srt")
    assert cues[0].start == pytest.approx(rows[0]["start"], abs=0.002)
    assert cues[-1].end == pytest.approx(rows[-1]["end"], abs=0.002)


@pytest.mark.slow
def test_the_neural_narration_reads_right_with_the_default_model(tmp_path: Path) -> None:
    """The lecture once opened "Go after noon! ... Fogles in the system" (espeak-ng, WER 15%)."""
    md = _make_demo()
    lecture = DEMO / "media" / "science_lecture.webm"
    with Library(tmp_path / "lib") as lib:
        events = list(ingest(lib, [lecture], IngestOptions(model="tiny.en", speakers=False)))
        assert events[-1].kind == "done", events[-1]
        (item,) = lib.items()
        text = " ".join(s.text for s in lib.segments(item.id))
    ref = normalize(md.spoken_text(DEMO / "scripts" / "science_lecture.txt"))
    hyp = normalize(text)
    assert edit_distance(ref, hyp) / len(ref) <= 0.10, text
    assert text.lower().startswith("good afternoon")
    assert "photosynthesis" in " ".join(hyp[:20])
