"""Small helpers shared by the editor tests."""

from __future__ import annotations

from app.script_hooks import type_keys

GHOST_TIMEOUT_MS = 90_000  # a loaded 2-core machine can take many seconds per suggestion


def wait_for_ghost(qtbot, editor, timeout=GHOST_TIMEOUT_MS):
    qtbot.waitUntil(lambda: bool(editor.ghost_text.strip()), timeout=timeout)
    return editor.ghost_text


def type_text(qtbot, editor, text):
    """Real key events. QTest.keyClicks aborts the process on newlines and non-ASCII characters."""
    editor.setFocus()
    if text.isascii() and text.isprintable():
        qtbot.keyClicks(editor, text)
    else:
        type_keys(editor, text)
