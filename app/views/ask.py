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
import time

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QTextCharFormat
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from app.services import Answer, AskService, AskUpdate, Citation, UserMessage
from app.workers import AskRunner, ErrorNotifier, WorkerPool

CitationRole = Qt.ItemDataRole.UserRole + 1
AnswerRole = Qt.ItemDataRole.UserRole + 2
_MARKER = re.compile(r"\[(S\d+(?:\s*,\s*S\d+)*)\]")
# A marker still being written at the end of the draft: "[", "[S", "[S1", "[S1, S".
_PARTIAL_MARKER = re.compile(r"\[(?:S\d*(?:\s*,\s*S?\d*)*)?$")


def draft_text(streamed: str) -> str:
    """The model's text as it streams, without its ``[S1]`` markers (whole or half-written)."""
    text = _PARTIAL_MARKER.sub("", _MARKER.sub("", streamed))
    return re.sub(r"[ \t]+([.,;:!?])", r"\1", re.sub(r"[ \t]{2,}", " ", text))


def seconds_text(ms: float) -> str:
    """A duration for the status line: two decimals below ten seconds, one above."""
    return f"{ms / 1000:.2f} s" if ms < 10_000 else f"{ms / 1000:.1f} s"


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
    history_loaded = Signal(object)  # list[Answer], newest first
    add_media_requested = Signal()

    def __init__(
        self,
        runner: AskRunner,
        notifier: ErrorNotifier,
        service: AskService | None = None,
        pool: WorkerPool | None = None,
    ) -> None:
        """Build the view around an answer runner (owned by the window).

        With ``service`` and ``pool`` the view keeps the library's question history.
        """
        super().__init__()
        self.runner = runner
        self.notifier = notifier
        self.service = service
        self.pool = pool
        self.history_answers: list[Answer] = []
        self._history_requested = False
        self._asked_at = 0.0
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
        self.status.setWordWrap(True)
        self.add_media_button = QPushButton("Add media…")
        self.add_media_button.clicked.connect(self.add_media_requested)
        self.add_media_button.hide()

        self.history = QListWidget()
        self.history.setWordWrap(True)
        self.history.setSpacing(3)
        self.history.setAlternatingRowColors(True)
        self.history.setToolTip("Click a question to see its answer again")
        self.history.itemClicked.connect(self._history_clicked)
        self.history.itemActivated.connect(self._history_clicked)
        recent = QWidget()
        recent_layout = QVBoxLayout(recent)
        recent_layout.setContentsMargins(0, 0, 0, 0)
        recent_title = QLabel("Recent questions")
        recent_title.setObjectName("section")
        recent_layout.addWidget(recent_title)
        recent_layout.addWidget(self.history, 1)

        main = QWidget()
        main_layout = QVBoxLayout(main)
        main_layout.setContentsMargins(0, 0, 0, 0)
        main_layout.addWidget(self.notice)
        main_layout.addWidget(self.add_media_button, 0, Qt.AlignmentFlag.AlignLeft)
        main_layout.addWidget(self.text, 3)
        main_layout.addWidget(chips)
        main_layout.addWidget(self.sources_label)
        main_layout.addWidget(self.sources, 2)
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(main)
        split.addWidget(recent)
        split.setStretchFactor(0, 4)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(split, 1)
        layout.addWidget(self.status)
        runner.update.connect(self._on_update)

    # -- public API -------------------------------------------------------------------------

    def load_history(self) -> None:
        """Read the library's recent questions (in a worker; once)."""
        if self._history_requested or self.service is None or self.pool is None:
            return
        self._history_requested = True
        self.pool.submit(self.service.history, on_result=self._show_history)

    def show_answer(self, answer: Answer) -> None:
        """Show a stored answer again (from the history)."""
        self.question.setText(answer.question)
        self.notice.hide()
        self.add_media_button.hide()
        self._show_answer(answer, remember=False)
        self.status.setText("From your recent questions; press Ask to ask it again.")

    def warm(self) -> None:
        """Load the model in the background so the first answer starts sooner."""
        self.load_history()
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
        self.add_media_button.hide()
        self.text.clear()
        self.text.setCurrentCharFormat(QTextCharFormat())
        self._asked_at = time.perf_counter()
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
                f"<span style='color:gray'>{html.escape(draft_text(self.streamed))}</span>".replace(
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

    def _show_answer(self, answer: Answer, remember: bool = True) -> None:
        self.answer = answer
        self._clear_citations()
        # A fresh document and character format: nothing of the draft (grey) or of a previous
        # answer's links carries over into plain text.
        self.text.clear()
        self.text.setCurrentCharFormat(QTextCharFormat())
        if answer.refused:
            if answer.closest:
                self.notice.setText(
                    "<b>Not in your library.</b> Nothing you have imported answers this "
                    "question; the closest moments are listed below."
                )
                self._show_sources(answer.closest, "Closest moments")
                for n, c in enumerate(answer.closest):
                    self._add_chip(n, c)
            else:
                self.notice.setText(
                    "<b>Not in your library.</b> Nothing you have imported is close to this "
                    "question. Add the recordings that cover it, then ask again."
                )
                self.sources_label.hide()
                self.sources.hide()
                self.add_media_button.show()
            self.notice.show()
            self.text.setHtml(f"<p>{html.escape(answer.text)}</p>")
        else:
            self.text.setHtml(answer_html(answer))
            for n, c in enumerate(answer.citations):
                self._add_chip(n, c)
            self._show_sources(answer.citations, "Sources")
        waited = (time.perf_counter() - self._asked_at) * 1000 if self._asked_at else 0.0
        total = max(answer.total_ms, waited)
        if answer.cached:
            self.status.setText(f"Answered from the cache in {seconds_text(total)}.")
        elif answer.refused:
            self.status.setText(f"Searched your library in {seconds_text(total)}.")
        elif answer.mode == "extractive":
            self.status.setText(
                f"Quoted from the sources ({seconds_text(total)}): the model's own "
                "sentences were not supported by them."
            )
        elif answer.ttft_ms:
            self.status.setText(
                f"First words after {seconds_text(answer.ttft_ms)}, answer in "
                f"{seconds_text(total)}. Unsupported sentences are removed."
            )
        else:
            self.status.setText(f"Answered in {seconds_text(total)}.")
        self._asked_at = 0.0
        if remember:
            self._remember(answer)
            self.answered.emit(answer)

    def _remember(self, answer: Answer) -> None:
        if self.service is None or self.pool is None:
            return
        key = answer.question.strip().lower()
        self.history_answers = [answer] + [
            a for a in self.history_answers if a.question.strip().lower() != key
        ]
        self._fill_history()
        self.pool.submit(self.service.remember, answer)

    def _show_history(self, answers: list[Answer]) -> None:
        # Questions answered while the history loaded stay first.
        asked = {a.question.strip().lower() for a in self.history_answers}
        self.history_answers += [a for a in answers if a.question.strip().lower() not in asked]
        self._fill_history()
        self.history_loaded.emit(self.history_answers)

    def _fill_history(self) -> None:
        self.history.clear()
        for answer in self.history_answers:
            entry = QListWidgetItem(answer.question)
            entry.setData(AnswerRole, answer)
            entry.setToolTip(answer.text[:300])
            self.history.addItem(entry)

    def _history_clicked(self, entry: QListWidgetItem) -> None:
        if self.runner.busy and self._job is not None:
            return  # an answer is being written; it would be replaced
        self.show_answer(entry.data(AnswerRole))

    def _show_sources(self, citations: tuple[Citation, ...], label: str) -> None:
        self.sources_label.setText(label)
        self.sources_label.setVisible(bool(citations))
        self.sources.show()
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
