"""Settings: persisted in config_dir()/settings.json, edited in the dialog, applied to the running editor."""

from __future__ import annotations

import json

from PySide6.QtWidgets import QDialog

from app.settings import Settings, load_settings, save_settings, settings_path
from app.settings_dialog import EMBEDDED, SettingsDialog


def test_settings_round_trip_through_the_config_dir(killah_home):
    settings = Settings(
        debounce_ms=300, autocomplete=False, min_p={"autocomplete": 0.3, "continue": 0.05, "rephrase": 0.2}
    )
    settings.add_recent("/tmp/a.txt")
    save_settings(settings)
    assert settings_path().parent == killah_home / "config"
    loaded = load_settings()
    assert loaded == settings


def test_a_damaged_settings_file_gives_defaults_and_is_kept_aside(killah_home):
    path = settings_path()
    path.write_text("{not json")
    assert load_settings() == Settings()
    assert path.with_name("settings.json.bad").read_text() == "{not json"


def test_a_wrong_value_type_falls_back_for_that_key_only(killah_home):
    settings_path().write_text(json.dumps({"debounce_ms": "fast", "persona": False, "unknown": 1}))
    loaded = load_settings()
    assert loaded.debounce_ms == 150 and loaded.persona is False


def test_the_dialog_edits_and_the_window_applies_and_persists(qtbot, make_window):
    window = make_window(None, load_model=False)
    dialog = SettingsDialog(window.settings, window, devices=["USB microphone"])
    qtbot.addWidget(dialog)
    assert dialog.model_combo.currentText() == EMBEDDED
    dialog.debounce.setValue(400)
    dialog.min_p["continue"].setValue(0.25)
    dialog.autocomplete.setChecked(False)
    dialog.persona.setChecked(False)
    dialog.microphone.setCurrentIndex(dialog.microphone.findData("USB microphone"))
    dialog.model_combo.setCurrentText("smollm2-135m")
    dialog.font_size.setValue(15)
    assert dialog.fast_programs.isChecked()  # ExecuTorch programs by default
    dialog.fast_programs.setChecked(False)
    assert dialog.prefill.isChecked()  # incremental prefill by default
    dialog.prefill.setChecked(False)
    dialog.confidence_gate.setChecked(not window.settings.confidence_gate)
    dialog.accept()
    assert dialog.result() == QDialog.Accepted
    window.apply_settings(dialog.result_settings)
    assert window.completion.debounce_ms == 400 and not window.completion.enabled
    assert window.completion.prefill_while_typing is False
    gate_on = window.settings.confidence_gate
    assert window.completion.min_logprob == (window.settings.min_logprob if gate_on else None)
    assert window.client.worker.min_p["continue"] == 0.25
    assert window.persona_label.text() == "Style: off"
    assert window.editor.font().pointSize() == 15
    saved = json.loads(settings_path().read_text())
    assert saved["debounce_ms"] == 400 and saved["microphone"] == "USB microphone"
    assert saved["model"] == "smollm2-135m" and saved["min_p"]["continue"] == 0.25
    assert saved["fast_programs"] is False
    assert saved["prefill_while_typing"] is False and saved["confidence_gate"] is gate_on


def test_the_backend_follows_the_setting_unless_the_environment_says_otherwise(monkeypatch):
    from app.engine_worker import choose_backend

    monkeypatch.delenv("KILLAH_BACKEND", raising=False)
    assert choose_backend("") == "auto" and choose_backend("eager") == "eager"
    monkeypatch.setenv("KILLAH_BACKEND", "eager")
    assert choose_backend("auto") == "eager"


def test_autocomplete_flag_and_menu_toggle(qtbot, make_window):
    window = make_window(None, load_model=False, autocomplete=False)
    assert not window.autocomplete_action.isChecked()
    window.autocomplete_action.setChecked(True)
    assert load_settings().autocomplete
