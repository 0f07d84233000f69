"""Incremental prefill in the real editor: keystrokes warm the real engine, and the suggestion after the
pause finds the whole prompt cached."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QTextCursor
from qt_helpers import GHOST_TIMEOUT_MS, wait_for_ghost

TEXT = "She folded the letter carefully, put it back into the envelope and"


def _start_with(window, text: str) -> None:
    editor = window.editor
    editor.suspend_completion()
    editor.setPlainText(text)
    editor.moveCursor(QTextCursor.End)
    editor.resume_completion()


def test_keystrokes_warm_the_engine_so_the_request_reuses_the_whole_prompt(qtbot, window, engine1):
    window.completion.debounce_ms = 600_000  # no pause fires: the request is asked for below, once warm
    window.completion.speculate = False  # (the default) else the next suggestion's request is last_stats
    _start_with(window, TEXT[:-6])
    engine1.generator.invalidate()
    for ch in TEXT[-6:]:
        qtbot.keyClick(window.editor, ch)
    assert window.completion.warms_sent == 6
    qtbot.waitUntil(lambda: not window.client.busy, timeout=GHOST_TIMEOUT_MS)  # the last warm-up ran
    assert engine1.generator.cached_positions > 10
    qtbot.keyClick(window.editor, Qt.Key_Space, Qt.ControlModifier)  # suggest now
    wait_for_ghost(qtbot, window.editor)
    qtbot.waitUntil(lambda: not window.client.busy, timeout=GHOST_TIMEOUT_MS)
    stats = engine1.last_stats
    assert stats.reused_positions == stats.prompt_positions  # only decoding was left
    assert window.editor.toPlainText() == TEXT


def test_with_prefill_off_keystrokes_send_no_warm_up(qtbot, window, engine1):
    window.completion.prefill_while_typing = False
    window.completion.debounce_ms = 600_000
    _start_with(window, TEXT[:-6])
    for ch in TEXT[-6:]:
        qtbot.keyClick(window.editor, ch)
    assert window.completion.warms_sent == 0 and not window.client.busy


def test_taking_a_suggestion_shows_the_next_one_prepared_while_it_was_on_screen(qtbot, window, engine1):
    """Speculation on the real engine: the follow-up of a shown suggestion is asked for in the background,
    so after Tab the next ghost comes without a new request of the editor's own."""
    completion = window.completion
    assert not completion.speculate  # the default (settings.speculate_next): off, see docs/benchmarks.md
    completion.speculate = True
    completion.debounce_ms = 600_000
    _start_with(window, TEXT)
    qtbot.keyClick(window.editor, Qt.Key_Space, Qt.ControlModifier)  # suggest now
    wait_for_ghost(qtbot, window.editor)
    qtbot.waitUntil(lambda: completion.speculations_started == 1, timeout=GHOST_TIMEOUT_MS)
    qtbot.waitUntil(lambda: not window.client.busy, timeout=GHOST_TIMEOUT_MS)  # the guess finished too
    first, requests = window.editor.ghost_text, completion.requests_started
    qtbot.keyClick(window.editor, Qt.Key_Tab)
    assert window.editor.toPlainText() == TEXT + first
    qtbot.waitUntil(lambda: bool(window.editor.ghost_text.strip()), timeout=2000)  # no 10-minute pause
    assert completion.speculation_hits == 1 and completion.requests_started == requests
