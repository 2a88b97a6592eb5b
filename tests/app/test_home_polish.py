"""Home: what is ready shows at once while the rows load; single-card rows are merged."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app.services import HomeCard, HomeService, Services, SettingsService, Shelf
from app.views.home import merge_single_rows
from app.window import MainWindow

pytestmark = pytest.mark.slow


def _card(n: int, reason: str = "because") -> HomeCard:
    return HomeCard(n, f"Item {n}", "audio", 60.0, 0.0, reason, f"/m/{n}.mp3")


def test_single_card_rows_are_merged_and_keep_their_reasons() -> None:
    shelves = [
        Shelf("Continue", "continue_watching", (_card(1),)),
        Shelf("Quick picks: Sports", "quick", (_card(2, "short, sports"),)),
        Shelf("Because you watched X", "similar", (_card(3), _card(4))),
        Shelf("Fresh: Science", "fresh", (_card(5, "new, science"),)),
    ]
    merged = merge_single_rows(shelves)
    assert [s.title for s in merged] == ["Continue", "More for you", "Because you watched X"]
    assert [c.media_id for c in merged[1].items] == [2, 5]
    assert [c.reason for c in merged[1].items] == ["short, sports", "new, science"]
    # One single-card row alone has nothing to merge with.
    assert merge_single_rows(shelves[:3]) == shelves[:3]


def test_home_shows_what_is_ready_while_the_rows_load(
    settings: SettingsService, podcast_library: Path, tmp_path: Path, qtbot
) -> None:
    directory = Path(shutil.copytree(podcast_library, tmp_path / "lib"))
    recorder = HomeService(directory)
    try:
        (item_id,) = [s.items[0].media_id for s in recorder.shelves()[:1]]
        recorder.record(item_id, "play", 0.0)
        recorder.record(item_id, "pause", 40.0)
    finally:
        recorder.close()
    # The window opens on Home; the recommender is slow (e.g. ingesting) from the start.
    services = Services.open(directory, settings)
    busy = services.home._connection.lock
    busy.acquire()
    window = MainWindow(services)
    qtbot.addWidget(window)
    home = window.home_view
    try:
        window.show()
        assert window.current_view() is home
        qtbot.waitUntil(lambda: bool(home.cards), timeout=20_000)
        assert home.loading and home.preliminary
        assert home.placeholder.isHidden()
        card = home.cards[0].card
        assert card.media_id == item_id and 0 < card.progress < 1  # Continue, where it stopped
    finally:
        busy.release()
    try:
        qtbot.waitUntil(lambda: not home.loading, timeout=60_000)
        assert not home.preliminary and home.shelves
        assert home.cards and home.cards[0].card.media_id == item_id
    finally:
        window.shutdown()
