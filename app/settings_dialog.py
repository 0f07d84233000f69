"""Settings dialog: edits a copy of ``Settings``; the caller saves and applies it on Accept."""

from __future__ import annotations

import copy
import logging

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from app.settings import Settings
from engine.audio.recognizer import DEFAULT_RECOGNIZER, RECOGNIZERS

log = logging.getLogger("killah.app")

EMBEDDED = "Embedded default (Gemma 3 270M)"


def input_devices() -> list[str]:
    """Names of the microphones PortAudio sees ([] when it is missing or finds none)."""
    try:
        import sounddevice

        return [d["name"] for d in sounddevice.query_devices() if d.get("max_input_channels", 0) > 0]
    except Exception as exc:  # noqa: BLE001 - OSError without PortAudio, PortAudioError without devices
        log.info("no microphone list: %s", exc)
        return []


class SettingsDialog(QDialog):
    def __init__(
        self, settings: Settings, parent: QWidget | None = None, devices: list[str] | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.result_settings = copy.deepcopy(settings)
        form = QFormLayout(self)

        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.addItems([EMBEDDED, "smollm2-135m"])
        self.model_combo.setCurrentText(settings.model or EMBEDDED)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse_model)
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(browse)
        holder = QWidget()
        holder.setLayout(row)
        form.addRow("Model (applies after restart):", holder)
        self.fast_programs = QCheckBox(
            "Build and use a faster INT8 program for each mode (in the background)"
        )
        self.fast_programs.setToolTip(
            "The first use of a mode builds its program once (minutes, ~0.5 GB on disk in the cache); "
            "suggestions keep coming from the slower reference engine meanwhile. Applies after restart."
        )
        self.fast_programs.setChecked(settings.fast_programs)
        form.addRow(self.fast_programs)

        self.autocomplete = QCheckBox("Suggest as I type (ghost text)")
        self.autocomplete.setChecked(settings.autocomplete)
        form.addRow(self.autocomplete)
        self.mid_line = QCheckBox("Also suggest with text to the right of the cursor")
        self.mid_line.setChecked(settings.ghost_mid_line)
        form.addRow(self.mid_line)
        self.debounce = QSpinBox()
        self.debounce.setRange(0, 5000)
        self.debounce.setSuffix(" ms")
        self.debounce.setValue(settings.debounce_ms)
        form.addRow("Pause before a suggestion:", self.debounce)
        self.prefill = QCheckBox("Read the text while I type, so suggestions come sooner")
        self.prefill.setChecked(settings.prefill_while_typing)
        form.addRow(self.prefill)
        self.speculate = QCheckBox("Prepare the next suggestion while I read this one")
        self.speculate.setChecked(settings.speculate_next)
        form.addRow(self.speculate)
        self.confidence_gate = QCheckBox("Show only suggestions the model is confident about")
        self.confidence_gate.setToolTip(
            f"Hides a suggestion whose mean log-probability per token is below {settings.min_logprob:g}: "
            "fewer suggestions, more of them right."
        )
        self.confidence_gate.setChecked(settings.confidence_gate)
        form.addRow(self.confidence_gate)

        self.min_p: dict[str, QDoubleSpinBox] = {}
        for mode in ("autocomplete", "continue", "rephrase"):
            spin = QDoubleSpinBox()
            spin.setRange(0.0, 1.0)
            spin.setSingleStep(0.05)
            spin.setDecimals(2)
            spin.setValue(settings.min_p.get(mode, 0.1))
            self.min_p[mode] = spin
            form.addRow(f"min-p, {mode}:", spin)

        self.persona = QCheckBox("Write in my style (style memory)")
        self.persona.setChecked(settings.persona)
        form.addRow(self.persona)

        self.microphone = QComboBox()
        self.microphone.addItem("System default", "")
        for name in devices if devices is not None else input_devices():
            self.microphone.addItem(name, name)
        index = self.microphone.findData(settings.microphone)
        if index < 0 and settings.microphone:
            self.microphone.addItem(f"{settings.microphone} (not connected)", settings.microphone)
            index = self.microphone.count() - 1
        self.microphone.setCurrentIndex(max(0, index))
        form.addRow("Microphone:", self.microphone)
        self.recognizer = QComboBox()
        self.recognizer.addItem(f"Default ({RECOGNIZERS[DEFAULT_RECOGNIZER]})", "")
        for key, label in RECOGNIZERS.items():
            self.recognizer.addItem(label, key)
        self.recognizer.setToolTip(
            "Which speech recognizer writes dictation down (docs/benchmarks.md compares them)."
        )
        self.recognizer.setCurrentIndex(max(0, self.recognizer.findData(settings.recognizer)))
        form.addRow("Speech recognizer:", self.recognizer)
        self.vocabulary = QLineEdit(", ".join(settings.dictation_vocabulary))
        self.vocabulary.setPlaceholderText("Names and rare words, separated by commas")
        self.vocabulary.setToolTip(
            "Dictation favours these words, and those of the documents in your style memory."
        )
        form.addRow("Words to recognize:", self.vocabulary)
        self.tidy = QCheckBox("Tidy dictation (drop “um”, stutters; “comma” becomes a comma)")
        self.tidy.setChecked(settings.tidy_dictation)
        form.addRow(self.tidy)
        self.tidy_model = QCheckBox("…and then let the language model tidy it (slower)")
        self.tidy_model.setChecked(settings.tidy_dictation_model)
        self.tidy_model.setEnabled(settings.tidy_dictation)
        self.tidy.toggled.connect(self.tidy_model.setEnabled)
        form.addRow(self.tidy_model)

        self.autosave = QSpinBox()
        self.autosave.setRange(1, 600)
        self.autosave.setSuffix(" s")
        self.autosave.setValue(settings.autosave_seconds)
        form.addRow("Autosave unsaved text every:", self.autosave)

        self.font_size = QSpinBox()
        self.font_size.setRange(6, 72)
        self.font_size.setValue(settings.font_size)
        form.addRow("Font size:", self.font_size)

        buttons = QDialogButtonBox(QDialogButtonBox.Ok | QDialogButtonBox.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _browse_model(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Model folder")
        if folder:
            self.model_combo.setCurrentText(folder)

    def accept(self) -> None:
        s = self.result_settings
        model = self.model_combo.currentText().strip()
        s.model = "" if model in ("", EMBEDDED) else model
        s.fast_programs = self.fast_programs.isChecked()
        s.autocomplete = self.autocomplete.isChecked()
        s.ghost_mid_line = self.mid_line.isChecked()
        s.debounce_ms = self.debounce.value()
        s.prefill_while_typing = self.prefill.isChecked()
        s.speculate_next = self.speculate.isChecked()
        s.confidence_gate = self.confidence_gate.isChecked()
        s.min_p = {mode: round(spin.value(), 3) for mode, spin in self.min_p.items()}
        s.persona = self.persona.isChecked()
        s.microphone = self.microphone.currentData() or ""
        s.recognizer = self.recognizer.currentData() or ""
        s.dictation_vocabulary = [w.strip() for w in self.vocabulary.text().split(",") if w.strip()]
        s.tidy_dictation = self.tidy.isChecked()
        s.tidy_dictation_model = self.tidy_model.isChecked()
        s.autosave_seconds = self.autosave.value()
        s.font_size = self.font_size.value()
        super().accept()
