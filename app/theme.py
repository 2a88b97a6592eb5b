"""Light and dark palettes on the Fusion style, plus a little shared styling."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QStyleFactory

ACCENT = "#2f7de1"

_DARK = {
    QPalette.ColorRole.Window: "#202124",
    QPalette.ColorRole.WindowText: "#e8eaed",
    QPalette.ColorRole.Base: "#17181a",
    QPalette.ColorRole.AlternateBase: "#24262a",
    QPalette.ColorRole.ToolTipBase: "#2b2d31",
    QPalette.ColorRole.ToolTipText: "#e8eaed",
    QPalette.ColorRole.PlaceholderText: "#8a8f98",
    QPalette.ColorRole.Text: "#e8eaed",
    QPalette.ColorRole.Button: "#2b2d31",
    QPalette.ColorRole.ButtonText: "#e8eaed",
    QPalette.ColorRole.BrightText: "#ff6b6b",
    QPalette.ColorRole.Highlight: ACCENT,
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#8ab4f8",
    QPalette.ColorRole.Mid: "#3c4043",
    QPalette.ColorRole.Dark: "#151618",
    QPalette.ColorRole.Light: "#3c4043",
}

_LIGHT = {
    QPalette.ColorRole.Window: "#f4f5f7",
    QPalette.ColorRole.WindowText: "#1f2328",
    QPalette.ColorRole.Base: "#ffffff",
    QPalette.ColorRole.AlternateBase: "#f6f8fa",
    QPalette.ColorRole.ToolTipBase: "#ffffff",
    QPalette.ColorRole.ToolTipText: "#1f2328",
    QPalette.ColorRole.PlaceholderText: "#6e7781",
    QPalette.ColorRole.Text: "#1f2328",
    QPalette.ColorRole.Button: "#eaecef",
    QPalette.ColorRole.ButtonText: "#1f2328",
    QPalette.ColorRole.BrightText: "#cf222e",
    QPalette.ColorRole.Highlight: ACCENT,
    QPalette.ColorRole.HighlightedText: "#ffffff",
    QPalette.ColorRole.Link: "#0969da",
}


def palette(dark: bool) -> QPalette:
    """The light or dark palette."""
    pal = QPalette()
    for role, color in (_DARK if dark else _LIGHT).items():
        pal.setColor(role, QColor(color))
    if dark:
        for role in (
            QPalette.ColorRole.Text,
            QPalette.ColorRole.WindowText,
            QPalette.ColorRole.ButtonText,
        ):
            pal.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b7075"))
    return pal


def stylesheet(dark: bool) -> str:
    """Small touches the palette cannot express (sidebar, banners, headings)."""
    side = "#17181a" if dark else "#e9ecf1"
    side_text = "#c9ccd1" if dark else "#30363d"
    muted = "#9aa0a6" if dark else "#57606a"
    banner = "#4a2326" if dark else "#ffebe9"
    banner_border = "#8e3b41" if dark else "#ff8182"
    notice = "#3b3420" if dark else "#fff8c5"
    notice_border = "#7d6a2a" if dark else "#d4a72c"
    chip_text = "#8ab4f8" if dark else "#0969da"
    card = "#24262a" if dark else "#ffffff"
    card_border = "#3c4043" if dark else "#d0d7de"
    return f"""
    QFrame#side {{ background: {side}; }}
    QLabel#brand {{ font-size: 17px; font-weight: 700; padding: 0 0 8px 20px; color: {side_text}; }}
    QListWidget#sidebar {{
        background: {side}; border: none; font-size: 14px; color: {side_text};
    }}
    QListWidget#sidebar::item {{ padding: 9px 14px; border-radius: 6px; margin: 1px 6px; }}
    QListWidget#sidebar::item:selected {{ background: {ACCENT}; color: white; }}
    QLabel#heading {{ font-size: 18px; font-weight: 600; }}
    QLabel#muted {{ color: {muted}; }}
    QFrame#banner {{
        background: {banner}; border: 1px solid {banner_border}; border-radius: 6px;
    }}
    QLabel#placeholder {{ color: {muted}; font-size: 15px; }}
    QLabel#section {{ font-weight: 600; margin-top: 6px; }}
    QLabel#notice {{
        background: {notice}; border: 1px solid {notice_border}; border-radius: 6px; padding: 8px;
    }}
    QPushButton#chip {{
        border: 1px solid {ACCENT}; border-radius: 11px; padding: 3px 10px; color: {chip_text};
        background: transparent;
    }}
    QPushButton#chip:hover {{ background: {ACCENT}; color: white; }}
    QFrame#nowPlaying {{
        border: 1px solid {card_border}; border-radius: 8px; background: {card};
    }}
    QFrame#card {{ border: 1px solid {card_border}; border-radius: 8px; background: {card}; }}
    QFrame#card:hover {{ border: 1px solid {ACCENT}; }}
    QLabel#cardTitle {{ font-weight: 600; }}
    QLabel#rowTitle {{ font-size: 15px; font-weight: 600; margin-top: 8px; }}
    QProgressBar#watched {{
        border: none; background: {card_border}; max-height: 4px; border-radius: 2px;
    }}
    QProgressBar#watched::chunk {{ background: {ACCENT}; border-radius: 2px; }}
    """


def apply(app: QApplication, dark: bool) -> None:
    """Switch the whole application to the light or dark look."""
    if app.style().name().lower() != "fusion":
        style = QStyleFactory.create("Fusion")
        if style is not None:
            app.setStyle(style)
    app.setPalette(palette(dark))
    app.setStyleSheet(stylesheet(dark))
