"""The first-start offer: an empty library can try the bundled demo library in one click."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class WelcomeStrip(QFrame):
    """Shown above the views while the library is empty (until the user closes it)."""

    demo_requested = Signal()
    add_requested = Signal()
    dismissed = Signal()

    def __init__(self, has_demo: bool, parent: QWidget | None = None) -> None:
        """Build the strip; without a bundled demo only "Add files…" is offered."""
        super().__init__(parent)
        self.setObjectName("card")
        title = QLabel("Welcome to MediaMind")
        title.setObjectName("cardTitle")
        text = QLabel(
            "Your library is empty. Try the demo library — a town hall, a podcast, a lecture, a "
            "cooking show, a training video and a famous speech, about 9 minutes in all — or "
            "add your own recordings. Everything stays on this computer."
        )
        text.setWordWrap(True)
        self.demo_button = QPushButton("Try the demo library")
        self.demo_button.setDefault(True)
        self.demo_button.setVisible(has_demo)
        self.add_button = QPushButton("Add files…")
        self.close_button = QPushButton("Not now")
        buttons = QHBoxLayout()
        buttons.addWidget(self.demo_button)
        buttons.addWidget(self.add_button)
        buttons.addStretch(1)
        buttons.addWidget(self.close_button)
        col = QVBoxLayout(self)
        col.addWidget(title)
        col.addWidget(text)
        col.addLayout(buttons)
        self.demo_button.clicked.connect(self._demo)
        self.add_button.clicked.connect(self.add_requested)
        self.close_button.clicked.connect(self._close)
        self.hide()

    def _demo(self) -> None:
        self.hide()
        self.demo_requested.emit()

    def _close(self) -> None:
        self.hide()
        self.dismissed.emit()
