"""Taking back a review decision (the GUI's Ctrl+Z): the tag and the review log as before."""

from __future__ import annotations

import pytest

from core.annotate import get_tag, item_tags, quality_report, record_review, undo_review
from core.errors import NotFoundError
from tests.core.test_annotate import lib, no_llm, run

__all__ = ["lib"]


def test_undo_restores_the_tag_and_drops_its_review(lib) -> None:  # type: ignore[no-untyped-def]
    run(lib, no_llm(lib))
    item = next(i for i in lib.items() if i.title == "Match report")
    topic = item_tags(lib, item.id).topics[0]
    reviews = lambda: lib.db.scalar("SELECT count(*) FROM reviews")  # noqa: E731

    with pytest.raises(NotFoundError):
        undo_review(lib, topic)  # nothing to take back yet

    first = get_tag(lib, topic.id)
    edited = record_review(lib, topic.id, "edit", "Entertainment")
    second = get_tag(lib, topic.id)
    accepted = record_review(lib, topic.id, "accept")
    assert edited.value == accepted.value == "Entertainment" and reviews() == 2

    # Undo the accept: the tag is the edited one again, with one review on record.
    assert undo_review(lib, second) == second and reviews() == 1
    # Undo the edit: the machine's tag, unreviewed, and no review left to count.
    back = undo_review(lib, first)
    assert back == first and not back.gold and back.original_value is None
    assert reviews() == 0
    assert quality_report(lib).reviews_total == 0


def test_undo_of_a_removed_tag_is_refused(lib) -> None:  # type: ignore[no-untyped-def]
    run(lib, no_llm(lib))
    item = lib.items()[0]
    tag = item_tags(lib, item.id).tags[0]
    record_review(lib, tag.id, "reject")
    with lib.db.atomic():
        lib.db.execute("DELETE FROM tags WHERE id=?", (tag.id,))
    with pytest.raises(NotFoundError):
        undo_review(lib, tag)
