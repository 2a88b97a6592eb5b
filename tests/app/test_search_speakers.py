"""Search's speaker facet, on a real two-voice recording diarized by the real models."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.views.search import HtmlRole
from core.ingest.media import decode_audio
from core.speakers.profiles import rename_profile
from core.store import Library
from tests.conftest import mediamind, require_shared
from tests.core.test_speakers import _write_wav, clip, turns_of

pytestmark = [pytest.mark.slow, pytest.mark.shared_data]


@pytest.fixture(scope="module")
def two_voices(tmp_path_factory: pytest.TempPathFactory) -> Path:
    a = clip("fleurs-en-005")  # the hospital and infection control
    b = decode_audio(require_shared("speech", "librispeech", "2412-153948-0000.flac"))
    ha, hb = a.shape[0] // 2, b.shape[0] // 2
    audio, _ = turns_of((0, a[:ha]), (1, b[:hb]), (0, a[ha:]), (1, b[hb:]))
    root = tmp_path_factory.mktemp("voices")
    talk = _write_wav(root / "talk.wav", audio)
    library = root / "lib"
    assert mediamind("ingest", str(talk), library=library).returncode == 0
    with Library(library) as lib:
        first = lib.db.query("SELECT profile_id FROM item_speakers ORDER BY label")
        rename_profile(lib.db, int(first[0]["profile_id"]), "Dana")
    return library


def test_the_speaker_facet_lists_voices_and_filters_by_them(
    make_window, two_voices: Path, qtbot
) -> None:
    window = make_window(two_voices, autostart_jobs=False)
    view = window.search_view
    with qtbot.waitSignal(view.speakers_loaded, timeout=30_000) as loaded:
        window.show_view("Search")
    names = [name for _id, name in loaded.args[0]]
    assert len(names) == 2 and "Dana" in names
    assert view.speaker.isVisibleTo(view) and view.speaker.count() == 3  # Anyone + 2
    view.query.setText("reader excuse antecedents native country")
    with qtbot.waitSignal(view.results_ready, timeout=60_000) as everyone:
        view.run()
    assert everyone.args[0] and all(hit.speakers for hit in everyone.args[0])
    # Only Dana: every moment shown is one where Dana speaks, and says so.
    with qtbot.waitSignal(view.results_ready, timeout=60_000) as only:
        view.speaker.setCurrentIndex(view.speaker.findText("Dana"))
    hits = only.args[0]
    assert hits and all("Dana" in hit.speakers for hit in hits)
    assert "Dana" in view.results.item(0).data(HtmlRole)  # shown on the row
