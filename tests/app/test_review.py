"""The Review view: single-key decisions that persist and survive re-annotation."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.services import ReviewService

pytestmark = pytest.mark.slow


def _review_window(make_window, annotated_library: Path, tmp_path: Path, qtbot):  # type: ignore[no-untyped-def]
    directory = Path(shutil.copytree(annotated_library, tmp_path / "lib"))
    window = make_window(directory)
    window.show_view("Review")
    view = window.review_view
    qtbot.waitUntil(lambda: not view.loading and bool(view.cards), timeout=30_000)
    return window, view, directory


def test_accept_with_a_key_persists(make_window, annotated_library: Path, tmp_path, qtbot) -> None:
    _window, view, directory = _review_window(make_window, annotated_library, tmp_path, qtbot)
    first = view.current
    assert first is not None and first.status == "auto"
    assert view.cards == sorted(view.cards, key=lambda c: (c.source != "lowest",))
    view.queue.setFocus()
    with qtbot.waitSignal(view.reviewed, timeout=10_000) as done:
        qtbot.keyClick(view.queue, Qt.Key.Key_A)
    accepted = done.args[0]
    assert accepted.tag_id == first.tag_id and accepted.status == "accepted"
    assert view.current is not None and view.current.tag_id != first.tag_id  # moved on
    assert view.queue.item(0).text().startswith("✓")

    # Stored: a fresh connection sees the tag as reviewed and it leaves the queue.
    other = ReviewService(directory)
    try:
        assert first.tag_id not in {c.tag_id for c in other.queue(200)}
    finally:
        other.close()
    from core.annotate import item_tags
    from core.store import Library

    with Library(directory) as lib:
        tag = next(t for t in item_tags(lib, first.media_id).tags if t.id == first.tag_id)
    assert tag.status == "accepted" and tag.gold


def test_edit_a_topic_from_the_allowed_list(
    make_window, annotated_library: Path, tmp_path, qtbot
) -> None:
    _window, view, _directory = _review_window(make_window, annotated_library, tmp_path, qtbot)
    row = next((n for n, c in enumerate(view.cards) if c.type == "topic"), None)
    if row is None:
        pytest.fail(f"the annotator produced no topic tag: {[c.type for c in view.cards]}")
    view.queue.setCurrentRow(row)
    card = view.current
    view.queue.setFocus()
    qtbot.keyClick(view.queue, Qt.Key.Key_E)
    assert not view.editor.isHidden() and view.choice.count() == len(card.choices)
    target = next(c for c in card.choices if c != card.value)
    view.choice.setCurrentText(target)
    with qtbot.waitSignal(view.reviewed, timeout=10_000) as done:
        qtbot.mouseClick(view.save_button, Qt.MouseButton.LeftButton)
    edited = done.args[0]
    assert edited.status == "edited" and edited.value == target


def test_an_entity_edit_to_a_name_not_in_the_transcript_is_refused(
    annotated_library: Path, tmp_path
) -> None:
    from core.errors import UsageError

    directory = Path(shutil.copytree(annotated_library, tmp_path / "lib"))
    service = ReviewService(directory)
    try:
        cards = service.queue(200)
        entity = next((c for c in cards if c.type == "entity"), None)
        if entity is None:
            pytest.fail(f"no entity tag on the Gutenberg podcast: {[c.type for c in cards]}")
        with pytest.raises(UsageError):
            service.decide(entity, "edit", "Zorblax Quintavious")
    finally:
        service.close()


def test_library_shows_tags_and_search_facets_filter(
    make_window, annotated_library: Path, tmp_path, qtbot
) -> None:
    directory = Path(shutil.copytree(annotated_library, tmp_path / "lib"))
    window = make_window(directory)
    (item,) = window.library_view.model.items
    assert item.topics and item.mood and item.rating
    model = window.library_view.model
    row = [model.data(model.index(0, c)) for c in range(model.columnCount())]
    assert row[5] == ", ".join(item.topics) and row[6] == item.mood and row[7] == item.rating

    view = window.search_view
    view.query.setText("printing press")

    def search(topic: str) -> list:  # type: ignore[type-arg]
        with qtbot.waitSignal(view.results_ready, timeout=60_000) as blocker:
            view.topic.setCurrentIndex(view.topic.findData(topic))
            view.run()
        return list(blocker.args[0])

    assert search(item.topics[0])
    other = next(
        t
        for t in [view.topic.itemData(i) for i in range(1, view.topic.count())]
        if t not in item.topics
    )
    assert search(other) == []
