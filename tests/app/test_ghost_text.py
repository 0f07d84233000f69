"""Ghost-text autocomplete in the real editor with the real engine and model."""

from __future__ import annotations

import re
import threading

from PySide6.QtCore import Qt
from qt_helpers import GHOST_TIMEOUT_MS, type_text, wait_for_ghost

SENTENCE = "It was a bright cold day in April, and the clocks were"


def wait_for_complete_suggestion(qtbot, window) -> str:
    """The ghost once its request has finished streaming."""
    wait_for_ghost(qtbot, window.editor)
    qtbot.waitUntil(lambda: not window.client.busy, timeout=GHOST_TIMEOUT_MS)
    assert window.editor.ghost_text.strip()
    return window.editor.ghost_text


def test_pause_shows_ghost_and_tab_inserts_it(qtbot, window):
    editor = window.editor
    type_text(qtbot, editor, SENTENCE)
    ghost = wait_for_complete_suggestion(qtbot, window)
    # Painted only: neither the document nor its undo stack holds the ghost.
    assert editor.toPlainText() == SENTENCE
    qtbot.keyClick(editor, Qt.Key_Tab)
    assert editor.toPlainText() == SENTENCE + ghost
    assert "\t" not in editor.toPlainText()
    assert editor.textCursor().position() == len(SENTENCE + ghost)
    window.completion.dismiss()  # a next suggestion may already be on its way
    editor.undo()  # one step takes the accepted suggestion back, and only it
    assert editor.toPlainText() == SENTENCE


def test_matching_keys_keep_the_rest_and_ctrl_right_takes_one_word(qtbot, window):
    editor = window.editor
    type_text(qtbot, editor, "She opened the door and")
    ghost = wait_for_complete_suggestion(qtbot, window)
    requests = window.completion.requests_started
    qtbot.keyClick(editor, ghost[0])  # the suggestion's next character
    assert editor.ghost_text == ghost[1:]
    rest = ghost[1:]
    if not rest.strip():
        return  # a one-character suggestion: nothing left to take word by word
    word = re.match(r"\s*\S+", rest).group(0)
    before = editor.toPlainText()
    qtbot.keyClick(editor, Qt.Key_Right, Qt.ControlModifier)
    assert editor.toPlainText() == before + word
    assert editor.ghost_text == rest[len(word):] or not rest[len(word):].strip()
    assert window.completion.requests_started == requests  # no new request while the suggestion fits


def test_a_mismatching_character_removes_the_ghost(qtbot, window):
    editor = window.editor
    type_text(qtbot, editor, SENTENCE)
    ghost = wait_for_complete_suggestion(qtbot, window)
    other = "#" if ghost[0] != "#" else "%"
    qtbot.keyClick(editor, other)
    assert editor.ghost_text == ""
    assert editor.toPlainText() == SENTENCE + other


def test_escape_dismisses_the_ghost(qtbot, window):
    editor = window.editor
    type_text(qtbot, editor, "The quick bro")
    wait_for_ghost(qtbot, editor)
    qtbot.keyClick(editor, Qt.Key_Escape)
    assert editor.ghost_text == ""
    assert editor.toPlainText() == "The quick bro"


class SlowFirstAnswer:
    """The real engine, except that its first autocomplete ignores cancel and answers late."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.first_started = threading.Event()
        self.release = threading.Event()
        self.stale_pieces: list[str] = []

    def __getattr__(self, name):
        return getattr(self.engine, name)

    def complete(self, text, cancel=None, **kwargs):
        if not self.first_started.is_set():
            self.first_started.set()
            self.stale_pieces = list(self.engine.complete(text, **kwargs))  # runs to the end, uncancelled
            self.release.wait(120)
            yield from self.stale_pieces
            return
        yield from self.engine.complete(text, cancel=cancel, **kwargs)


def test_a_slow_answer_for_an_old_prefix_is_never_shown(qtbot, make_window, engine1):
    slow = SlowFirstAnswer(engine1)
    window = make_window(slow)
    editor = window.editor
    shown: list[tuple[str, str]] = []
    editor.ghostShown.connect(lambda ghost: shown.append((editor.toPlainText(), ghost)))
    old_prefix = "The cat sat on the"
    type_text(qtbot, editor, old_prefix)
    qtbot.waitUntil(slow.first_started.is_set, timeout=10_000)
    new_prefix = old_prefix + " mat. Then the dog"
    type_text(qtbot, editor, new_prefix[len(old_prefix):])
    slow.release.set()  # the stale answer arrives only now, after the newer keystrokes
    qtbot.waitUntil(lambda: bool(slow.stale_pieces), timeout=GHOST_TIMEOUT_MS)
    wait_for_ghost(qtbot, editor)
    stale = "".join(slow.stale_pieces)
    assert stale.strip()
    for text, ghost in shown:
        if ghost:
            assert text == new_prefix, f"ghost {ghost!r} shown for {text!r}"
    assert not any(text == old_prefix and ghost for text, ghost in shown)
    assert editor.toPlainText() == new_prefix
