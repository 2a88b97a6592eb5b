"""The main window: views, shortcuts, palettes, the error path, and the layering rule."""

from __future__ import annotations

import ast
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import QApplication

from app.services import Services, SettingsService, UserMessage
from app.window import MainWindow

APP = Path(__file__).resolve().parents[2] / "app"


def test_ctrl_digits_switch_views_and_ctrl_f_focuses_search(
    make_window, library_dir: Path, qtbot
) -> None:
    window = make_window(library_dir)
    with qtbot.waitActive(window):
        window.activateWindow()
    for n, view in enumerate(window.views, start=1):
        qtbot.keyClick(window, getattr(Qt.Key, f"Key_{n}"), Qt.KeyboardModifier.ControlModifier)
        assert window.current_view() is view
        assert window.sidebar.currentRow() == n - 1
    qtbot.keyClick(window, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.current_view() is window.search_view
    assert window.search_view.query.hasFocus()
    assert window.add_files_action.shortcut().toString() == "Ctrl+O"


def test_dark_mode_is_a_persisted_toggle(
    make_window, library_dir: Path, settings: SettingsService, qtbot
) -> None:
    window = make_window(library_dir)
    light = QApplication.palette().color(QPalette.ColorRole.Window).lightness()
    window.dark_action.trigger()
    assert settings.dark
    assert window.settings_view.dark.isChecked()
    dark = QApplication.palette().color(QPalette.ColorRole.Window).lightness()
    assert dark < 80 < light or dark < light
    settings.store.sync()
    reread = SettingsService(
        type(settings.store)(settings.store.fileName(), settings.store.format())
    )
    assert reread.dark
    window.settings_view.dark.setChecked(False)
    assert not settings.dark and not window.dark_action.isChecked()


def test_engine_errors_reach_the_banner_with_their_fix(
    make_window, library_dir: Path, qtbot
) -> None:
    window = make_window(library_dir)
    window.player_view.open_at(12345, 0)  # no such item: a NotFoundError from the engine
    assert window.banner.isVisible()
    text = window.banner.label.text()
    assert "There is no item 12345" in text and "mediamind library" in text
    window.notifier.notify(UserMessage("Something broke.", "Do this."))
    assert "Do this." in window.banner.label.text()


def test_unusable_library_is_reported_not_raised(tmp_path: Path, qtbot) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    window = MainWindow(Services.open(not_a_dir, _settings(tmp_path)))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(window.banner.isVisible, timeout=10_000)
    assert "Cannot create the library directory" in window.banner.label.text()
    window.shutdown()


def _settings(tmp_path: Path) -> SettingsService:
    from PySide6.QtCore import QSettings

    return SettingsService(QSettings(str(tmp_path / "s.ini"), QSettings.Format.IniFormat))


def test_only_services_imports_core() -> None:
    offenders = []
    for path in APP.rglob("*.py"):
        if path.relative_to(APP).parts[0] == "services":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n == "core" or n.startswith("core.")
            ]
    assert not offenders, offenders
