"""Ask → cited answer → player; Home rows after a partial play; watch events from the player."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.services import Answer, Citation, HomeService
from app.views.ask import answer_html
from core.errors import UsageError
from tests.app.conftest import LoopLag, requires_multimedia

pytestmark = pytest.mark.slow


def _ask(window, qtbot, question: str) -> Answer:  # type: ignore[no-untyped-def]
    view = window.ask_view
    with qtbot.waitSignal(view.answered, timeout=240_000) as blocker:
        window.ask(question)
    qtbot.waitUntil(lambda: not view.runner.busy, timeout=30_000)
    answer: Answer = blocker.args[0]
    return answer


@requires_multimedia
def test_cited_answer_chip_opens_the_player_inside_the_cited_chunk(
    make_window, podcast_library: Path, qtbot
) -> None:
    window = make_window(podcast_library)
    answer = _ask(window, qtbot, "How many copies of the Gutenberg Bible survive?")
    view = window.ask_view
    assert not answer.refused
    assert answer.citations, answer
    assert len(view.chips) == len(answer.citations)
    assert view.sources.count() == len(answer.citations)
    assert "cite:0" in view.text.toHtml()  # the inline marker became a link
    cited = answer.citations[-1]
    assert cited.start < cited.end

    qtbot.mouseClick(view.chips[-1], Qt.MouseButton.LeftButton)
    player = window.player_view
    qtbot.waitUntil(lambda: window.current_view() is player)
    qtbot.waitUntil(lambda: player.item is not None and player._pending_ms is None, timeout=10_000)
    assert player.item.id == cited.media_id
    qtbot.waitUntil(lambda: player.player.position() >= cited.start * 1000 - 50, timeout=10_000)
    assert cited.start * 1000 - 50 <= player.position() <= cited.end * 1000


def test_question_outside_the_library_is_shown_as_not_in_your_library(
    make_window, podcast_library: Path, qtbot
) -> None:
    window = make_window(podcast_library)
    answer = _ask(window, qtbot, "What is the recommended tire pressure for a mountain bike?")
    view = window.ask_view
    assert answer.refused
    assert view.notice.isVisible() and "Not in your library" in view.notice.text()
    assert view.sources_label.text() == "Closest moments"
    assert not answer.citations


def test_event_loop_never_stalls_while_answering(make_window, podcast_library: Path, qtbot) -> None:
    window = make_window(podcast_library)
    with LoopLag() as lag:
        answer = _ask(window, qtbot, "Where did the printing press spread after Mainz?")
    assert answer.text
    lag.assert_no_stall()


def test_stop_kills_the_answer_and_the_next_question_works(
    make_window, podcast_library: Path, qtbot
) -> None:
    window = make_window(podcast_library)
    view = window.ask_view
    window.ask("Who printed the first books in Venice?")
    qtbot.waitUntil(lambda: view.runner.process_pid is not None, timeout=30_000)
    view.stop()
    assert not view.runner.busy and view.runner.process_pid is None
    assert view.status.text() == "Stopped."
    answer = _ask(window, qtbot, "Who printed the first books in Venice?")
    assert answer.text


def test_answer_markers_become_links_and_text_is_escaped() -> None:
    c = Citation(3, "Town <Hall>", 62.0, 90.0, "quote", "S2")
    answer = Answer("q", "Budgets <rise> [S2]. Dropped [S9].", (c,))
    html = answer_html(answer)
    assert "<a href='cite:0'" in html and "Town &lt;Hall&gt; @ 1:02" in html
    assert "&lt;rise&gt;" in html and "S9" not in html


def test_each_marker_links_to_its_own_moment() -> None:
    # Two moments of one passage, labelled apart by core.answer.number_citations.
    late = Citation(6, "Town Hall", 93.0, 120.0, "The total budget is $5.5 million.", "S1")
    early = Citation(6, "Town Hall", 0.0, 31.0, "Our CFO will talk about budgets.", "S2")
    text = "The total budget is $5.5 million [S1]. CFO will talk [S2]."
    answer = Answer("q", text, (late, early))
    html = answer_html(answer)
    first, second = re.findall(r"href='cite:(\d)'[^>]*>\[Town Hall @ ([\d:]+)\]", html)
    assert first == ("0", "1:33") and second == ("1", "0:00")


@requires_multimedia
def test_partial_play_shows_continue_first_on_home(
    make_window, podcast_library: Path, qtbot
) -> None:
    window = make_window(podcast_library)
    (item,) = window.library_view.model.items
    player = window.player_view
    recorded: list[tuple[int, str, float]] = []
    player.watch_event.connect(lambda *args: recorded.append(args))
    window.open_at(item.id, 30.0)
    qtbot.waitUntil(lambda: player._pending_ms is None, timeout=10_000)
    qtbot.waitUntil(lambda: player.player.position() > 31_500, timeout=15_000)
    player.toggle()  # pause
    qtbot.waitUntil(lambda: [k for _, k, _ in recorded] == ["play", "pause"], timeout=5_000)
    assert recorded[0][0] == item.id and 29.5 <= recorded[0][2] <= 31.0
    assert recorded[1][2] > 31.0
    qtbot.waitUntil(lambda: not window.pool.busy, timeout=10_000)  # the events are stored

    window.show_view("Home")
    home = window.home_view
    qtbot.waitUntil(lambda: not home.loading and bool(home.shelves), timeout=60_000)
    first = home.shelves[0]
    assert first.intent == "continue_watching", [s.intent for s in home.shelves]
    assert first.items[0].media_id == item.id
    assert 0 < first.items[0].progress < 1
    card = home.cards[0]
    assert card.bar.isVisibleTo(card) and card.bar.value() == round(first.items[0].progress * 100)

    # A click on the card resumes where playback stopped.
    with qtbot.waitSignal(home.play_requested) as played:
        qtbot.mouseClick(card, Qt.MouseButton.LeftButton)
    media_id, seconds = played.args
    assert media_id == item.id and 29.0 <= seconds <= recorded[1][2]


def test_home_service_records_and_reads_the_watch_log(podcast_library: Path, tmp_path) -> None:
    import shutil

    directory = Path(shutil.copytree(podcast_library, tmp_path / "lib"))
    service = HomeService(directory)
    try:
        before = service.shelves()
        assert before and all(s.intent != "continue_watching" for s in before)
        item_id = before[0].items[0].media_id
        service.record(item_id, "play", 0.0)
        service.record(item_id, "pause", 40.0)
        after = service.shelves()
        assert after[0].intent == "continue_watching"
        assert after[0].items[0].media_id == item_id
        with pytest.raises(UsageError, match="Unknown watch event"):
            service.record(item_id, "rewind", 1.0)
    finally:
        service.close()
