"""The screenshot script shoots every view, light and dark, at each size it is given."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QImage

from app.screenshots import README_SHOTS, VIEWS, shoot_views


def test_every_view_is_shot_light_and_dark_at_both_sizes(
    make_window, podcast_library: Path, tmp_path: Path, qtbot
) -> None:
    window = make_window(podcast_library, autostart_jobs=False)
    assert set(VIEWS) == set(window.VIEWS)  # a new view is shot too
    sizes = [(1440, 900), (800, 600)]

    written = shoot_views(window, tmp_path, sizes)

    assert len(written) == len(VIEWS) * 2 * len(sizes)
    for name in VIEWS.values():
        for theme in ("light", "dark"):
            for w, h in sizes:
                image = QImage(str(tmp_path / f"{name}-{theme}-{w}x{h}.png"))
                assert image.height() == h, name
                if w == 1440:
                    assert image.width() == w, name
                else:  # no narrower than its widest view (Review's own minimum is wider)
                    assert image.width() >= w, name
    # Settings and Speakers fit 800 px beside the sidebar (180 px) and the margins.
    for view in (window.settings_view, window.speakers_view):
        assert view.minimumSizeHint().width() <= 800 - 180 - 24, type(view).__name__
    for name in README_SHOTS:
        assert (tmp_path / f"{name}.png").read_bytes() == (
            tmp_path / f"{name}-light-1440x900.png"
        ).read_bytes()
    # Dark shots are dark: the window background differs between the themes.
    light = QImage(str(tmp_path / "settings-light-800x600.png")).pixelColor(400, 590)
    dark = QImage(str(tmp_path / "settings-dark-800x600.png")).pixelColor(400, 590)
    assert dark.lightness() < light.lightness() - 60
    assert not window.services.settings.dark
