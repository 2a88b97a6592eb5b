"""Ask view: a question box, the answer streamed as it is written, and clickable citations.

The answer is produced in a spawned process (:class:`~app.workers.AskRunner`), so the window
stays responsive and Stop can kill llama.cpp mid-sentence. While the model writes, its raw
text is shown greyed; the verified answer then replaces it, with every ``[S1]`` marker turned
into a link to the cited moment, a chip per citation, and the quoted sources below. A
question the library cannot answer is shown as "Not in your library", with the closest items.
"""

from __future__ import annotations

import html
import re

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.services import Answer, AskUpdate, Citation, UserMessage
from app.workers import AskRunner, ErrorNotifier

CitationRole = Qt.ItemDataRole.UserRole + 1
_MARKER = re.compile(r"\[(S\d+(?:\s*,\s*S\d+)*)\]")


def answer_html(answer: Answer) -> str:
    """The answer as HTML: each ``[S1]`` marker becomes a ``cite:N`` link to its citation.

    Core gives every cited moment its own label, so a marker names exactly one citation.
    """
    by_label = {c.label: n for n, c in enumerate(answer.citations)}

    def link(match: re.Match[str]) -> str:
        parts = []
        for label in re.split(r"\s*,\s*", match.group(1)):
            n = by_label.get(label)
            if n is None:  # a marker the verifier dropped: show nothing, not a dead link
                continue
            c = answer.citations[n]
            parts.append(
                f"<a href='cite:{n}' title='{html.escape(c.title)}'>"
                f"[{html.escape(c.title)} @ {c.timestamp}]</a>"
            )
        return " ".join(parts)

    pieces = []
    last = 0
    for match in _MARKER.finditer(answer.text):
        pieces.append(html.escape(answer.text[last : match.start()]))
        pieces.append(link(match))
        last = match.end()
    pieces.append(html.escape(answer.text[last:]))
    return "".join(pieces).replace("\n", "<br>")


class AskView(QWidget):
    """Ask the library; ``play_requested(media_id, seconds)`` opens a cited moment."""

    play_requested = Signal(int, float)
    answered = Signal(object)  # Answer
    busy_changed = Signal(bool)

    def __init__(self, runner: AskRunner, notifier: ErrorNotifier) -> None:
        """Build the view around an answer runner (owned by the window)."""
        super().__init__()
        self.runner = runner
        self.notifier = notifier
        self.answer: Answer | None = None
        self.streamed = ""
        self._job: str | None = None
        self._warm_job: str | None = None
        self._pending: str | None = None
        self._warmed = False

        self.question = QLineEdit()
        self.question.setPlaceholderText(
            "Ask your library, e.g. What did they decide about the Q4 budget?"
        )
        self.question.setClearButtonEnabled(True)
        self.question.returnPressed.connect(self.run)
        self.ask_button = QPushButton("Ask")
        self.ask_button.setDefault(True)
        self.ask_button.clicked.connect(self.run)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.stop)
        top = QHBoxLayout()
        top.addWidget(self.question, 1)
        top.addWidget(self.ask_button)
        top.addWidget(self.stop_button)

        self.notice = QLabel()
        self.notice.setObjectName("notice")
        self.notice.setWordWrap(True)
        self.notice.hide()
        self.text = QTextBrowser()
        self.text.setOpenLinks(False)
        self.text.setOpenExternalLinks(False)
        self.text.anchorClicked.connect(self._link)
        self.text.setPlaceholderText(
            "Answers come from your library only. Every sentence cites the moment it comes "
            "from; click a citation to play it."
        )
        self.chips_row = QHBoxLayout()
        self.chips_row.setSpacing(6)
        self.chips: list[QPushButton] = []
        chips = QWidget()
        chips_layout = QHBoxLayout(chips)
        chips_layout.setContentsMargins(0, 0, 0, 0)
        chips_layout.addLayout(self.chips_row)
        chips_layout.addStretch(1)
        self.sources_label = QLabel("Sources")
        self.sources_label.setObjectName("section")
        self.sources = QListWidget()
        self.sources.setWordWrap(True)
        self.sources.itemActivated.connect(self._source_activated)
        self.status = QLabel()
        self.status.setObjectName("muted")

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.notice)
        layout.addWidget(self.text, 3)
        layout.addWidget(chips)
        layout.addWidget(self.sources_label)
        layout.addWidget(self.sources, 2)
        layout.addWidget(self.status)
        runner.update.connect(self._on_update)

    # -- public API -------------------------------------------------------------------------

    def warm(self) -> None:
        """Load the model in the background so the first answer starts sooner."""
        if self._warmed or self.runner.busy:
            return
        self._warmed = True
        self._warm_job = self.runner.ask(None)

    def run(self) -> None:
        """Ask the question in the box (Enter or the Ask button)."""
        question = self.question.text().strip()
        if not question:
            return
        if self.runner.busy:
            if self.runner.current == self._warm_job:
                self._pending = question  # asked while the model loads: start right after
                self.status.setText("Loading the language model…")
                self._set_busy(True)
                return
            self.stop()
        self._start(question)

    def stop(self) -> None:
        """Stop the answer being written (kills the model's process)."""
        current = self.runner.current
        asked = current is not None and (
            current == self._job or (current == self._warm_job and self._pending is not None)
        )
        if not asked:
            return
        self.runner.cancel()
        self._warmed = False  # the next question starts a fresh process
        self._job = self._warm_job = self._pending = None
        self.status.setText("Stopped.")
        self._set_busy(False)

    def click_citation(self, index: int) -> None:
        """Open citation ``index`` of the current answer in the player."""
        if self.answer is None:
            return
        c = (self.answer.citations or self.answer.closest)[index]
        self.play_requested.emit(c.media_id, c.start)

    # -- updates ----------------------------------------------------------------------------

    def _start(self, question: str) -> None:
        self._pending = None
        self.answer = None
        self.streamed = ""
        self._clear_citations()
        self.notice.hide()
        self.text.clear()
        self.status.setText("Searching your library…")
        self._job = self.runner.ask(question)
        self._set_busy(True)

    def _on_update(self, update: AskUpdate) -> None:
        if update.job_id == self._warm_job:
            if update.kind == "error":
                self.notifier.notify(UserMessage(update.message, update.fix))
            if update.kind == "finished":
                self._warm_job = None
                if self._pending is not None:
                    self._start(self._pending)
            return
        if update.job_id != self._job:
            return
        if update.kind == "sources":
            self.status.setText(f"Reading {len(update.citations)} passages…")
            self._show_sources(update.citations, "Passages read")
        elif update.kind == "token":
            self.streamed += update.text
            self.text.setHtml(
                f"<span style='color:gray'>{html.escape(self.streamed)}</span>".replace(
                    "\n", "<br>"
                )
            )
        elif update.kind == "answer" and update.answer is not None:
            self._show_answer(update.answer)
        elif update.kind == "error":
            msg = self.notifier.notify(UserMessage(update.message, update.fix))
            self.status.setText(msg.text())
        elif update.kind == "finished":
            self._job = None
            self._set_busy(False)

    def _show_answer(self, answer: Answer) -> None:
        self.answer = answer
        self._clear_citations()
        if answer.refused:
            self.notice.setText(
                "<b>Not in your library.</b> Nothing you have imported answers this question; "
                "the closest moments are listed below."
            )
            self.notice.show()
            self.text.setPlainText(answer.text)
            self._show_sources(answer.closest, "Closest moments")
            for n, c in enumerate(answer.closest):
                self._add_chip(n, c)
        else:
            self.text.setHtml(answer_html(answer))
            for n, c in enumerate(answer.citations):
                self._add_chip(n, c)
            self._show_sources(answer.citations, "Sources")
        if answer.cached:
            self.status.setText("Answered from the cache.")
        elif answer.mode == "extractive":
            self.status.setText(
                f"Quoted from the sources ({answer.total_ms / 1000:.1f} s): the model's own "
                "sentences were not supported by them."
            )
        elif answer.ttft_ms:
            self.status.setText(
                f"First words after {answer.ttft_ms / 1000:.1f} s, answer in "
                f"{answer.total_ms / 1000:.1f} s. Unsupported sentences are removed."
            )
        else:
            self.status.setText(f"Answered in {answer.total_ms / 1000:.1f} s.")
        self.answered.emit(answer)

    def _show_sources(self, citations: tuple[Citation, ...], label: str) -> None:
        self.sources_label.setText(label)
        self.sources.clear()
        for c in citations:
            tag = f"[{c.label}] " if c.label else ""
            entry = QListWidgetItem(f"{tag}{c.title} @ {c.timestamp}\n“{c.text}”")
            entry.setData(CitationRole, c)
            entry.setToolTip("Enter or double-click plays this moment")
            self.sources.addItem(entry)

    def _add_chip(self, n: int, c: Citation) -> None:
        chip = QPushButton(f"▶ {c.title} @ {c.timestamp}")
        chip.setObjectName("chip")
        chip.setCursor(Qt.CursorShape.PointingHandCursor)
        chip.setToolTip(c.text)
        chip.clicked.connect(lambda _checked=False, n=n: self.click_citation(n))
        self.chips_row.addWidget(chip)
        self.chips.append(chip)

    def _clear_citations(self) -> None:
        for chip in self.chips:
            self.chips_row.removeWidget(chip)
            chip.deleteLater()
        self.chips = []
        self.sources.clear()

    def _link(self, url: QUrl) -> None:
        if url.scheme() == "cite":
            self.click_citation(int(url.path()))

    def _source_activated(self, entry: QListWidgetItem) -> None:
        c: Citation = entry.data(CitationRole)
        self.play_requested.emit(c.media_id, c.start)

    def _set_busy(self, busy: bool) -> None:
        self.stop_button.setEnabled(busy)
        self.busy_changed.emit(busy)
