"""The window appears at once; the model loads on the engine thread with progress in the status bar."""

from __future__ import annotations

import time

from app.main import parse_args


def test_window_appears_before_the_model_and_loads_it_in_the_background(qtbot, make_window):
    started = time.perf_counter()
    window = make_window(None, load_model=True, model="gemma3-270m")
    shown_after = time.perf_counter() - started
    assert shown_after < 3.0, f"the window took {shown_after:.1f} s to appear"
    assert window.model_label.text().startswith("Model: ")
    assert not window.completion.enabled  # no suggestions until the model is there
    stages: list[tuple[str, float]] = []
    window.client.loadProgress.connect(lambda stage, fraction: stages.append((stage, fraction)))
    typed = "Typing works while the model loads, and the"
    qtbot.keyClicks(window.editor, typed)  # the UI is not blocked
    assert window.editor.toPlainText() == typed
    qtbot.waitUntil(lambda: window.client.ready, timeout=180_000)
    assert window.model_label.text() == "Model: gemma3-270m"
    assert not window.load_progress.isVisible()
    assert window.completion.enabled
    assert stages and stages[-1][1] == 1.0
    # What was typed while the model loaded gets its suggestion once the model is there.
    qtbot.waitUntil(lambda: window.completion.requests_started > 0, timeout=5_000)
    qtbot.waitUntil(lambda: bool(window.editor.ghost_text.strip()), timeout=90_000)


def test_command_line_options():
    args = parse_args(["story.md", "--model", "smollm2-135m", "--no-autocomplete"])
    assert (args.file, args.model, args.no_autocomplete, args.no_model) == ("story.md", "smollm2-135m", True, False)
    assert parse_args([]).file is None


def test_a_missing_model_says_so_and_the_editor_keeps_working(qtbot, make_window, prompter, tmp_path):
    window = make_window(None, load_model=True, model=str(tmp_path / "no-such-model"))
    qtbot.waitUntil(lambda: bool(window.client.load_error), timeout=120_000)
    assert window.model_label.text() == "Model: unavailable"
    errors = prompter.texts("error")
    assert len(errors) == 1 and "keep writing" in errors[0]
    qtbot.keyClicks(window.editor, "Still here.")
    window.editor.selectAll()
    window.continue_action.trigger()
    assert "could not be loaded" in prompter.texts("info")[-1]
    assert window.editor.toPlainText() == "Still here."


def test_python_m_app_opens_the_file_named_on_the_command_line(tmp_path, killah_home):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    story = tmp_path / "story.md"
    story.write_text("# Chapter 1\n\nIt begins here.\n", encoding="utf-8")
    dump = tmp_path / "state.json"
    env = {**os.environ, "KILLAH_HOME": str(killah_home), "QT_QPA_PLATFORM": "offscreen",
           "KILLAH_TEST_ANSWER": "no", "KILLAH_TEST_DUMP": str(dump), "KILLAH_TEST_QUIT": "1"}
    env.pop("KILLAH_TEST_TYPE", None)
    result = subprocess.run([sys.executable, "-m", "app", "--no-model", str(story)], env=env, timeout=120,
                            cwd=Path(__file__).resolve().parents[2], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    state = json.loads(dump.read_text())
    assert state == {"text": "# Chapter 1\n\nIt begins here.\n", "title": "story.md", "modified": False}
