"""Recording the writer's choices in the real editor with the real model; "Learn from my choices"."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import Qt
from qt_helpers import GHOST_TIMEOUT_MS, type_text, wait_for_ghost

from app.choices import IDLE_LEARN_NEW_PAIRS, LearnProcess
from engine.adapters import PERSONAL
from engine.manifest import register_artifact
from engine.preferences import WORSE_UPDATE, PreferenceLog

SENTENCE = "It was a bright cold day in April, and the clocks were"


def complete_ghost(qtbot, window) -> str:
    wait_for_ghost(qtbot, window.editor)
    qtbot.waitUntil(lambda: not window.client.busy, timeout=GHOST_TIMEOUT_MS)
    return window.editor.ghost_text


def records() -> list[dict]:
    return PreferenceLog().records()


def test_nothing_is_recorded_until_the_writer_turns_recording_on(qtbot, window):
    assert not window.choices.record_action.isChecked() and not window.settings.record_choices
    type_text(qtbot, window.editor, SENTENCE)
    complete_ghost(qtbot, window)
    qtbot.keyClick(window.editor, Qt.Key_Tab)
    window.choices.recorder.flush()
    assert records() == []


def test_a_taken_suggestion_and_a_replaced_one_are_recorded(qtbot, window):
    window.choices.record_action.setChecked(True)
    assert window.settings.record_choices
    editor = window.editor
    type_text(qtbot, editor, SENTENCE)
    ghost = complete_ghost(qtbot, window)
    qtbot.keyClick(editor, Qt.Key_Tab)
    taken = records()
    assert taken[-1]["kind"] == "ghost" and taken[-1]["accepted"] is True
    assert taken[-1]["context"] == SENTENCE and taken[-1]["suggestion"] == ghost

    window.completion.dismiss()
    type_text(qtbot, editor, " She said")
    before = editor.toPlainText()
    ghost = complete_ghost(qtbot, window)
    other = " xylophone" if not ghost.startswith(" x") else " quagmire"
    type_text(qtbot, editor, other)  # the writer's own words instead of the suggestion
    window.choices.recorder.flush()
    dropped = [r for r in records() if not r["accepted"]]
    assert dropped and dropped[-1]["context"] == before and dropped[-1]["suggestion"] == ghost
    typed = dropped[-1]["typed"]
    assert typed.strip() and other.startswith(typed)  # what they wrote in its place (up to its length)
    pairs = PreferenceLog().pairs(minimum=0)
    assert pairs[-1].rejected == ghost and pairs[-1].chosen == dropped[-1]["typed"]
    assert "Choices: " in window.choices.summary.text()


def test_a_suggestion_reworked_right_after_taking_it_is_an_edit(qtbot, window):
    window.choices.record_action.setChecked(True)
    editor = window.editor
    type_text(qtbot, editor, SENTENCE)
    ghost = complete_ghost(qtbot, window)
    qtbot.keyClick(editor, Qt.Key_Tab)
    window.completion.set_enabled(False)  # no new ghost while the writer reworks it
    for _ in range(len(ghost.rstrip(".")) // 2 or 1):
        qtbot.keyClick(editor, Qt.Key_Backspace)
    type_text(qtbot, editor, " zebras")
    window.choices.recorder.flush()
    edit = [r for r in records() if r["kind"] == "edit"]
    assert edit and edit[-1]["accepted"] == ghost and edit[-1]["edited"].endswith(" zebras")
    assert edit[-1]["context"] == SENTENCE


def test_learning_with_too_few_choices_says_so_and_starts_nothing(qtbot, window, prompter):
    window.choices.learn_action.trigger()
    assert prompter.messages[-1][0] == "info"
    assert "Not enough choices yet to learn from (0 of 16 needed)" in prompter.messages[-1][2]
    assert not window.choices.learner.running and not window.choices.bar.isVisible()


def test_a_personal_adapter_for_another_base_is_refused_by_the_running_engine(qtbot, window, killah_home):
    from engine.adapters import user_artifacts_root

    root = user_artifacts_root()
    folder = root / "adapters" / PERSONAL
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    register_artifact(PERSONAL, "lora_adapter", [folder], "smollm2-135m", "cd" * 32, root=root)
    with qtbot.waitSignal(window.choices.requests.done, timeout=60_000) as got:
        window.choices.requests.request("reload")
    assert "personal rejected: The artifact 'personal' was trained for the base model smollm2-135m" in got.args[0]
    with qtbot.waitSignal(window.choices.requests.done, timeout=60_000) as got:
        window.choices.requests.request("delete")
    assert PERSONAL not in got.args[0] and not folder.exists()


def test_learning_when_idle_starts_only_when_asked_after_quiet_with_enough_new_choices(qtbot, window):
    ui, settings = window.choices, window.settings
    window.completion.set_enabled(False)  # no ghost to replace: the typing below records no choice of its own
    ui.record_action.setChecked(True)
    for i in range(IDLE_LEARN_NEW_PAIRS):
        ui.log.record_ghost(f"A letter, number {i}, began", " with a", accepted=False, typed=" by the")
    ui.idle.setInterval(200)  # the quiet period, shortened for the test (10 minutes in the app)
    assert not ui.idle_action.isChecked() and not settings.learn_when_idle
    type_text(qtbot, window.editor, "x")
    qtbot.wait(600)
    assert not ui.learner.running  # not asked for

    ui.idle_action.setChecked(True)
    assert settings.learn_when_idle
    settings.learned_pairs = 1  # one of them was learned from already: 49 new, not enough
    assert not ui.learn_when_idle() and not ui.learner.running

    settings.learned_pairs = 0
    type_text(qtbot, window.editor, "y")  # typing restarts the quiet period; its end starts the update
    assert ui.idle.isActive() and not ui.learner.running
    qtbot.waitUntil(lambda: ui.learner.running, timeout=5000)
    assert ui.bar.isVisible() and not ui.learn_action.isEnabled()
    with qtbot.waitSignal(ui.learner.finished, timeout=10_000):
        ui.learner.cancel()
    assert settings.learned_pairs == 0  # stopped, not learned: the same choices count next time

    # The recipe's held-out check refused the update: those choices were judged, not tried again.
    ui._learning_pairs = IDLE_LEARN_NEW_PAIRS
    ui.learner.finished.emit(False, f"{WORSE_UPDATE}: on your 10 most recent suggestions ...")
    assert len(ui.log.pairs(minimum=0)) == IDLE_LEARN_NEW_PAIRS  # exactly the ones recorded above
    assert settings.learned_pairs == IDLE_LEARN_NEW_PAIRS and ui.new_pairs() == 0
    assert not ui.learn_when_idle()


@pytest.mark.slow
def test_learn_process_reports_progress_and_the_result(qtbot, tmp_path):
    """The recipe as a real background process on a tiny model (tests/training/test_personal_dpo.py's)."""
    import torch

    from engine.models import load_model
    from tests.export.tiny_models import save_tiny_llama, save_word_tokenizer

    tiny = tmp_path / "tiny"
    save_tiny_llama(tiny)
    save_word_tokenizer(tiny)
    loaded = load_model(tiny)
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(1)
    shipped = tmp_path / "shipped"
    get_peft_model(loaded.model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear")).save_pretrained(
        str(shipped / "adapters" / "task_autocomplete"))
    register_artifact("task_autocomplete", "lora_adapter", [shipped / "adapters" / "task_autocomplete"],
                      loaded.info.name, loaded.info.source_sha256, root=shipped)
    log = PreferenceLog(tmp_path / "prefs.jsonl", recording=True)
    for i in range(1, 10):
        log.record_ghost(f"w{i} w{i + 1}", " w90", accepted=False, typed=" w40")
    learner = LearnProcess()
    steps = []
    learner.progress.connect(lambda step, of: steps.append((step, of)))
    overrides = [f"lora.shipped_root={shipped}", f"output.manifest_root={tmp_path / 'user'}", "data.min_pairs=8",
                 "train.batch_size=4", "lora.r=4", "lora.alpha=8"]
    with qtbot.waitSignal(learner.finished, timeout=1_800_000) as done:  # minutes under load: torch + TRL import
        learner.start(str(tiny), log.path, overrides)
    assert done.args[0] is True, done.args[1]
    assert done.args[1].startswith("Learned from 9 of your choices")
    assert steps and steps[-1] == (3, 3)
    manifest = json.loads((tmp_path / "user" / "manifest.json").read_text())
    assert manifest["artifacts"][PERSONAL]["base_sha256"] == loaded.info.source_sha256
