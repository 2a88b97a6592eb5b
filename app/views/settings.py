"""Settings view: library location, watched folders, Whisper models, threads, look, privacy.

Each choice says in plain words what it changes and whether items already in the library are
affected (they are not: a new model applies to files transcribed or tagged from then on).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from app.services import (
    PRIVACY_STATEMENT,
    WHISPER_MODELS,
    IngestSettings,
    SettingsService,
    UserMessage,
    install_model,
    model_overview,
    physical_cores,
)
from app.services.settings import check_whisper_folder
from app.workers import WorkerPool

CUSTOM = "__folder__"
BASE = "base"


def _help(text: str) -> QLabel:
    """A muted, wrapped line under a setting saying what it changes."""
    label = QLabel(text)
    label.setObjectName("muted")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
    label.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Maximum)
    return label


class SettingsView(QWidget):
    """Every preference, saved as soon as it changes."""

    dark_changed = Signal(bool)
    watched_changed = Signal(list)  # list[str]

    def __init__(
        self,
        settings: SettingsService,
        library_dir: Path,
        pool: WorkerPool,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.settings = settings
        self.pool = pool
        self._models_checked = False

        heading = QLabel("Settings")
        heading.setObjectName("heading")

        # -- library --------------------------------------------------------------------------
        self.library_edit = QLineEdit(str(library_dir))
        self.library_edit.setReadOnly(True)
        self.library_button = QPushButton("Change…")
        self.library_note = QLabel("")
        self.library_note.setObjectName("muted")
        self.library_note.hide()  # until a new location is chosen
        lib_row = QHBoxLayout()
        lib_row.addWidget(self.library_edit, 1)
        lib_row.addWidget(self.library_button)
        self.watched = QListWidget()
        self.watched.setMaximumHeight(90)
        self.watched.addItems(settings.watched_folders)
        self.watch_add = QPushButton("Add…")
        self.watch_remove = QPushButton("Remove")
        watch_buttons = QVBoxLayout()
        watch_buttons.addWidget(self.watch_add)
        watch_buttons.addWidget(self.watch_remove)
        watch_buttons.addStretch(1)
        watch_row = QHBoxLayout()
        watch_row.addWidget(self.watched, 1)
        watch_row.addLayout(watch_buttons)
        library_box = QGroupBox("Library")
        form = QFormLayout(library_box)
        form.addRow("Location", lib_row)
        form.addRow(
            "",
            _help(
                "Where MediaMind keeps its index of your recordings (your files stay where "
                "they are). A new location is used the next time MediaMind starts; this "
                "library is left as it is."
            ),
        )
        form.addRow("", self.library_note)
        form.addRow("Watched folders", watch_row)
        form.addRow(
            "",
            _help("New or changed files in these folders are added to the library by themselves."),
        )

        # -- transcription ----------------------------------------------------------------
        ingest = settings.ingest
        self.model_combo = QComboBox()
        self.model_combo.addItem(
            "Automatic — fast English model, multilingual model for other languages", "auto"
        )
        self.model_combo.addItem("tiny.en — fast, English only", "tiny.en")
        self.model_combo.addItem("base — multilingual, more accurate, ~2× slower", "base")
        if ingest.model not in WHISPER_MODELS:
            self.model_combo.addItem(f"Folder: {ingest.model}", ingest.model)
        self.model_combo.addItem("Choose a CTranslate2 Whisper folder…", CUSTOM)
        self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(ingest.model)))
        self.model_combo.setMaximumWidth(460)
        # Long choices must not hold the window wider than 800 px: the popup shows them whole.
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.setMinimumContentsLength(24)
        self.threads = QSpinBox()
        self.threads.setMaximumWidth(140)
        self.threads.setRange(0, 64)
        self.threads.setSpecialValueText("Auto")
        self.threads.setValue(ingest.threads or 0)
        self.threads.setToolTip("Processor cores for transcription; Auto uses all of them")
        self.prefer_subs = QCheckBox(
            "Use a same-named .srt/.vtt beside a file instead of transcribing"
        )
        self.prefer_subs.setChecked(ingest.prefer_subtitles)
        # The multilingual model: Whisper base, or any CTranslate2 Whisper folder the user adds.
        self.multi_edit = QLineEdit(
            "" if ingest.multilingual_model == BASE else ingest.multilingual_model
        )
        self.multi_edit.setPlaceholderText("Whisper base (built in)")
        self.multi_edit.setClearButtonEnabled(True)
        self.multi_pick = QPushButton("Choose folder…")
        multi_row = QHBoxLayout()
        multi_row.addWidget(self.multi_edit, 1)
        multi_row.addWidget(self.multi_pick)
        self.multi_error = QLabel("")
        self.multi_error.setObjectName("notice")
        self.multi_error.setWordWrap(True)
        self.multi_error.hide()
        ingest_box = QGroupBox("Transcription")
        form2 = QFormLayout(ingest_box)
        form2.addRow("Speech model", self.model_combo)
        form2.addRow(
            "",
            _help(
                "Which Whisper model turns speech into text. Automatic picks the fast "
                "English model (tiny.en) for English and the multilingual model below for "
                "other languages; a single model is slower or English-only. Applies to files "
                "transcribed from now on: items already in the library keep their transcript "
                "until they are transcribed again."
            ),
        )
        form2.addRow("Other languages", multi_row)
        form2.addRow("", self.multi_error)
        form2.addRow(
            "",
            _help(
                "The model for speech that is not English. Whisper base is built in; pick a "
                "folder to use a larger CTranslate2 Whisper model (more accurate, slower). "
                "Applies to files transcribed from now on."
            ),
        )
        form2.addRow("Threads", self.threads)
        form2.addRow(
            "",
            _help(
                "How many processor cores transcription uses: more is faster but leaves less "
                "for other programs. Applies from the next file."
            ),
        )
        form2.addRow("", self.prefer_subs)
        self.models_label = QLabel("Installed models are checked when this page opens.")
        self.models_label.setObjectName("muted")
        self.models_label.setWordWrap(True)
        form2.addRow("Models", self.models_label)
        # Models that are not bundled are added by picking their files; core checks them
        # against the registry's checksums and copies them into the model directory.
        self.add_base = QPushButton("Add Whisper base from a folder…")
        self.add_base.setToolTip(
            "Pick a folder holding Whisper base (model.bin, or the two halves from its "
            "packages, with config.json, tokenizer.json and vocabulary.txt)"
        )
        self.install_note = QLabel("")
        self.install_note.setObjectName("muted")
        self.install_note.setWordWrap(True)
        base_row = QHBoxLayout()
        base_row.addWidget(self.add_base)
        base_row.addStretch(1)
        form2.addRow("", base_row)
        form2.addRow("", self.install_note)

        # -- answers ----------------------------------------------------------------------
        self.llm_label = QLabel("")
        self.llm_label.setWordWrap(True)
        self.llm_pick = QPushButton("Add a GGUF model…")
        self.llm_default = QPushButton("Use the built-in model")
        llm_row = QHBoxLayout()
        llm_row.addWidget(self.llm_pick)
        llm_row.addWidget(self.llm_default)
        llm_row.addStretch(1)
        llm_box = QGroupBox("Answers")
        form3 = QFormLayout(llm_box)
        form3.addRow("Language model", self.llm_label)
        form3.addRow("", llm_row)
        form3.addRow(
            "",
            _help(
                "Writes the answers in Ask and the summaries and tags of each item. A larger "
                "model answers better and more slowly. Applies to new answers and to items "
                "tagged from now on; tags already made are kept."
            ),
        )
        self.llm_note = QLabel("")
        self.llm_note.setObjectName("muted")
        self.llm_note.setWordWrap(True)
        form3.addRow("", self.llm_note)
        self._show_llm()

        # -- appearance and privacy -------------------------------------------------------
        self.dark = QCheckBox("Dark mode  (Ctrl+Shift+D)")
        self.dark.setChecked(settings.dark)
        look_box = QGroupBox("Appearance")
        look_col = QVBoxLayout(look_box)
        look_col.addWidget(self.dark)
        look_col.addWidget(_help("Changes only the look, at once."))
        privacy = QLabel(PRIVACY_STATEMENT)
        privacy.setWordWrap(True)
        privacy_box = QGroupBox("Privacy")
        QVBoxLayout(privacy_box).addWidget(privacy)

        body = QWidget()
        col = QVBoxLayout(body)
        col.addWidget(heading)
        for box in (library_box, ingest_box, llm_box, look_box, privacy_box):
            col.addWidget(box)
        col.addStretch(1)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setWidget(body)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)

        self.library_button.clicked.connect(self._choose_library)
        self.watch_add.clicked.connect(self._add_watched)
        self.watch_remove.clicked.connect(self._remove_watched)
        self.model_combo.activated.connect(self._model_chosen)
        self.threads.valueChanged.connect(self._save_ingest)
        self.prefer_subs.toggled.connect(self._save_ingest)
        self.dark.toggled.connect(self.dark_changed)
        self.add_base.clicked.connect(self._add_whisper_base)
        self.llm_pick.clicked.connect(self._add_gguf)
        self.llm_default.clicked.connect(self._use_default_llm)
        self.multi_pick.clicked.connect(self._pick_multilingual)
        self.multi_edit.editingFinished.connect(self._multilingual_edited)

    def showEvent(self, event: QShowEvent) -> None:
        """Check the installed models the first time the page is shown."""
        super().showEvent(event)
        if not self._models_checked:  # verifying model files costs I/O: only when looked at
            self._models_checked = True
            self.pool.submit(
                lambda: (model_overview(), physical_cores()), on_result=self._show_models
            )

    def _show_models(self, result: tuple[list[tuple[str, str, bool]], int]) -> None:
        rows, cores = result
        self.threads.setSpecialValueText(f"Auto ({cores})")
        self.models_label.setText(
            "  ·  ".join(f"{name} ({task}) {'✓' if ok else 'missing'}" for name, task, ok in rows)
        )
        # Adding Whisper base by hand is only offered while it is missing.
        base_installed = any(name == BASE and ok for name, _task, ok in rows)
        self.add_base.setVisible(not base_installed)
        if base_installed and not self.install_note.text():
            self.install_note.setText("Whisper base (multilingual) is installed.")

    def set_dark(self, on: bool) -> None:
        """Reflect a theme change made elsewhere (menu or shortcut)."""
        self.dark.blockSignals(True)
        self.dark.setChecked(on)
        self.dark.blockSignals(False)

    def add_watched(self, folder: str) -> None:
        """Add a watched folder (also used by the Library view's button)."""
        folders = self.settings.watched_folders
        if folder and folder not in folders:
            folders.append(folder)
            self.settings.watched_folders = folders
            self.watched.addItem(folder)
            self.watched_changed.emit(folders)

    def _add_watched(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Watch a folder")
        if folder:
            self.add_watched(folder)

    def _remove_watched(self) -> None:
        row = self.watched.currentRow()
        if row < 0:
            return
        folders = self.settings.watched_folders
        folder = self.watched.takeItem(row).text()
        folders = [f for f in folders if f != folder]
        self.settings.watched_folders = folders
        self.watched_changed.emit(folders)

    def _choose_library(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Library folder", self.library_edit.text())
        if folder:
            self.settings.library_dir = Path(folder)
            self.library_edit.setText(folder)
            self.library_note.setText("MediaMind opens this library the next time it starts.")
            self.library_note.show()

    def _model_chosen(self, index: int) -> None:
        if self.model_combo.itemData(index) == CUSTOM:
            folder = QFileDialog.getExistingDirectory(self, "CTranslate2 Whisper model folder")
            if not folder:
                self.model_combo.setCurrentIndex(
                    max(0, self.model_combo.findData(self.settings.ingest.model))
                )
                return
            self.model_combo.insertItem(index, f"Folder: {folder}", folder)
            self.model_combo.setCurrentIndex(index)
        self._save_ingest()

    def _save_ingest(self, *_args: object) -> None:
        model = self.model_combo.currentData()
        if model == CUSTOM:
            return
        self.settings.ingest = replace(
            self.settings.ingest,
            model=str(model),
            threads=self.threads.value() or None,
            prefer_subtitles=self.prefer_subs.isChecked(),
        )
        self.settings.sync()

    # -- the multilingual model ---------------------------------------------------------------

    def _pick_multilingual(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Folder with a multilingual CTranslate2 Whisper model", self.multi_edit.text()
        )
        if folder:
            self.set_multilingual(folder)

    def _multilingual_edited(self) -> None:
        self.set_multilingual(self.multi_edit.text())

    def set_multilingual(self, folder: str) -> bool:
        """Use ``folder`` as the model for non-English speech ("" means Whisper base).

        A folder that is not a multilingual CTranslate2 Whisper model is refused with one
        line naming it and the fix; the previous choice stays.

        Returns:
            Whether the choice was saved.
        """
        folder = folder.strip()
        self.multi_edit.setText(folder)
        problem = check_whisper_folder(Path(folder)) if folder else None
        if problem:
            self.multi_error.setText(problem)
            self.multi_error.show()
            return False
        self.multi_error.hide()
        self.multi_error.setText("")
        self.settings.ingest = replace(self.settings.ingest, multilingual_model=folder or BASE)
        self.settings.sync()
        return True

    @property
    def ingest_settings(self) -> IngestSettings:
        """The transcription choices as saved."""
        return self.settings.ingest

    # -- models added by hand ---------------------------------------------------------------

    def _add_whisper_base(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder with the Whisper base model")
        if folder:
            self._install(Path(folder), "base")

    def _add_gguf(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Language model", "", "GGUF models (*.gguf);;All files (*)"
        )
        if path:
            self._install(Path(path), None)

    def _install(self, source: Path, model: str | None) -> None:
        note = self.install_note if model else self.llm_note
        self.add_base.setEnabled(False)
        self.llm_pick.setEnabled(False)
        note.setText(f"Checking and copying {source}…")

        def done(result: tuple[str, Path]) -> None:
            message, path = result
            self._install_finished(note, message)
            if model is None:
                self.settings.llm_path = path
                self.settings.sync()
                self._show_llm()
            elif model in WHISPER_MODELS:
                self.model_combo.setCurrentIndex(max(0, self.model_combo.findData(model)))
                self._save_ingest()
            self.pool.submit(
                lambda: (model_overview(), physical_cores()), on_result=self._show_models
            )

        def failed(msg: UserMessage) -> None:
            self._install_finished(note, msg.text())

        self.pool.submit(install_model, source, model, on_result=done, on_error=failed)

    def _install_finished(self, note: QLabel, message: str) -> None:
        self.add_base.setEnabled(True)
        self.llm_pick.setEnabled(True)
        note.setText(message)

    def _use_default_llm(self) -> None:
        self.settings.llm_path = None
        self.settings.sync()
        self._show_llm()

    def _show_llm(self) -> None:
        path = self.settings.llm_path
        self.llm_label.setText(
            str(path)
            if path
            else "SmolLM2-135M-Instruct (built in): small and quick, with short, simple answers"
        )
        self.llm_default.setEnabled(path is not None)
