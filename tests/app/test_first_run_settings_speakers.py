"""First start (Home, the demo offer), Settings in plain words, and the Speakers panel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PySide6.QtWidgets import QLabel

from app.services import SettingsService
from app.services.settings import demo_media_dir
from core.registry import whisper_model_dir
from core.speakers.diarize import SpeakerCluster
from core.speakers.profiles import list_profiles, store_item_speakers
from core.store import Library

DEMO = Path(__file__).resolve().parents[2] / "demo" / "media"


# -- first start ----------------------------------------------------------------------------------


def test_first_start_opens_on_home_and_offers_the_demo_library(
    make_window, library_dir: Path, qtbot
) -> None:
    window = make_window(library_dir, autostart_jobs=False)
    assert window.current_view() is window.home_view
    assert window.sidebar.currentItem().text() == "Home"
    assert demo_media_dir() == DEMO
    qtbot.waitUntil(window.welcome.isVisible, timeout=5_000)
    assert window.welcome.demo_button.isVisible()

    window.welcome.demo_button.click()

    demo_files = sorted(p.name for p in DEMO.iterdir() if p.suffix != ".srt")
    qtbot.waitUntil(lambda: window.jobs.rowCount() >= len(demo_files), timeout=10_000)
    assert sorted(j.name for j in window.jobs.jobs) == demo_files
    assert window.current_view() is window.jobs_view
    assert not window.welcome.isVisible()


def test_not_now_hides_the_demo_offer_for_good(
    make_window, library_dir: Path, settings: SettingsService, qtbot
) -> None:
    window = make_window(library_dir, autostart_jobs=False)
    qtbot.waitUntil(window.welcome.isVisible, timeout=5_000)
    window.welcome.close_button.click()
    assert not window.welcome.isVisible() and settings.welcome_dismissed
    window.shutdown()
    again = make_window(library_dir, autostart_jobs=False)
    assert not again.welcome.isVisible()


def test_a_library_with_items_shows_no_demo_offer(
    make_window, podcast_library: Path, qtbot
) -> None:
    window = make_window(podcast_library, autostart_jobs=False)
    assert window.library_view.model.items
    assert window.current_view() is window.home_view
    assert not window.welcome.isVisible()


# -- settings -------------------------------------------------------------------------------------


def _texts(widget: object) -> list[str]:
    return [label.text() for label in widget.findChildren(QLabel)]  # type: ignore[attr-defined]


def test_settings_speak_plainly_and_hide_adding_an_installed_base(
    make_window, library_dir: Path, qtbot
) -> None:
    whisper_model_dir("base")  # installed here (make run does it): the button must go
    window = make_window(library_dir, autostart_jobs=False)
    view = window.settings_view
    window.show_view("Settings")
    qtbot.waitUntil(lambda: "base (asr) ✓" in view.models_label.text(), timeout=20_000)
    assert not view.add_base.isVisible()
    assert "installed" in view.install_note.text()
    texts = " ".join(_texts(view))
    assert "$" not in texts and "MEDIAMIND_" not in texts and "overrides" not in texts
    # Each model choice says whether items already in the library change.
    assert texts.count("from now on") >= 3
    assert "keep their transcript" in texts and "tags already made are kept" in texts


def test_the_multilingual_model_folder_is_checked_and_used_by_new_jobs(
    make_window, library_dir: Path, settings: SettingsService, tmp_path: Path, qtbot
) -> None:
    window = make_window(library_dir, autostart_jobs=False)
    view = window.settings_view
    window.show_view("Settings")
    empty = tmp_path / "not-a-model"
    empty.mkdir()

    assert not view.set_multilingual(str(empty))
    assert view.multi_error.isVisible()
    error = view.multi_error.text()
    assert str(empty) in error and "model.bin" in error and "\n" not in error
    assert settings.ingest.multilingual_model == "base"

    english = whisper_model_dir("tiny.en")
    assert not view.set_multilingual(str(english))
    assert "English-only" in view.multi_error.text() and str(english) in view.multi_error.text()

    multilingual = whisper_model_dir("base")
    assert view.set_multilingual(str(multilingual))
    assert not view.multi_error.isVisible()
    assert settings.ingest.multilingual_model == str(multilingual)
    task = window.services.ingest.task("job-1", tmp_path / "a.mp3")
    assert task.settings.multilingual_model == str(multilingual)

    assert view.set_multilingual("")
    assert settings.ingest.multilingual_model == "base"


# -- speakers -------------------------------------------------------------------------------------


def _voice(label: int, vec: np.ndarray, seconds: float) -> SpeakerCluster:
    return SpeakerCluster(label, (vec / np.linalg.norm(vec)).astype(np.float32), seconds)


@pytest.fixture
def speakers_library(tmp_path: Path) -> Path:
    """Two items: three voices in the first, one of them again in the second."""
    rng = np.random.default_rng(3)
    a, b, c = (rng.normal(size=256) for _ in range(3))
    directory = tmp_path / "speakers-lib"
    with Library(directory) as lib:
        one = lib.upsert_pending("/one.wav", "one", "audio")
        two = lib.upsert_pending("/two.wav", "two", "audio")
        store_item_speakers(lib.db, one, [_voice(0, a, 90), _voice(1, b, 40), _voice(2, c, 10)])
        store_item_speakers(lib.db, two, [_voice(0, a + 0.2 * rng.normal(size=256), 30)])
    return directory


def test_speakers_panel_lists_renames_and_merges_profiles(
    make_window, speakers_library: Path, qtbot
) -> None:
    window = make_window(speakers_library, autostart_jobs=False)
    view = window.speakers_view
    assert window.VIEWS.index("Speakers") == window.views.index(view)
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        window.show_view("Speakers")
    table = view.table
    assert table.rowCount() == 3
    assert [table.item(r, 1).text() for r in range(3)] == ["2", "1", "1"]  # items
    assert table.item(0, 2).text() == "2:00"  # 90 s + 30 s, most speech first
    first = table.item(0, 0).text()
    assert first.startswith("Speaker ")

    table.selectRow(0)
    assert view.rename_button.isEnabled() and not view.merge_button.isEnabled()
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        view.rename_selected("Dana Whitfield")
    assert table.item(0, 0).text() == "Dana Whitfield"

    table.clearSelection()
    table.selectRow(1)
    view.rename_selected("dana whitfield")  # taken: the reason is shown, nothing changes
    qtbot.waitUntil(lambda: "already called" in view.note.text(), timeout=10_000)
    assert "mediamind" not in view.note.text() and "merge" in view.note.text().lower()

    table.selectAll()
    assert view.merge_button.isEnabled() and not view.rename_button.isEnabled()
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        view.merge_selected()
    assert table.rowCount() == 1 and table.item(0, 0).text() == "Dana Whitfield"
    with Library(speakers_library) as lib:
        (profile,) = list_profiles(lib.db)
    assert profile.name == "Dana Whitfield" and profile.items == 2


def test_speakers_panel_says_how_voices_appear_when_there_are_none(
    make_window, library_dir: Path, qtbot
) -> None:
    window = make_window(library_dir, autostart_jobs=False)
    view = window.speakers_view
    with qtbot.waitSignal(view.loaded, timeout=10_000):
        window.show_view("Speakers")
    assert view.stack.currentWidget() is view.placeholder
    text = view.placeholder.text()
    assert "Library" in text and "mediamind " not in text  # no command for a GUI user
