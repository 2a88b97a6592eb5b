"""Hybrid search on a real library with the real int8 MiniLM model."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from unittest.mock import patch

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import core.search.hybrid
from core.ingest.pipeline import IngestOptions, import_transcript, ingest
from core.search import Searcher, SearchFilters, default_encoder, fts_query, query_terms
from core.store import Library
from core.transcript import Segment

pytestmark = pytest.mark.slow

TALKS = {
    "town_hall.srt": [
        "Welcome to the all hands. Today we cover the goals for the fourth quarter.",
        "Our chief financial officer will now walk through the operating budget "
        "and spending limits.",
        "The travel freeze stays until January, and every team lead gets an updated cost sheet.",
    ],
    "cooking.vtt": [
        "Today we make pancakes with flour, milk and two eggs.",
        "Let the batter rest for ten minutes, then heat a buttered pan.",
    ],
    "volcano.srt": [
        "Plate tectonics explains why volcanoes line the edges of the Pacific.",
        "Magma rises where one plate slides beneath another.",
    ],
}


def write_subs(folder: Path) -> list[Path]:
    paths = []
    for name, lines in TALKS.items():
        path = folder / name
        cues = []
        for i, line in enumerate(lines):
            a, b = i * 31, i * 31 + 30
            start, end = f"00:{a // 60:02d}:{a % 60:02d}", f"00:{b // 60:02d}:{b % 60:02d}"
            if name.endswith(".vtt"):
                cues.append(f"{start}.000 --> {end}.000\n{line}\n")
            else:
                cues.append(f"{i + 1}\n{start},000 --> {end},000\n{line}\n")
        path.write_text(("WEBVTT\n\n" if name.endswith(".vtt") else "") + "\n".join(cues))
        paths.append(path)
    return paths


class CountingEncoder:
    """The real encoder, counting how many texts reach the model."""

    def __init__(self) -> None:
        self.inner = default_encoder()
        self.calls = 0

    @property
    def model_id(self) -> str:
        return self.inner.model_id

    @property
    def dim(self) -> int:
        return self.inner.dim

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        self.calls += len(texts)
        return self.inner.encode(texts, batch_size)


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Library:
    folder = tmp_path_factory.mktemp("subs")
    lib = Library(tmp_path_factory.mktemp("lib"))
    events = list(ingest(lib, write_subs(folder)))
    assert {e.kind for e in events} == {"started", "progress", "done"}
    return lib


def test_finds_by_meaning_with_timestamps(library: Library) -> None:
    results = Searcher(library).search("when did they talk about money and expenses", k=3)
    assert results[0].title == "town hall" and "budget" in results[0].text
    assert results[0].start == 31.0 and results[0].end == 61.0
    assert results[0].start_display == "0:31"
    paraphrase = Searcher(library).search("why are there so many eruptions around the ocean", k=1)
    assert paraphrase[0].title == "volcano"


def test_words_are_marked_and_json_has_the_contract(library: Library) -> None:
    (hit,) = Searcher(library).search("pancakes batter", k=1)
    assert "**pancakes**" in hit.marked
    assert set(hit.to_json()) >= {"media_id", "title", "start", "end", "text", "score"}


def test_filters(tmp_path: Path) -> None:
    library = Library(tmp_path / "lib")
    list(ingest(library, write_subs(tmp_path)))
    minutes = import_transcript(
        library, "transcript:minutes/1", "minutes", [Segment(0, 30, "We agreed the budget.")]
    )
    searcher = Searcher(library)
    everything = {h.media_id for h in searcher.search("budget", k=10)}
    assert minutes in everything and len(everything) > 1  # so each filter has work to do
    subs = {
        h.media_id
        for h in searcher.search("budget", k=10, filters=SearchFilters(kinds=("subtitle",)))
    }
    assert subs == everything - {minutes}
    only = searcher.search("budget", k=10, filters=SearchFilters(kinds=("transcript",)))
    assert {h.media_id for h in only} == {minutes}
    cooking = next(i for i in library.items() if i.title == "cooking")
    hits = searcher.search("budget", k=10, filters=SearchFilters(media_ids=(cooking.id,)))
    assert hits and {h.media_id for h in hits} == {cooking.id}
    assert searcher.search("budget", filters=SearchFilters(added_after="2999-01-01")) == []
    assert searcher.search("budget", filters=SearchFilters(kinds=("video",))) == []


def test_repeated_query_is_served_from_cache(library: Library) -> None:
    searcher = Searcher(library)
    first = searcher.search("pancake recipe", k=5)
    started = time.perf_counter()
    again = searcher.search("pancake recipe", k=5)
    assert again is first and time.perf_counter() - started < 0.002


def test_reingest_and_same_text_compute_no_embeddings(tmp_path: Path) -> None:
    encoder = CountingEncoder()
    lib = Library(tmp_path / "lib")
    paths = write_subs(tmp_path)
    list(ingest(lib, paths, IngestOptions(), encoder))
    first = encoder.calls
    assert first == sum(len(v) for v in TALKS.values())
    for p in paths:  # same text, new files: cache hits
        p.rename(p.with_name("copy_" + p.name))
    list(ingest(lib, tmp_path, IngestOptions(), encoder))
    assert encoder.calls == first
    list(ingest(lib, tmp_path, IngestOptions(), encoder))  # unchanged: skipped entirely
    assert encoder.calls == first


def test_deleting_an_item_removes_it_from_both_indexes(tmp_path: Path) -> None:
    lib = Library(tmp_path / "lib")
    paths = write_subs(tmp_path)
    list(ingest(lib, paths))
    volcano = next(i for i in lib.items() if i.title == "volcano")
    lib.delete_item(volcano.id)
    hits = Searcher(lib).search("volcano magma plate", k=10)
    assert all(h.media_id != volcano.id for h in hits)
    assert lib.db.scalar("SELECT count(*) FROM chunk_vec") == lib.db.scalar(
        "SELECT count(*) FROM chunks"
    )


def test_query_terms_escape_fts_syntax() -> None:
    assert query_terms('"budget" AND (NEAR q4* -travel):') == ["budget", "q4", "travel"]
    assert fts_query(['a"b']) == '"a""b"'


weird = st.one_of(
    st.text(max_size=200),
    st.sampled_from(
        ['"', "(", ")", "NEAR(", "*", "-", ":", "AND", "OR NOT", "🚀🔥", "\x00", "'", "^"]
    ),
    st.builds(lambda n: "budget " * n, st.integers(0, 1500)),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.lists(weird, max_size=6).map(" ".join), k=st.integers(-5, 50))
def test_any_query_never_raises(library: Library, query: str, k: int) -> None:
    results = Searcher(library).search(query, k=k)
    assert len(results) <= max(1, k)
    for r in results:
        assert r.start <= r.end


def test_ten_thousand_characters(library: Library) -> None:
    assert Searcher(library).search("x" * 10_000 + " budget", k=3)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=st.lists(weird, max_size=6).map(" ".join))
def test_any_query_through_the_bm25_split_is_the_plain_ranking(
    library: Library, query: str
) -> None:
    # The split (normally from 20k chunks on) runs on this small library for every query.
    searcher = Searcher(library)
    terms = query_terms(query.replace("\x00", " ")[:10_000])  # what search() keeps of it
    with patch.object(core.search.hybrid, "BM25_SPLIT_MIN_POSTINGS", 1):
        got = searcher.search(query, k=5, mode="bm25")
        ranked = searcher._bm25(terms, 50, SearchFilters()) if terms else []
    plain = searcher._bm25_query(fts_query(terms), 50, "1", []) if terms else []
    assert ranked == [cid for cid, _ in plain]
    assert [r.chunk_id for r in got] == ranked[:5]
