"""The editor's open path on hostile files: a clear message at once, no freeze, no lost text."""

from __future__ import annotations

import time

import pytest
from hostile_files import GOOD_TEXT, make_hostile_folder, memory_headroom

# A FIFO blocked the editor in open(): pytest-timeout interrupts it, so a regression fails, never hangs.
pytestmark = pytest.mark.timeout(60)

EXPECTED = {"fifo": "named pipe", "zero_link": "device", "socket": "socket"}


@pytest.fixture
def plain_window(make_window):
    return make_window(None, load_model=False)


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_a_special_file_gives_a_prompt_clear_error_and_keeps_the_buffer(plain_window, prompter, tmp_path, kind):
    path = make_hostile_folder(tmp_path / "folder")[kind]
    window = plain_window
    window.editor.setPlainText("my unsaved words")
    window.editor.document().setModified(True)
    prompter.choices.append("discard")  # "save first?" -> go on with the open
    start = time.monotonic()
    with memory_headroom(2.0):
        assert window.documents.open(path) is None
    assert time.monotonic() - start < 2.0
    errors = prompter.texts("error")
    assert len(errors) == 1 and path.name in errors[0] and EXPECTED[kind] in errors[0], errors
    assert window.editor.toPlainText() == "my unsaved words"
    assert window.documents.path is None


def test_a_name_that_is_not_utf8_opens_edits_autosaves_and_saves(plain_window, prompter, tmp_path):
    path = make_hostile_folder(tmp_path / "folder")["non_utf8"]
    window = plain_window
    assert window.documents.open(path) is not None, prompter.messages
    assert window.editor.toPlainText() == GOOD_TEXT
    assert "caf\ufffd.txt" in window.windowTitle()  # Qt drops a lone surrogate; U+FFFD shows there was a byte
    assert window.documents.path == path.absolute()
    window.editor.appendPlainText("One more line.")
    assert window.documents.autosave_now()  # the JSON holds the exact name (escaped), not an exception
    recovered = window.autosave.entry_path.read_text(encoding="utf-8")
    assert "One more line." in recovered and "\\udce9" in recovered
    assert window.documents.save()
    assert path.read_text() == window.editor.toPlainText() and path.read_text().endswith("One more line.")
    assert str(path.absolute()) == window.settings.recent_files[0]
    assert not [m for m in prompter.messages if m[0] == "error"]
