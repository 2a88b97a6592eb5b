"""The command line's search filters, prune and ingest --prefer-subtitles, end to end.

``cli.main`` runs in this process (the parse, the command and its output exactly as
``mediamind`` runs them) so the embedding model loads once for the module. Each filter is
checked to discriminate: the unfiltered search returns items the filter must drop.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from core import cli
from core.ingest.pipeline import import_transcript
from core.store import Library
from core.transcript import Segment
from tests.core.test_search import write_subs

pytestmark = pytest.mark.slow

ADDED = {  # title -> added_at, set so --since/--until have something to cut
    "town hall": "2020-03-01T10:00:00Z",
    "cooking": "2021-03-01T10:00:00Z",
    "volcano": "2022-03-01T10:00:00Z",
    "budget minutes": "2023-03-01T10:00:00Z",
}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three subtitle items and one transcript item, annotated (moods and ratings)."""
    directory = tmp_path_factory.mktemp("cli-lib")
    subs = tmp_path_factory.mktemp("cli-subs")
    write_subs(subs)
    assert cli.main(["--library", str(directory), "ingest", str(subs)]) == 0
    with Library(directory) as lib:
        import_transcript(
            lib,
            "transcript:minutes/budget",
            "budget minutes",
            [
                Segment(0, 30, "The council agreed the budget and the spending cuts."),
                Segment(30, 60, "Costs for the new library building went over the budget."),
            ],
        )
        for item in lib.items():
            # The vector index keeps its own copy of added_at, to filter during the scan.
            for sql in (
                "UPDATE media_items SET added_at = ? WHERE id = ?",
                "UPDATE chunk_vec SET added_at = ? WHERE media_id = ?",
            ):
                lib.db.execute(sql, (ADDED[item.title], item.id))
    assert cli.main(["--library", str(directory), "annotate", "--all", "--no-llm"]) == 0
    return directory


def search(library: Path, capsys: pytest.CaptureFixture[str], *args: str) -> set[str]:
    """Titles of the items ``mediamind search QUERY --json --all`` returns with ``args``.

    ``--all`` turns the relevance floor off, so every item is a candidate the filters must
    keep or drop.
    """
    capsys.readouterr()
    argv = ["--library", str(library), "search", "budget", "-k", "50", "--json", "--all"]
    code = cli.main([*argv, *args])
    out = capsys.readouterr().out
    assert code == 0
    return {hit["title"] for hit in json.loads(out)} if out.strip().startswith("[") else set()


def items(library: Path) -> dict[str, int]:
    with Library(library) as lib:
        return {i.title: i.id for i in lib.items()}


def tag_values(library: Path, kind: str) -> dict[str, str]:
    with Library(library) as lib:
        rows = lib.db.query(
            "SELECT m.title, t.value FROM tags t JOIN media_items m ON m.id = t.media_id "
            "WHERE t.type = ? AND t.status != 'rejected'",
            (kind,),
        )
    return {r["title"]: r["value"] for r in rows}


def test_unfiltered_search_finds_every_item(library: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert search(library, capsys) == set(ADDED)


def test_kind(library: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    assert search(library, capsys, "--kind", "subtitle") == {"town hall", "cooking", "volcano"}
    assert search(library, capsys, "--kind", "transcript") == {"budget minutes"}
    both = search(library, capsys, "--kind", "transcript", "--kind", "subtitle")
    assert both == set(ADDED)
    assert search(library, capsys, "--kind", "video") == set()


def test_item(library: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    ids = items(library)
    assert search(library, capsys, "--item", str(ids["cooking"])) == {"cooking"}
    two = ("--item", str(ids["volcano"]), "--item", str(ids["budget minutes"]))
    assert search(library, capsys, *two) == {"volcano", "budget minutes"}


def test_since_and_until(library: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    # --since is inclusive, --until exclusive: a range reads [since, until).
    assert search(library, capsys, "--since", "2021-01-01") == {
        "cooking",
        "volcano",
        "budget minutes",
    }
    assert search(library, capsys, "--until", "2021-03-01") == {"town hall"}
    window = ("--since", "2021-01-01", "--until", "2023-01-01")
    assert search(library, capsys, *window) == {"cooking", "volcano"}
    assert search(library, capsys, "--until", "2000-01-01") == set()


def test_mood(library: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    moods = tag_values(library, "mood")
    assert set(moods) == set(ADDED), moods  # annotate gave every item a mood
    for mood in set(moods.values()):
        expected = {title for title, value in moods.items() if value == mood}
        assert search(library, capsys, "--mood", mood) == expected
        assert search(library, capsys, "--mood", mood.upper()) == expected  # any case


def test_max_rating(library: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    from core.taxonomy import RATINGS

    ratings = tag_values(library, "safety")
    assert set(ratings) == set(ADDED), ratings
    for limit in RATINGS:
        allowed = RATINGS[: RATINGS.index(limit) + 1]
        expected = {title for title, value in ratings.items() if value in allowed}
        assert search(library, capsys, "--max-rating", limit.lower()) == expected
    # An item not rated yet is left out of a family filter.
    with Library(library) as lib:
        lib.db.execute(
            "DELETE FROM tags WHERE type = 'safety' AND media_id = ?", (items(library)["cooking"],)
        )
    try:
        assert "cooking" not in search(library, capsys, "--max-rating", RATINGS[-1])
    finally:
        assert (
            cli.main(["--library", str(library), "annotate", "--all", "--no-llm", "--force"]) == 0
        )


def test_bad_filter_values_are_usage_errors(library: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    for args in (("--kind", "podcast"), ("--mood", "furious"), ("--max-rating", "XXX")):
        with pytest.raises(SystemExit) as exc:
            cli.main(["--library", str(library), "search", "budget", *args])
        assert exc.value.code == 2
        assert "invalid choice" in capsys.readouterr().err


def test_prune_removes_only_items_whose_files_are_gone(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    subs = tmp_path / "subs"
    subs.mkdir()
    write_subs(subs)
    library = tmp_path / "lib"
    assert cli.main(["--library", str(library), "ingest", str(subs)]) == 0
    capsys.readouterr()
    assert cli.main(["--library", str(library), "prune"]) == 0
    assert capsys.readouterr().out.strip() == "removed 0 item(s) whose files are gone"
    (subs / "cooking.vtt").unlink()
    shutil.move(subs / "volcano.srt", tmp_path / "volcano.srt")  # moved away counts as gone
    assert cli.main(["--library", str(library), "prune"]) == 0
    assert capsys.readouterr().out.strip() == "removed 2 item(s) whose files are gone"
    assert set(items(library)) == {"town hall"}
    assert search(library, capsys) == {"town hall"}  # nothing of the pruned ones is found


def test_ingest_prefer_subtitles_on_the_command_line(tmp_path: Path, jfk: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    shutil.copy(jfk, tmp_path / "talk.flac")
    (tmp_path / "talk.srt").write_text("1\n00:00:00,500 --> 00:00:04,000\nSidecar words here\n")
    library = tmp_path / "lib"
    argv = ["--library", str(library), "ingest", "--prefer-subtitles", str(tmp_path / "talk.flac")]
    assert cli.main(argv) == 0
    with Library(library) as lib:
        (item,) = lib.items()
        assert item.transcript_source == "subtitle:talk.srt"
        assert [s.text for s in lib.segments(item.id)] == ["Sidecar words here"]
