"""Removing, renaming and relocating items (issue 21): ``mediamind remove`` and the store.

Everything runs on real libraries made by ``mediamind ingest`` (subtitle files, so no Whisper),
with real search vectors; rows the annotator, the player and the speaker finder would write are
added with the schema's own SQL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from core.errors import NotFoundError, UsageError
from core.registry import sha256_file
from core.search import Searcher
from core.store import Library
from core.store.db import utcnow
from tests.conftest import REPO, mediamind


def mm(*args: str, library: Path) -> subprocess.CompletedProcess[str]:
    return mediamind(
        *args, library=library, env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=600
    )


def srt(*cues: tuple[int, str]) -> str:
    return "\n".join(
        f"{i}\n00:00:{a:02d},000 --> 00:00:{a + 3:02d},000\n{text}\n"
        for i, (a, text) in enumerate(cues, 1)
    )


# Every table holding rows of one item, with the column naming it.
ITEM_TABLES = (
    "segments",
    "chunks",
    "translations",
    "tags",
    "reviews",
    "annotations",
    "watch_events",
    "item_speakers",
    "recommend_items",
)


@pytest.fixture
def two_items(tmp_path: Path) -> tuple[Path, Path]:
    """A library of two subtitle items (ids 1 and 2) and the folder of their files."""
    media = tmp_path / "media"
    media.mkdir()
    (media / "a_glaciers.srt").write_text(
        srt((1, "Glaciers carve fjords over thousands of years."), (5, "Moraines mark them.")),
        encoding="utf-8",
    )
    (media / "b_budget.srt").write_text(
        srt((1, "The council approved the budget for the library."), (5, "Taxes stay.")),
        encoding="utf-8",
    )
    lib = tmp_path / "lib"
    out = mm("ingest", str(media / "a_glaciers.srt"), library=lib)
    assert out.returncode == 0, out.stderr
    out = mm("ingest", str(media / "b_budget.srt"), library=lib)
    assert out.returncode == 0, out.stderr
    return lib, media


def add_history(lib: Library, item_id: int) -> None:
    """What tagging, review, playback, speakers and translation store for an item."""
    db, now = lib.db, utcnow()
    with db.atomic():
        db.execute(
            "INSERT INTO annotations (media_id, content_sha256, model_id, prompt_version, "
            "annotated_at, status) VALUES (?, 'x', 'm', 'p', ?, 'done')",
            (item_id, now),
        )
        db.execute(
            "INSERT INTO tags (media_id, type, value, confidence, model_id, prompt_version, "
            "annotated_at) VALUES (?, 'topic', 'Science', 0.9, 'm', 'p', ?)",
            (item_id, now),
        )
        tag = db.last_insert_rowid()
        db.execute(
            "INSERT INTO review_draws (tag_id, source, drawn_at) VALUES (?, 'random', ?)",
            (tag, now),
        )
        db.execute(
            "INSERT INTO reviews (tag_id, media_id, tag_type, decision, old_value, confidence, "
            "source, model_id, prompt_version, annotated_at, reviewed_at) "
            "VALUES (?, ?, 'topic', 'accept', 'Science', 0.9, 'random', 'm', 'p', ?, ?)",
            (tag, item_id, now, now),
        )
        db.execute(
            "INSERT INTO watch_events (media_id, kind, position, at, ts, session_id) "
            "VALUES (?, 'play', 0, ?, 1, 1)",
            (item_id, now),
        )
        db.execute(
            "INSERT INTO speaker_profiles (centroid, seconds, created_at) VALUES (x'00', 1, ?)",
            (now,),
        )
        profile = db.last_insert_rowid()
        db.execute(
            "INSERT INTO item_speakers (media_id, label, profile_id, centroid, seconds) "
            "VALUES (?, 0, ?, x'00', 1)",
            (item_id, profile),
        )
        db.execute(
            "INSERT INTO translations (media_id, idx, start, end, text, model_id) "
            "VALUES (?, 0, 0, 1, 'hello', 'm')",
            (item_id,),
        )
        db.execute(
            "INSERT INTO recommend_items (media_id, content_version, model_id, text_sha256, "
            "vector, topic) VALUES (?, 0, 'm', 'x', x'00', 'Science')",
            (item_id,),
        )


def rows_of(lib: Library, item_id: int) -> dict[str, int]:
    return {
        t: int(lib.db.scalar(f"SELECT count(*) FROM {t} WHERE media_id=?", (item_id,)))
        for t in ITEM_TABLES
    }


def test_remove_takes_every_row_of_the_item_and_keeps_its_file(
    two_items: tuple[Path, Path],
) -> None:
    lib_dir, media = two_items
    with Library(lib_dir) as lib:
        add_history(lib, 1)
        add_history(lib, 2)
        chunk_ids = [c.id for c in lib.chunks(1)]
        assert chunk_ids and all(rows_of(lib, 1).values())
        assert Searcher(lib).search("glaciers fjords", k=5)[0].media_id == 1

    out = mm("remove", "1", "--json", library=lib_dir)
    assert out.returncode == 0, out.stderr
    assert [i["id"] for i in json.loads(out.stdout)] == [1]

    with Library(lib_dir) as lib:
        assert [i.id for i in lib.items()] == [2]
        assert rows_of(lib, 1) == dict.fromkeys(ITEM_TABLES, 0)
        marks = ",".join("?" * len(chunk_ids))
        for table in ("chunk_vec", "chunk_vec_bits", "chunk_vec_int8"):
            sql = f"SELECT count(*) FROM {table} WHERE chunk_id IN ({marks})"
            assert lib.db.scalar(sql, chunk_ids) == 0, table
        assert lib.db.scalar("SELECT count(*) FROM chunk_fts WHERE chunk_fts MATCH 'glaciers'") == 0
        assert lib.db.scalar("SELECT count(*) FROM review_draws") == 1  # item 2's
        # The voice heard only in item 1 went with it; item 2's stays.
        assert lib.db.scalar("SELECT count(*) FROM speaker_profiles") == 1
        assert all(rows_of(lib, 2).values())  # the other item is untouched
        assert all(r.media_id == 2 for r in Searcher(lib).search("glaciers fjords", k=5))
    assert (media / "a_glaciers.srt").is_file()  # the file stays on disk


def test_remove_with_an_unknown_id_removes_nothing(two_items: tuple[Path, Path]) -> None:
    lib_dir, _ = two_items
    out = mm("remove", "2", "99", library=lib_dir)
    assert out.returncode == NotFoundError.exit_code and "no item 99" in out.stderr
    assert out.stdout == ""
    with Library(lib_dir) as lib:
        assert [i.id for i in lib.items()] == [1, 2]  # item 2 was not removed either
        assert lib.chunks(2)


def test_a_failed_import_can_be_removed(tmp_path: Path) -> None:
    bad = tmp_path / "broken.srt"
    bad.write_text("this is not a subtitle file", encoding="utf-8")
    lib_dir = tmp_path / "lib"
    assert mm("ingest", str(bad), library=lib_dir).returncode == 1
    listed = json.loads(mm("library", "--json", library=lib_dir).stdout)
    assert [(i["id"], i["status"]) for i in listed] == [(1, "error")]
    out = mm("remove", "1", library=lib_dir)
    assert out.returncode == 0, out.stderr
    assert "removed 1" in out.stdout and "the file stays" in out.stdout
    assert json.loads(mm("library", "--json", library=lib_dir).stdout) == []


def test_rename_shows_in_search_at_once(two_items: tuple[Path, Path]) -> None:
    lib_dir, _ = two_items
    with Library(lib_dir) as lib:
        searcher = Searcher(lib)
        assert searcher.search("glaciers", k=1)[0].title == "a glaciers"
        lib.rename_item(1, "  Ice   Age  ")
        # The same searcher (its result cache) gives the new title, as the Library shows it.
        assert searcher.search("glaciers", k=1)[0].title == lib.get_item(1).title == "Ice Age"
        with pytest.raises(UsageError):
            lib.rename_item(1, "   ")


def test_relocate_accepts_the_moved_file_only(two_items: tuple[Path, Path], tmp_path: Path) -> None:
    lib_dir, media = two_items
    moved = tmp_path / "elsewhere" / "glaciers.srt"
    moved.parent.mkdir()
    shutil.move(media / "a_glaciers.srt", moved)
    with Library(lib_dir) as lib:
        with pytest.raises(UsageError, match="content differs"):
            lib.relocate_item(1, media / "b_budget.srt", sha256_file(media / "b_budget.srt"))
        item = lib.relocate_item(1, moved, sha256_file(moved))
        assert item.path == str(moved) and item.status == "ready" and lib.chunks(1)
    # The next ingest of the moved file finds it unchanged instead of adding it again.
    out = mm("ingest", str(moved), library=lib_dir)
    assert out.returncode == 0 and "unchanged" in out.stderr, out.stderr
