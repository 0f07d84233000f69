"""Fixtures for the editor tests: a main window on the session's real engine, with scripted dialogs."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Real document builders (PDF with a text layer, encrypted PDF, RTF, docx) live with the engine's tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "engine"))

from app.prompter import ScriptedPrompter


@pytest.fixture
def prompter() -> ScriptedPrompter:
    return ScriptedPrompter()


@pytest.fixture
def make_window(qtbot, prompter):
    """make_window(engine=None, **kwargs) -> a shown MainWindow; threads stopped at teardown."""
    from app.main_window import MainWindow

    windows = []

    def make(engine=None, **kwargs):
        kwargs.setdefault("style_memory", False)
        kwargs.setdefault("load_model", False)
        window = MainWindow(engine=engine, prompter=kwargs.pop("prompter", prompter), **kwargs)
        qtbot.addWidget(window)
        window.show()
        qtbot.waitExposed(window)
        window.editor.setFocus()
        windows.append(window)
        return window

    yield make
    for window in windows:
        window.shutdown()
        window.editor.document().setModified(False)
        window.close()


@pytest.fixture
def window(make_window, engine1):
    """The editor on the real engine, autocomplete on with the default debounce."""
    return make_window(engine1)



@pytest.fixture
def engine1(engine):
    """The session's engine with torch on one thread for this test (restored after).

    The model on one core, the UI on the other: on this shared 2-core machine two torch threads made
    generation several times slower and starved the UI thread (measured with the tests in this folder).
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield engine
    torch.set_num_threads(before)
