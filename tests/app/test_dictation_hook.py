"""The main window's dictation hook with the voice engineer's real controller (no microphone needed)."""

from __future__ import annotations


def test_attach_dictation_puts_its_actions_in_tools_and_its_state_in_the_status_bar(qtbot, make_window):
    from app.dictation_controller import DictationController

    window = make_window(None, load_model=False)
    controller = DictationController(window.editor, parent=window, probe=False)
    window.attach_dictation(controller)
    tools = [a.text() for a in window.dictation_menu.actions()]
    assert "Dictation" in tools and "Push to talk" in tools
    controller.state_changed.emit("listening")
    assert window.mic_label.text() == "Mic: listening"
    window.insert_dictated_text("Spoken words.")
    assert window.editor.toPlainText() == "Spoken words."
    window.editor.undo()
    assert window.editor.toPlainText() == ""


def test_the_tidy_dictation_setting_reaches_the_controller(qtbot, make_window):
    from app.dictation_controller import DictationController
    from app.settings_dialog import SettingsDialog

    window = make_window(None, load_model=False)
    controller = DictationController(window.editor, parent=window, probe=False)
    window.attach_dictation(controller)
    assert window.settings.tidy_mode == "model" and controller.tidier.mode == "model"  # the default
    assert controller.tidier.client is window.client  # the model path runs on the window's engine worker
    dialog = SettingsDialog(window.settings, window, devices=[])
    qtbot.addWidget(dialog)
    dialog.tidy_model.setChecked(False)
    dialog.accept()
    window.apply_settings(dialog.result_settings)
    assert controller.tidier.mode == "rules"
    dialog = SettingsDialog(window.settings, window, devices=[])
    qtbot.addWidget(dialog)
    dialog.tidy.setChecked(False)
    assert not dialog.tidy_model.isEnabled()
    dialog.accept()
    window.apply_settings(dialog.result_settings)
    assert controller.tidier.mode == "off"
