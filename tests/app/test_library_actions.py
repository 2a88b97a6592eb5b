"""Library item actions, Jobs progress and failures, Search polish (issue 21), on real widgets.

The libraries are real: subtitle files ingested by the engine (no Whisper), and audio files
(real WAVs) whose transcript is stored through the library's own API as Whisper tiny.en would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PySide6.QtCore import QObject, QPoint, Qt, QUrl, Slot
from PySide6.QtGui import QDesktopServices, QPalette
from PySide6.QtWidgets import QStyle, QStyleOptionViewItem

from app.jobs import Job
from app.views.library import TITLE_MIN_WIDTH, ItemRole
from app.views.search import PLAY_LINK, HitRole
from tests.conftest import write_tone_wav

SRT = """1
00:00:01,000 --> 00:00:05,000
{0}

2
00:00:06,000 --> 00:00:10,000
{1}
"""


def build_library(directory: Path, media: Path, embedding_model: Path) -> None:
    """Two subtitle items, two audio items made by tiny.en, and one failed import."""
    from core.ingest import ingest
    from core.registry import sha256_file
    from core.search import EmbeddingStore, default_encoder
    from core.store import ItemMetadata, Library
    from core.transcript import Segment

    media.mkdir(parents=True, exist_ok=True)
    (media / "glaciers.srt").write_text(
        SRT.format(
            "Glaciers carve deep fjords into the mountains.",
            "The plants near the planet's poles grow slowly in the cold.",
        ),
        encoding="utf-8",
    )
    (media / "budget.srt").write_text(
        SRT.format("The council approved the budget.", "Taxes stay the same next year."),
        encoding="utf-8",
    )
    (media / "broken.srt").write_text("not a subtitle file at all", encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MEDIAMIND_MODELS", str(embedding_model.parent))
        with Library(directory) as lib:
            for name in ("glaciers.srt", "budget.srt", "broken.srt"):
                list(ingest(lib, [media / name]))
            embed = EmbeddingStore(lib, default_encoder).embed
            for name in ("talk_one.wav", "talk_two.wav"):
                wav = write_tone_wav(media / name, seconds=2.0)
                st = wav.stat()
                item_id = lib.upsert_pending(str(wav), wav.stem, "audio")
                meta = ItemMetadata(
                    sha256_file(wav), st.st_size, st.st_mtime, 2.0, "wav", "pcm_s16le", "audio",
                    wav.stem, "en", "whisper:tiny.en",
                )  # fmt: skip
                lib.store_transcript(item_id, meta, [Segment(0.0, 2.0, "A short talk.")], embed)


@pytest.fixture
def library(tmp_path: Path, embedding_model: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "library"
    build_library(directory, tmp_path / "media", embedding_model)
    monkeypatch.setenv("MEDIAMIND_MODELS", str(embedding_model.parent))
    return directory


def rows(window):  # type: ignore[no-untyped-def]
    proxy = window.library_view.proxy
    return [proxy.data(proxy.index(r, 0), ItemRole) for r in range(proxy.rowCount())]


def select(window, title: str) -> int:  # type: ignore[no-untyped-def]
    row = next(r for r, i in enumerate(rows(window)) if i.title == title)
    window.library_view.table.selectRow(row)
    return row


def actions(menu):  # type: ignore[no-untyped-def]
    return {a.text(): a for a in menu.actions() if a.text()}


class UrlCatcher(QObject):
    """Receives the URLs QDesktopServices would hand to the file manager."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[QUrl] = []

    @Slot(QUrl)
    def open(self, url: QUrl) -> None:
        self.urls.append(url)


def test_item_menu_renames_locates_shows_and_removes(
    make_window, library: Path, tmp_path: Path, qtbot
) -> None:
    window = make_window(library, autostart_jobs=False)
    view = window.library_view
    qtbot.waitUntil(lambda: len(rows(window)) == 5)
    select(window, "glaciers")
    (item,) = view.selected_items()
    menu = actions(view.build_menu([item]))
    assert {
        "Open in player",
        "Show in folder",
        "Rename…",
        "Locate moved file…",
        "Ingest again",
        "Transcribe again with",
        "Tag again",
        "Remove from library…",
    } <= set(menu)
    assert not menu["Locate moved file…"].isEnabled()  # its file is where it was

    # Show in folder opens the item's folder in the file manager.
    catcher = UrlCatcher()
    QDesktopServices.setUrlHandler("file", catcher, "open")
    try:
        menu["Show in folder"].trigger()
    finally:
        QDesktopServices.unsetUrlHandler("file")
    assert [u.toLocalFile() for u in catcher.urls] == [str(Path(item.path).parent)]

    # Rename: the Library and Search show the same new title.
    view.rename_item(item, "Ice and Fjords")
    qtbot.waitUntil(lambda: any(i.title == "Ice and Fjords" for i in rows(window)))
    search = window.search_view
    search.query.setText("glaciers fjords")
    with qtbot.waitSignal(search.results_ready, timeout=60_000) as found:
        search.run()
    assert found.args[0] and found.args[0][0].title == "Ice and Fjords"

    # Locate: the file moved; the item follows it and keeps its transcript.
    moved = tmp_path / "moved" / "glaciers.srt"
    moved.parent.mkdir()
    shutil.move(item.path, moved)
    view.reload()
    qtbot.waitUntil(lambda: view.loads >= 3)
    select(window, "Ice and Fjords")
    (item,) = view.selected_items()
    assert actions(view.build_menu([item]))["Locate moved file…"].isEnabled()
    view.relocate_item(item, moved)
    qtbot.waitUntil(lambda: any(i.path == str(moved) for i in rows(window)))
    assert window.services.library.transcript(item.id)

    # Remove two items at once; the files stay on disk.
    select(window, "Ice and Fjords")
    view.table.selectionModel().select(
        view.proxy.index(next(r for r, i in enumerate(rows(window)) if i.title == "budget"), 0),
        view.table.selectionModel().SelectionFlag.Select
        | view.table.selectionModel().SelectionFlag.Rows,
    )
    two = view.selected_items()
    assert len(two) == 2
    assert "Remove from library (2)…" in actions(view.build_menu(two))
    view.remove_items(two)
    qtbot.waitUntil(lambda: len(rows(window)) == 3)
    assert {i.title for i in rows(window)} == {"broken", "talk_one", "talk_two"}
    assert moved.is_file()
    search.query.setText("glaciers fjords")
    with qtbot.waitSignal(search.results_ready, timeout=60_000) as found:
        search.run()
    assert found.args[0] == [] and "No matches" in search.status.text()


def test_an_error_row_shows_its_own_reason_and_can_be_removed(
    make_window, library: Path, qtbot
) -> None:
    window = make_window(library, autostart_jobs=False)
    view = window.library_view
    qtbot.waitUntil(lambda: len(rows(window)) == 5)
    select(window, "talk_one")  # an item with a duration, selected first
    assert "0:02" in view.details.text()
    row = select(window, "broken")
    (broken,) = view.selected_items()
    assert broken.status == "error" and broken.error
    details = view.details.text()
    assert broken.error in details and "Import failed" in details
    assert "0:02" not in details  # not the previous item's duration
    for col in (0, 2, 5):  # the reason on every cell of the row, not only its status
        tip = view.proxy.index(row, col).data(Qt.ItemDataRole.ToolTipRole)
        assert broken.error in tip
    # Opening it does not open the Player on nothing; it shows the reason.
    with qtbot.assertNotEmitted(view.open_requested):
        view.table.activated.emit(view.proxy.index(row, 0))
    menu = actions(view.build_menu([broken]))
    assert not menu["Open in player"].isEnabled() and menu["Remove from library…"].isEnabled()
    # Its failed job goes with it (a retry or the next start would add it back).
    window.jobs.enqueue([broken.path])
    assert [j.path for j in window.jobs.jobs] == [broken.path]
    view.remove_items([broken])
    qtbot.waitUntil(lambda: len(rows(window)) == 4)
    assert "broken" not in {i.title for i in rows(window)}
    assert window.jobs.jobs == []


def test_transcribe_again_with_another_model_from_the_menu_in_bulk(
    make_window, library: Path, qtbot
) -> None:
    window = make_window(library, autostart_jobs=False)  # jobs stay queued: nothing runs
    view = window.library_view
    qtbot.waitUntil(lambda: len(rows(window)) == 5)
    model_col = view.model.COLUMNS.index("Model")
    row = select(window, "talk_one")
    assert view.proxy.index(row, model_col).data() == "tiny.en"  # what made the transcript
    view.table.selectAll()
    items = view.selected_items()
    menu = view.build_menu(items)
    again = next(a.menu() for a in menu.actions() if a.text() == "Transcribe again with")
    models = {a.text(): a for a in again.actions()}
    # Both audio items were made by tiny.en: only base would change anything.
    assert not models["Whisper tiny.en"].isEnabled() and models["Whisper base"].isEnabled()
    models["Whisper base"].trigger()
    jobs = window.jobs.jobs
    assert sorted(j.name for j in jobs) == ["talk_one.wav", "talk_two.wav"]
    assert all(j.state == "queued" and j.model == "base" for j in jobs)
    # The engine gets the model with the job (Settings still says auto).
    task = window.services.ingest.task(jobs[0].id, Path(jobs[0].path), jobs[0].model)
    assert task.settings.model == "base"
    assert window.services.ingest.task("x", Path(jobs[0].path)).settings.model == "auto"


def test_failures_raise_a_badge_until_jobs_is_seen(
    make_window, library_dir: Path, tmp_path: Path, qtbot
) -> None:
    broken = tmp_path / "broken.mp3"
    broken.write_bytes(b"this is not an mp3 file at all" * 100)
    window = make_window(library_dir)
    nav = window.sidebar.item(window.VIEWS.index("Jobs"))
    window.library_view.import_paths([broken])
    qtbot.waitUntil(lambda: window.jobs.rowCount() == 1)
    qtbot.waitUntil(lambda: window.jobs.jobs[0].state == "failed", timeout=60_000)
    assert nav.text() == "Jobs  \u26a0 1" and "1 failed" in nav.toolTip()
    # The Library row in error says why.
    qtbot.waitUntil(lambda: bool(rows(window)) and rows(window)[0].status == "error")
    tip = window.library_view.proxy.index(0, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "broken.mp3" in tip and tip.startswith(rows(window)[0].error)
    window.show_view("Jobs")
    qtbot.waitUntil(lambda: nav.text() == "Jobs")


def test_library_is_usable_at_800_by_600(make_window, library: Path, qtbot) -> None:
    window = make_window(library, autostart_jobs=False)
    window.resize(800, 600)
    window.show_view("Library")
    view = window.library_view
    qtbot.waitUntil(lambda: len(rows(window)) == 5)
    qtbot.waitUntil(lambda: view.table.horizontalHeader().sectionSize(0) >= TITLE_MIN_WIDTH)
    # The Library itself fits: what it needs leaves room for the 180 px sidebar in 800 px.
    assert view.minimumSizeHint().width() <= 800 - 180 - 24
    assert view.minimumSizeHint().height() <= 600
    # And so does every other view: the window really is 800 x 600, not held wider by one.
    assert window.minimumSizeHint().width() <= 800
    assert (window.width(), window.height()) == (800, 600)
    # Wide: the title takes what the other columns leave.
    window.resize(1440, 900)
    qtbot.waitUntil(lambda: view.table.horizontalHeader().sectionSize(0) > TITLE_MIN_WIDTH + 100)


def test_search_rows_play_on_a_click_on_their_time_and_stay_readable(
    make_window, library: Path, qtbot
) -> None:
    window = make_window(library, autostart_jobs=False)
    view = window.search_view
    window.show_view("Search")
    view.query.setText("plants")
    with qtbot.waitSignal(view.results_ready, timeout=60_000) as found:
        view.run()
    hits = found.args[0]
    assert hits and hits[0].title == "glaciers"
    # Only the words that match are bold: "plants", not "planet's".
    assert "<b>plants</b>" in hits[0].html and "<b>planet" not in hits[0].html
    # A relevance cue on every row.
    assert all("match" in view.results.item(i).data(Qt.ItemDataRole.UserRole + 2) for i in range(1))

    # A single click on "▶ 0:01" plays the moment.
    item = view.results.item(0)
    rect = view.results.visualItemRect(item)
    link = next(
        QPoint(x, y)
        for y in range(rect.top() + 2, rect.top() + 40, 2)
        for x in range(rect.left() + 2, rect.right(), 3)
        if view.link_at(QPoint(x, y)) is item
    )
    with qtbot.waitSignal(view.play_requested) as played:
        qtbot.mouseClick(view.results.viewport(), Qt.MouseButton.LeftButton, pos=link)
    assert played.args == [hits[0].media_id, hits[0].start]
    # A click elsewhere on the row only selects it.
    body = QPoint(rect.center().x(), rect.bottom() - 4)
    with qtbot.assertNotEmitted(view.play_requested):
        qtbot.mouseClick(view.results.viewport(), Qt.MouseButton.LeftButton, pos=body)

    # The selected row's time takes the highlighted-text colour, not link blue on blue.
    option = QStyleOptionViewItem()
    option.initFrom(view.results)
    option.rect = rect
    option.state |= QStyle.StateFlag.State_Selected
    index = view.results.indexFromItem(item)
    html = view.delegate.document(option, index).toHtml()
    palette = view.results.palette()
    highlighted = palette.color(QPalette.ColorRole.HighlightedText).name()
    assert highlighted in html and palette.color(QPalette.ColorRole.Link).name() not in html
    assert PLAY_LINK in html and item.data(HitRole) is not None

    # Nothing relevant: no padding with unrelated moments, and the view says so.
    view.query.setText("sourdough bread recipe")
    with qtbot.waitSignal(view.results_ready, timeout=60_000) as found:
        view.run()
    assert found.args[0] == [] and view.results.count() == 0
    assert view.status.text().startswith("No matches: nothing in your library")


def test_a_running_job_shows_audio_time_elapsed_time_left_and_speed() -> None:
    now = 1_000.0
    job = Job("/media/talk.mp3", state="running", progress=0.5, duration=60.0, started=now - 10)
    assert job.progress_text() == "50% · 0:30 of 1:00"
    assert job.speed(now) == pytest.approx(3.0) and job.eta(now) == pytest.approx(10.0)
    assert job.timing_text(now) == "0:10 elapsed · 0:10 left · 3.0\u00d7 real time"
    # Before the engine knows the file's length there is only a percentage and elapsed time.
    early = Job("/media/talk.mp3", state="running", progress=0.0, started=now - 2)
    assert early.progress_text() == "0%" and early.timing_text(now) == "0:02 elapsed"


def test_search_on_an_empty_library_says_so(
    make_window, library_dir: Path, embedding_model: Path, monkeypatch: pytest.MonkeyPatch, qtbot
) -> None:
    monkeypatch.setenv("MEDIAMIND_MODELS", str(embedding_model.parent))
    window = make_window(library_dir, autostart_jobs=False)
    view = window.search_view
    view.query.setText("photosynthesis")
    with qtbot.waitSignal(view.results_ready, timeout=60_000):
        view.run()
    assert view.status.text() == "No matches: your library is empty. Add media in Library first."


def test_a_removed_file_in_a_watched_folder_is_not_added_back(
    library: Path, tmp_path: Path
) -> None:
    import os

    from app.services.library import LibraryService

    media = tmp_path / "media"
    service = LibraryService(library)
    try:
        budget = next(i for i in service.items() if i.title == "budget")
        assert media / "budget.srt" not in service.changed_files([media])  # stored, unchanged
        service.remove([budget.id])
        # The folder scan a watched folder runs: the removed file stays out...
        assert media / "budget.srt" not in service.changed_files([media])
        assert (media / "budget.srt").is_file()
        # ...until it changes.
        st = (media / "budget.srt").stat()
        os.utime(media / "budget.srt", (st.st_atime, st.st_mtime + 60))
        assert media / "budget.srt" in service.changed_files([media])
    finally:
        service.close()
