"""Ask: a clean draft, a plain-text refusal with its real timing, empty-library advice, and
the library's question history."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.services import Answer, AskService, Citation
from app.views.ask import draft_text

pytestmark = pytest.mark.slow

OFF_TOPIC = "What is the recommended tire pressure for a mountain bike?"


def _anchors(view) -> list[str]:  # type: ignore[no-untyped-def]
    """The link targets anywhere in the answer pane."""
    found = []
    block = view.text.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fmt = it.fragment().charFormat()
            if fmt.isAnchor():
                found.append(fmt.anchorHref())
            it += 1
        block = block.next()
    return found


def _copy_without_history(library: Path, tmp_path: Path) -> Path:
    """A copy of the shared fixture library, without the questions other tests asked of it."""
    from app.services.ask import HISTORY_KEY
    from core.store import Library

    directory = Path(shutil.copytree(library, tmp_path / "lib"))
    with Library(directory) as lib:
        lib.db.execute("DELETE FROM library_meta WHERE key = ?", (HISTORY_KEY,))
    return directory


def _ask(window, qtbot, question: str) -> Answer:  # type: ignore[no-untyped-def]
    view = window.ask_view
    with qtbot.waitSignal(view.answered, timeout=240_000) as blocker:
        window.ask(question)
    qtbot.waitUntil(lambda: not view.runner.busy, timeout=30_000)
    return blocker.args[0]  # type: ignore[no-any-return]


def test_the_streamed_draft_shows_no_markers() -> None:
    assert draft_text("Budgets rise [S1]. Then [S2, S3] more") == "Budgets rise. Then more"
    assert draft_text("It was printed in Mainz [S") == "It was printed in Mainz "
    assert draft_text("Half a marker [S1, S") == "Half a marker "
    assert draft_text("Costs [3] stay") == "Costs [3] stay"  # not a citation marker


def test_refusal_is_plain_text_with_its_real_time_and_is_kept_in_history(
    make_window, podcast_library: Path, tmp_path: Path, qtbot
) -> None:
    directory = _copy_without_history(podcast_library, tmp_path)
    window = make_window(directory)
    view = window.ask_view
    window.show_view("Ask")
    # An answer with links on screen first (as when one is picked from the history).
    cited = Citation(1, "Printing", 62.0, 90.0, "quote", "S1")
    view.show_answer(Answer("Where?", "In Mainz [S1].", (cited,)))
    assert _anchors(view) == ["cite:0"]

    answer = _ask(window, qtbot, OFF_TOPIC)
    assert answer.refused and answer.closest
    assert _anchors(view) == []  # the refusal is text, not one big link
    assert view.text.toPlainText().startswith("I could not find this")
    seconds = re.search(r"in (\d+\.\d+) s", view.status.text())
    assert seconds and float(seconds.group(1)) > 0, view.status.text()
    assert view.history.count() == 1 and view.history.item(0).text() == OFF_TOPIC
    qtbot.waitUntil(lambda: not window.pool.busy, timeout=10_000)  # stored in a worker

    # The history belongs to the library: another window on it finds the question again.
    window.shutdown()
    again = make_window(directory)
    view = again.ask_view
    with qtbot.waitSignal(view.history_loaded, timeout=20_000):
        again.show_view("Ask")
    assert [view.history.item(i).text() for i in range(view.history.count())] == [OFF_TOPIC]
    entry = view.history.item(0)
    rect = view.history.visualItemRect(entry)
    qtbot.mouseClick(view.history.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert view.question.text() == OFF_TOPIC
    assert view.text.toPlainText() == answer.text
    assert view.sources.count() == len(answer.closest)


def test_history_keeps_the_last_questions_once_each(podcast_library: Path, tmp_path) -> None:
    directory = _copy_without_history(podcast_library, tmp_path)
    service = AskService(directory)
    try:
        for n in range(25):
            service.remember(Answer(f"Question {n}?", f"Answer {n}."))
        service.remember(Answer("question 3?", "Asked again."))
        kept = service.history()
    finally:
        service.close()
    assert len(kept) == 20
    assert kept[0].text == "Asked again." and kept[1].question == "Question 24?"
    assert sum(a.question.lower() == "question 3?" for a in kept) == 1


def test_refusal_on_an_empty_library_offers_to_add_media(
    make_window, library_dir: Path, qtbot
) -> None:
    window = make_window(library_dir)
    view = window.ask_view
    view.add_media_requested.disconnect(window._add_files)  # a file dialog would block
    answer = _ask(window, qtbot, OFF_TOPIC)
    assert answer.refused and not answer.closest
    assert "closest" not in view.notice.text()
    assert view.sources.isHidden() and view.sources_label.isHidden()
    assert view.add_media_button.isVisible()
    with qtbot.waitSignal(view.add_media_requested, timeout=1_000):
        qtbot.mouseClick(view.add_media_button, Qt.MouseButton.LeftButton)
