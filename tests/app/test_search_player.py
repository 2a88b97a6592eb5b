"""Search → Player, the transcript panel, export, and the Library view."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import Qt

from app.services import marked_to_html
from tests.app.conftest import requires_multimedia

pytestmark = pytest.mark.slow


@requires_multimedia
def test_search_result_click_opens_the_player_at_its_start(
    make_window, podcast_library: Path, qtbot
) -> None:
    window = make_window(podcast_library)
    window.focus_search()
    assert window.current_view() is window.search_view
    view = window.search_view
    qtbot.keyClicks(view.query, "printing presses in Venice")
    with qtbot.waitSignal(view.results_ready, timeout=60_000) as blocker:
        qtbot.keyClick(view.query, Qt.Key.Key_Return)
    hits = blocker.args[0]
    assert hits and "<b>" in view.results.item(0).data(Qt.ItemDataRole.UserRole + 2)
    hit = next(h for h in hits if h.start > 10)  # one that is not at the very beginning
    row = hits.index(hit)
    rect = view.results.visualItemRect(view.results.item(row))
    # A real double-click: press/release, then the double-click event.
    qtbot.mouseClick(view.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(view.results.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    player = window.player_view
    qtbot.waitUntil(lambda: window.current_view() is player)
    qtbot.waitUntil(lambda: player.item is not None and player._pending_ms is None, timeout=10_000)
    qtbot.waitUntil(lambda: player.player.position() >= hit.start * 1000 - 50, timeout=10_000)
    assert hit.start * 1000 - 50 <= player.position() <= hit.end * 1000
    # The segment being played is highlighted.
    line = player.lines[player.current_line]
    assert line.start <= player.position() / 1000 + 0.05


def test_enter_on_a_result_plays_it(make_window, podcast_library: Path, qtbot) -> None:
    window = make_window(podcast_library)
    view = window.search_view
    view.query.setText("Gutenberg Bible copies")
    with qtbot.waitSignal(view.results_ready, timeout=60_000) as blocker:
        view.run()
    hit = blocker.args[0][0]
    with qtbot.waitSignal(view.play_requested) as played:
        view.results.setFocus()
        qtbot.keyClick(view.results, Qt.Key.Key_Return)
    assert played.args == [hit.media_id, hit.start]


@requires_multimedia
def test_transcript_follows_and_seeks_and_exports(
    make_window, podcast_library: Path, tmp_path: Path, qtbot
) -> None:
    window = make_window(podcast_library)
    (item,) = window.library_view.model.items
    player = window.player_view
    window.open_at(item.id, 70.0)
    qtbot.waitUntil(lambda: player._pending_ms is None and player.current_line >= 0, timeout=10_000)
    current = player.lines[player.current_line]
    assert current.start <= player.position() / 1000 + 0.05
    assert player.position() >= 70_000

    # Click a line: playback jumps there.
    target = 3
    rect = player.transcript.visualItemRect(player.transcript.item(target))
    qtbot.mouseClick(player.transcript.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    start_ms = player.lines[target].start * 1000
    qtbot.waitUntil(lambda: abs(player.player.position() - start_ms) < 1500, timeout=5_000)
    assert (
        player.current_line == target or player.lines[player.current_line].start >= start_ms / 1000
    )

    # Find in the transcript.
    player.find_edit.setText("venice")
    assert player._matches and "1/" in player.find_label.text()
    assert "venice" in player.lines[player.transcript.currentRow()].text.lower()

    # Export.
    for fmt in ("srt", "vtt", "txt"):
        player.export(fmt, tmp_path / f"out.{fmt}")
    assert (tmp_path / "out.srt").read_text().startswith("1\n00:00:00,500 --> ")
    assert (tmp_path / "out.vtt").read_text().startswith("WEBVTT")
    assert (tmp_path / "out.txt").read_text().startswith("[0:00] ")

    # Playback speed.
    player.speed.setCurrentIndex(player.speed.findData(1.5))
    assert player.player.playbackRate() == 1.5


def test_library_table_sorts_and_filters(make_window, podcast_library: Path, qtbot) -> None:
    window = make_window(podcast_library)
    view = window.library_view
    assert view.proxy.rowCount() == 1
    assert view.proxy.index(0, 0).data().startswith("Paper Trails")
    view.filter_edit.setText("no such title")
    assert view.proxy.rowCount() == 0
    view.filter_edit.setText("gutenberg")
    assert view.proxy.rowCount() == 1
    view.kind_combo.setCurrentIndex(view.kind_combo.findData("video"))
    assert view.proxy.rowCount() == 0
    view.kind_combo.setCurrentIndex(view.kind_combo.findData("audio"))
    assert view.proxy.rowCount() == 1


def test_marked_terms_become_bold_and_text_is_escaped() -> None:
    assert marked_to_html("the **printing** <press> & **Press**") == (
        "the <b>printing</b> &lt;press&gt; &amp; <b>Press</b>"
    )
