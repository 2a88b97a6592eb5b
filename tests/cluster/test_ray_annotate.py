"""Annotation with the language model on a real local Ray (inside the test namespace)."""

from __future__ import annotations

from pathlib import Path

import pytest

from core import cluster
from core.annotate import AnnotateSettings, Annotator, annotate, item_tags
from core.ingest.pipeline import import_transcript
from core.store import Library
from tests.core.test_annotate import CRIME, ECONOMY, FOOTBALL, segments

pytestmark = pytest.mark.slow

SETTINGS = AnnotateSettings(max_windows=1, window_tokens=120)


def library(path: Path) -> Library:
    lib = Library(path)
    import_transcript(lib, "transcript:test/football", "Match report", segments(FOOTBALL))
    import_transcript(lib, "transcript:test/economy", "Rates rise", segments(ECONOMY))
    import_transcript(lib, "transcript:test/crime", "Court case", segments(CRIME))
    return lib


def tags(lib: Library) -> dict[str, list[tuple[str, str, float]]]:
    out = {}
    for item in lib.items():
        t = item_tags(lib, item.id)
        out[item.title] = sorted((x.type, x.value, round(x.confidence, 4)) for x in t.tags)
    return out


def test_annotate_on_ray_stores_what_local_annotation_stores(
    tmp_path: Path, shared_models: Path, netns: None
) -> None:
    with library(tmp_path / "local") as lib:
        kinds = [e.kind for e in annotate(lib, annotator=Annotator(lib, settings=SETTINGS))]
        assert kinds.count("done") == 3
        want = tags(lib)
    opts = cluster.ClusterOptions(address="local", local_cpus=2)
    with library(tmp_path / "ray") as lib:
        ann = Annotator(lib, settings=SETTINGS)
        events = list(cluster.annotate(lib, ann, None, opts))
        assert [e.kind for e in events].count("done") == 3, events
        assert events[-1].kind == "finished"
        assert tags(lib) == want
        # A repeat run finds every item unchanged and starts no worker.
        again = list(cluster.annotate(lib, Annotator(lib, settings=SETTINGS), None, opts))
        assert [e.kind for e in again] == ["skipped"] * 3 + ["finished"]
