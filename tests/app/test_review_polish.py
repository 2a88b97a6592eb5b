"""Review: undo the last decision (Ctrl+Z), play a tag's evidence, a readable queue, and an
empty state with a button instead of a command line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence

from core.annotate.store import NewTag

pytestmark = pytest.mark.slow

TOPIC = "history"


def _tagged_library(podcast_library: Path, tmp_path: Path) -> tuple[Path, int]:
    """The podcast library with machine tags stored as the annotator stores them."""
    from core.annotate.store import replace_machine_tags
    from core.store import Library

    directory = Path(shutil.copytree(podcast_library, tmp_path / "lib"))
    with Library(directory) as lib:
        (item,) = lib.items()
        chunks = lib.chunks(item.id)
        tags = [
            NewTag(
                "summary", "A podcast on how printing spread across Europe.", 0.41, [chunks[0].id]
            ),
            NewTag("topic", TOPIC, 0.35, [chunks[1].id, chunks[2].id]),
            NewTag("mood", "informative", 0.52, [chunks[0].id]),
        ]
        with lib.db.atomic():
            replace_machine_tags(lib, item.id, tags, prompt_version="test", run_id=None)
        return directory, item.id


def _tag(directory: Path, tag_id: int):  # type: ignore[no-untyped-def]
    from core.annotate import get_tag
    from core.store import Library

    with Library(directory) as lib:
        tag = get_tag(lib, tag_id)
        reviews = lib.db.scalar("SELECT count(*) FROM reviews WHERE tag_id=?", (tag_id,))
    return tag, reviews


def test_undo_takes_back_the_last_decision(
    make_window, podcast_library: Path, tmp_path: Path, qtbot
) -> None:
    directory, _item = _tagged_library(podcast_library, tmp_path)
    window = make_window(directory)
    window.show_view("Review")
    view = window.review_view
    qtbot.waitUntil(lambda: not view.loading and len(view.cards) == 3, timeout=30_000)
    assert not view.undo_button.isEnabled()
    first = view.current
    view.queue.setFocus()
    with qtbot.waitSignal(view.reviewed, timeout=10_000):
        qtbot.keyClick(view.queue, Qt.Key.Key_R)
    assert _tag(directory, first.tag_id) == (_tag(directory, first.tag_id)[0], 1)
    assert _tag(directory, first.tag_id)[0].status == "rejected"
    assert view.current.tag_id != first.tag_id and view.undo_button.isEnabled()

    with qtbot.waitSignal(view.undone, timeout=10_000) as undone:
        qtbot.keySequence(view.queue, QKeySequence(QKeySequence.StandardKey.Undo))
    card = undone.args[0]
    assert card.tag_id == first.tag_id and card.status == "auto"
    assert view.current.tag_id == first.tag_id  # shown again, to decide anew
    assert view.queue.item(view.queue.currentRow()).text().startswith("•")
    tag, reviews = _tag(directory, first.tag_id)
    assert tag.status == "auto" and tag.reviewed_at is None and reviews == 0
    assert not view.undo_button.isEnabled()

    # An edit is taken back to the machine's value.
    topic_row = next(n for n, c in enumerate(view.cards) if c.type == "topic")
    view.queue.setCurrentRow(topic_row)
    target = next(c for c in view.current.choices if c != TOPIC)
    with qtbot.waitSignal(view.reviewed, timeout=10_000) as done:
        view.decide("edit", target)
    assert done.args[0].value == target
    with qtbot.waitSignal(view.undone, timeout=10_000):
        view.undo()
    tag, reviews = _tag(directory, view.cards[topic_row].tag_id)
    assert (tag.value, tag.status, tag.original_value, reviews) == (TOPIC, "auto", None, 0)
    assert view.cards[topic_row].value == TOPIC


def test_undo_right_after_a_decision_waits_for_it(
    make_window, podcast_library: Path, tmp_path: Path, qtbot
) -> None:
    directory, _item = _tagged_library(podcast_library, tmp_path)
    window = make_window(directory)
    window.show_view("Review")
    view = window.review_view
    qtbot.waitUntil(lambda: not view.loading and len(view.cards) == 3, timeout=30_000)
    first = view.current
    with qtbot.waitSignal(view.undone, timeout=10_000):
        view.decide("accept")
        view.undo()  # before the worker stored the decision
    tag, reviews = _tag(directory, first.tag_id)
    assert tag.status == "auto" and reviews == 0


def test_play_evidence_opens_the_player_at_the_tag_moment(
    make_window, podcast_library: Path, tmp_path: Path, qtbot
) -> None:
    directory, item_id = _tagged_library(podcast_library, tmp_path)
    window = make_window(directory)
    window.show_view("Review")
    view = window.review_view
    qtbot.waitUntil(lambda: not view.loading and len(view.cards) == 3, timeout=30_000)
    row = next(n for n, c in enumerate(view.cards) if c.type == "topic")
    view.queue.setCurrentRow(row)
    card = view.current
    assert len(card.context) == 2 and view.play_button.isEnabled()
    with qtbot.waitSignal(view.play_requested, timeout=2_000) as played:
        qtbot.mouseClick(view.play_button, Qt.MouseButton.LeftButton)
    assert played.args == [item_id, card.context[0][0]]
    assert window.current_view() is window.player_view
    assert window.player_view.item.id == item_id

    window.show_view("Review")
    view.moments.setCurrentRow(1)
    view.queue.setFocus()
    with qtbot.waitSignal(view.play_requested, timeout=2_000) as played:
        qtbot.keyClick(view.queue, Qt.Key.Key_P)
    assert played.args == [item_id, card.context[1][0]]


def test_queue_rows_wrap_instead_of_scrolling_sideways(
    make_window, podcast_library: Path, tmp_path: Path, qtbot
) -> None:
    directory, _item = _tagged_library(podcast_library, tmp_path)
    window = make_window(directory)
    window.resize(800, 600)
    window.show_view("Review")
    view = window.review_view
    qtbot.waitUntil(lambda: not view.loading and len(view.cards) == 3, timeout=30_000)
    qtbot.wait(50)
    assert window.width() == 800  # really 800 px wide, not held wider by a view
    assert view.queue.width() >= view.queue.minimumWidth() >= 200
    assert view.queue.horizontalScrollBar().maximum() == 0
    summary = next(n for n, c in enumerate(view.cards) if c.type == "summary")
    rect = view.queue.visualItemRect(view.queue.item(summary))
    assert rect.right() <= view.queue.viewport().width()


def test_empty_review_offers_tagging_not_a_command(make_window, library_dir: Path, qtbot) -> None:
    window = make_window(library_dir)
    window.show_view("Review")
    view = window.review_view
    qtbot.waitUntil(lambda: not view.loading, timeout=30_000)
    assert "mediamind" not in view.placeholder.text()
    assert view.tag_all_button.isVisible()
    with qtbot.waitSignal(view.tag_all_requested, timeout=1_000):
        qtbot.mouseClick(view.tag_all_button, Qt.MouseButton.LeftButton)
    assert "Jobs" in view.placeholder.text()
