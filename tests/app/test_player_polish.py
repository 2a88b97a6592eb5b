"""The Player as a media app: keys and buttons, a now-playing bar, audio cards, speakers,
the English track, no state carried between items, wrapping lines, and dark mode."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QRect, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPalette

from tests.app.conftest import requires_multimedia

pytestmark = pytest.mark.slow

LONG = (
    "This cue is deliberately long: it goes on about movable type, paper mills, ink made "
    "with linseed oil, the guilds of Mainz and Venice, and the slow spread of presses across "
    "Europe, so that no transcript pane is wide enough to show it on one line."
)


def _copy(library: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(library, tmp_path / "lib"))


def _add_subtitle_item(directory: Path, folder: Path, models: Path) -> int:
    """Ingest a short subtitle file (one very long cue) into the library; its item id."""
    from core.ingest import IngestOptions, ingest
    from core.store import Library

    srt = folder / "long_lines.srt"
    srt.write_text(
        f"1\n00:00:00,000 --> 00:00:04,000\nA short line.\n\n"
        f"2\n00:00:04,000 --> 00:00:12,000\n{LONG}\n\n"
        "3\n00:00:12,000 --> 00:00:20,000\nThe end.\n",
        encoding="utf-8",
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIAMIND_MODELS", str(models))
        with Library(directory) as lib:
            events = list(ingest(lib, [srt], IngestOptions()))
            assert events[-1].kind == "done", events
            return next(i.id for i in lib.items() if i.path == str(srt))


def _give_two_speakers_and_a_translation(directory: Path) -> int:
    """Diarization and translation results as ingest stores them, on the podcast item."""
    from core.ingest.translation import store_translation
    from core.speakers.diarize import SpeakerCluster
    from core.speakers.profiles import rename_profile, store_item_speakers
    from core.store import Library
    from core.transcript import Segment

    with Library(directory) as lib:
        (item,) = lib.items()
        a, b = np.zeros(256, np.float32), np.zeros(256, np.float32)
        a[0], b[1] = 1.0, 1.0
        labels = store_item_speakers(
            lib.db, item.id, [SpeakerCluster(0, a, 60.0), SpeakerCluster(1, b, 60.0)]
        )
        rename_profile(lib.db, labels[0], "Ada Host")
        with lib.db.atomic():
            lib.db.execute("UPDATE segments SET speaker = idx % 2 WHERE media_id=?", (item.id,))
        english = [
            Segment(s.start, s.end, f"English {n}: {s.text}")
            for n, s in enumerate(lib.segments(item.id))
        ]
        store_translation(lib, item.id, english, "test-translation", None)
        return item.id


def _loaded(player) -> bool:  # type: ignore[no-untyped-def]
    return player.item is not None and player._pending_ms is None


@requires_multimedia
def test_keys_and_buttons_seek_mute_and_go_full_screen(
    make_window, podcast_library: Path, qtbot
) -> None:
    window = make_window(podcast_library)
    (item,) = window.library_view.model.items
    player = window.player_view
    window.show_view("Player")
    player.open_at(item.id, 30.0, play=False)
    qtbot.waitUntil(lambda: _loaded(player), timeout=10_000)
    qtbot.waitUntil(lambda: abs(player.position() - 30_000) < 300, timeout=5_000)
    window.activateWindow()
    player.transcript.setFocus()

    qtbot.keyClick(player.transcript, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: abs(player.position() - 35_000) < 300, timeout=5_000)
    qtbot.keyClick(player.transcript, Qt.Key.Key_Left)
    qtbot.waitUntil(lambda: abs(player.position() - 30_000) < 300, timeout=5_000)
    qtbot.mouseClick(player.forward_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: abs(player.position() - 40_000) < 300, timeout=5_000)
    qtbot.mouseClick(player.back_button, Qt.MouseButton.LeftButton)
    qtbot.mouseClick(player.back_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: abs(player.position() - 20_000) < 300, timeout=5_000)
    assert player.time_label.text().startswith("0:20")

    player.transcript.setFocus()
    qtbot.keyClick(player.transcript, Qt.Key.Key_M)
    assert player.muted and player.audio_output.isMuted()
    qtbot.keyClick(player.transcript, Qt.Key.Key_M)
    assert not player.muted and not player.audio_output.isMuted()
    player.volume.setValue(40)
    assert player.audio_output.volume() == pytest.approx(0.4, abs=0.01)

    # The find box keeps its letters: typing "f" and "m" there neither mutes nor goes full screen.
    player.find_edit.setFocus()
    qtbot.keyClicks(player.find_edit, "fm")
    assert player.find_edit.text() == "fm" and not player.muted and not player.fullscreen
    player.find_edit.clear()

    player.transcript.setFocus()
    qtbot.keyClick(player.transcript, Qt.Key.Key_F)
    qtbot.waitUntil(window.isFullScreen, timeout=5_000)
    assert player.side_panel.isHidden() and window.side.isHidden()
    qtbot.keyClick(player.transcript, Qt.Key.Key_Escape)
    qtbot.waitUntil(lambda: not window.isFullScreen(), timeout=5_000)
    assert not player.side_panel.isHidden() and not window.side.isHidden()

    qtbot.keyClick(player.transcript, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: player.is_playing, timeout=5_000)
    qtbot.keyClick(player.transcript, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: not player.is_playing, timeout=5_000)


@requires_multimedia
def test_now_playing_bar_follows_audio_into_other_views(
    make_window, podcast_library: Path, qtbot
) -> None:
    window = make_window(podcast_library)
    (item,) = window.library_view.model.items
    player, bar = window.player_view, window.now_playing
    window.open_at(item.id, 10.0)
    qtbot.waitUntil(lambda: player.is_playing, timeout=10_000)
    assert bar.isHidden()  # the Player itself is on screen

    for view in ("Library", "Search", "Home"):
        window.show_view(view)
        assert bar.isVisible(), view
    assert bar.title.text() == item.title
    qtbot.waitUntil(lambda: bar.time_label.text().startswith("0:1"), timeout=5_000)

    qtbot.mouseClick(bar.play_button, Qt.MouseButton.LeftButton)  # pause from elsewhere
    qtbot.waitUntil(lambda: not player.is_playing, timeout=5_000)
    assert bar.isVisible()  # paused, not stopped: it stays, to resume
    qtbot.mouseClick(bar.open_button, Qt.MouseButton.LeftButton)
    assert window.current_view() is player and bar.isHidden()


@requires_multimedia
def test_audio_item_shows_a_cover_and_how_it_starts(
    make_window, podcast_library: Path, qtbot
) -> None:
    window = make_window(podcast_library)
    (item,) = window.library_view.model.items
    player = window.player_view
    window.open_at(
        item.id,
        0.0,
    )
    qtbot.waitUntil(lambda: _loaded(player), timeout=10_000)
    player.toggle()
    assert player.stage.currentWidget() is player.audio_card
    assert not player.cover.pixmap().isNull() and player.cover.pixmap().width() >= 300
    assert player.card_title.text() == item.title
    assert player.about.isVisibleTo(player) and player.about.text()
    assert player.about.text().split()[0] in player.lines[0].text


def test_no_state_leaks_between_items_and_long_lines_wrap(
    make_window, podcast_library: Path, embedding_model: Path, tmp_path: Path, qtbot
) -> None:
    directory = _copy(podcast_library, tmp_path)
    other = _add_subtitle_item(directory, tmp_path, embedding_model.parent)
    window = make_window(directory)
    podcast = next(i for i in window.library_view.model.items if i.id != other)
    player = window.player_view
    window.show_view("Player")
    player.open_at(podcast.id, 60.0, play=False)
    qtbot.waitUntil(lambda: player.item is not None and player.item.id == podcast.id)
    qtbot.keyClicks(player.find_edit, "print")
    assert player.find_label.text()
    qtbot.waitUntil(lambda: player.slider.maximum() > 100_000, timeout=10_000)

    player.open_at(other, 0.0, play=False)
    assert player.item.id == other
    assert player.find_edit.text() == "" and player.find_label.text() == ""
    assert player.slider.maximum() == 20_000 and player.slider.value() == 0
    assert player.time_label.text() == "0:00 / 0:20"
    assert [player.transcript.item(i).foreground().style() for i in range(3)] == [
        Qt.BrushStyle.NoBrush
    ] * 3

    # The long cue wraps onto several lines, also after the pane is narrowed, and is never cut.
    window.resize(800, 600)
    qtbot.waitUntil(lambda: player.transcript.width() < 400, timeout=5_000)
    qtbot.wait(50)
    short = player.transcript.visualItemRect(player.transcript.item(0)).height()
    long = player.transcript.visualItemRect(player.transcript.item(1)).height()
    assert long >= 3 * short, (short, long)
    assert player.transcript.textElideMode() == Qt.TextElideMode.ElideNone
    assert LONG in player.transcript.item(1).text()
    # Every row is tall enough for its text wrapped at the width the style paints it at (so
    # none is elided), the current line in bold included.
    player.seek_ms(5_000)
    assert player.current_line == 1 and player.transcript.item(1).font().bold()
    qtbot.wait(50)
    for row in range(player.transcript.count()):
        entry = player.transcript.item(row)
        rect = player.transcript.visualItemRect(entry)
        metrics = QFontMetrics(entry.font() if entry.font() else player.transcript.font())
        needed = metrics.boundingRect(
            QRect(0, 0, rect.width() - 12, 100_000), int(Qt.TextFlag.TextWordWrap), entry.text()
        )
        assert rect.height() >= needed.height(), (row, rect.height(), needed.height())


def _contrast(fg: QColor, bg: QColor) -> float:
    def lum(c: QColor) -> float:
        def ch(v: float) -> float:
            return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

        return 0.2126 * ch(c.redF()) + 0.7152 * ch(c.greenF()) + 0.0722 * ch(c.blueF())

    hi, lo = sorted((lum(fg), lum(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_speakers_translation_and_dark_mode(
    make_window, podcast_library: Path, tmp_path: Path, qtbot
) -> None:
    from PySide6.QtWidgets import QApplication

    from app import theme

    directory = _copy(podcast_library, tmp_path)
    item_id = _give_two_speakers_and_a_translation(directory)
    theme.apply(QApplication.instance(), False)
    window = make_window(directory)
    window.set_dark(False)
    player = window.player_view
    window.show_view("Player")
    player.open_at(item_id, 0.0, play=False)
    qtbot.waitUntil(lambda: player.item is not None)

    # Each line names its speaker; the two voices have different colours.
    assert player.speakers == ["Ada Host", player.speakers[1]]
    assert player.speakers[1].startswith("Speaker ")
    first, second = player.transcript.item(0), player.transcript.item(1)
    assert "Ada Host: " in first.text() and f"{player.speakers[1]}: " in second.text()
    light = (first.data(Qt.ItemDataRole.UserRole + 1), second.data(Qt.ItemDataRole.UserRole + 1))
    assert light[0] != light[1]

    # Dark mode restyles the transcript already loaded: speaker colours and a find hit
    # stay readable on the dark background.
    qtbot.keyClicks(player.find_edit, player.lines[3].text.split()[1])
    try:
        window.set_dark(True)
        qtbot.waitUntil(lambda: player.palette().color(QPalette.ColorRole.Base).lightness() < 128)
        dark = (first.data(Qt.ItemDataRole.UserRole + 1), second.data(Qt.ItemDataRole.UserRole + 1))
        assert dark != light
        base = player.transcript.palette().color(QPalette.ColorRole.Base)
        for row in range(player.transcript.count()):
            entry = player.transcript.item(row)
            brush = entry.foreground()
            text = (
                brush.color()
                if brush.style() != Qt.BrushStyle.NoBrush
                else player.transcript.palette().color(QPalette.ColorRole.Text)
            )
            assert _contrast(text, base) >= 4.5, (row, text.name(), base.name())
            swatch = entry.data(Qt.ItemDataRole.UserRole + 1)
            assert _contrast(QColor(swatch), base) >= 3.0, (row, swatch)
    finally:
        window.set_dark(False)

    # The stored English translation is a second track.
    assert player.track.isVisibleTo(player)
    original = [ln.text for ln in player.lines]
    player.track.setCurrentIndex(player.track.findData("english"))
    assert player.lines[0].text.startswith("English 0: ")
    assert player.transcript.item(0).text().endswith(player.lines[0].text)
    player.track.setCurrentIndex(player.track.findData("original"))
    assert [ln.text for ln in player.lines] == original
