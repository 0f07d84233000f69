"""Continue and Rephrase through the real menus, with the real engine and model."""

from __future__ import annotations

import time

import pytest
from PySide6.QtCore import QPoint, Qt, QTimer
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtWidgets import QApplication
from qt_helpers import GHOST_TIMEOUT_MS

from engine.modes import Mode

OPENING = "It was a bright cold day in April, and the clocks were striking thirteen."


@pytest.fixture
def short_continue(engine):
    """Shorter continuations keep the suite quick; the code path is the same."""
    saved = engine.mode_params[Mode.CONTINUE]
    engine.mode_params[Mode.CONTINUE] = saved.with_overrides(max_new_tokens=24)
    yield
    engine.mode_params[Mode.CONTINUE] = saved


def open_context_menu(qtbot, editor):
    """A real right-click: a context-menu event posted to the viewport, as the window system sends it."""
    viewport = editor.viewport()
    pos = QPoint(20, 10)
    QApplication.postEvent(viewport, QContextMenuEvent(QContextMenuEvent.Mouse, pos, viewport.mapToGlobal(pos)))
    qtbot.waitUntil(lambda: QApplication.activePopupWidget() is not None, timeout=5000)
    return QApplication.activePopupWidget()


def menu_action(menu, text):
    for action in menu.actions():
        if action.text() == text:
            return action
    raise AssertionError(f"no {text!r} in {[a.text() for a in menu.actions()]}")


def test_continue_from_the_context_menu_inserts_text_as_one_undo_step(qtbot, window, short_continue):
    editor = window.editor
    editor.setPlainText(OPENING)
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    menu = open_context_menu(qtbot, editor)
    assert "Copy" in " ".join(a.text() for a in menu.actions())  # the standard entries are there too
    menu_action(menu, "Continue writing").trigger()
    menu.close()
    assert window.assist.busy
    qtbot.waitUntil(lambda: not window.assist.busy, timeout=GHOST_TIMEOUT_MS)
    text = editor.toPlainText()
    assert text.startswith(OPENING) and len(text.strip()) > len(OPENING)
    assert not editor.isReadOnly()
    editor.undo()  # one step removes the whole continuation
    assert editor.toPlainText() == OPENING


def test_escape_stops_continue_and_keeps_the_partial_text_as_one_step(qtbot, window, engine):
    saved = engine.mode_params[Mode.CONTINUE]
    engine.mode_params[Mode.CONTINUE] = saved.with_overrides(max_new_tokens=200)
    try:
        editor = window.editor
        editor.setPlainText(OPENING)
        editor.moveCursor(editor.textCursor().MoveOperation.End)
        qtbot.keyClick(editor, Qt.Key_Return, Qt.ControlModifier)  # the Continue shortcut
        assert window.assist.busy
        qtbot.waitUntil(lambda: len(editor.toPlainText()) > len(OPENING) + 10, timeout=GHOST_TIMEOUT_MS)
        qtbot.keyClick(editor, Qt.Key_Escape)
        assert not window.assist.busy and not editor.isReadOnly()
        partial = editor.toPlainText()
        qtbot.wait(500)  # late pieces of the stopped request must not land
        assert editor.toPlainText() == partial
        editor.undo()
        assert editor.toPlainText() == OPENING
    finally:
        engine.mode_params[Mode.CONTINUE] = saved


def test_rephrase_replaces_the_selection_after_the_preview(qtbot, window):
    editor = window.editor
    first = "The weather was very bad so we stayed at home all day."
    editor.setPlainText(f"{first}\nTomorrow we go out.")
    cursor = editor.textCursor()
    cursor.setPosition(0)
    cursor.setPosition(len(first), cursor.MoveMode.KeepAnchor)
    editor.setTextCursor(cursor)
    window.rephrase_action.trigger()  # the Edit menu entry (Ctrl+Shift+R)
    dialog = window.assist.rephrase_dialog
    assert dialog is not None and dialog.isVisible()
    qtbot.waitUntil(lambda: dialog.finished_streaming, timeout=GHOST_TIMEOUT_MS * 6)  # best-of-3 takes
    rewrite = dialog.rewrite_text()
    assert rewrite and rewrite != first
    dialog.accept_button.click()
    assert editor.toPlainText() == f"{rewrite}\nTomorrow we go out."
    editor.undo()
    assert editor.toPlainText() == f"{first}\nTomorrow we go out."


def test_rejecting_the_rephrase_preview_keeps_the_text(qtbot, window):
    editor = window.editor
    editor.setPlainText("She did not answer the letter for a long time.")
    editor.selectAll()
    window.rephrase_action.trigger()
    dialog = window.assist.rephrase_dialog
    dialog.reject_button.click()
    assert not window.assist.busy
    qtbot.wait(300)
    assert editor.toPlainText() == "She did not answer the letter for a long time."


def test_closed_rephrase_dialogs_do_not_pile_up(qtbot, window):
    from app.assist import RephraseDialog

    editor = window.editor
    editor.setPlainText("She did not answer the letter for a long time.")
    for _ in range(3):
        editor.selectAll()
        window.rephrase_action.trigger()
        window.assist.rephrase_dialog.reject_button.click()
        qtbot.wait(50)  # deleteLater runs in the event loop
    assert len(window.findChildren(RephraseDialog)) == 1  # the last one, kept for inspection


def test_ui_stays_responsive_while_the_engine_generates(qtbot, window, short_continue):
    """The event loop keeps ticking while the engine streams a Continue.

    Generating on the UI thread would show as one stall as long as the whole
    generation. A busy CI machine can delay any single tick by a few hundred
    ms, so the test bounds the typical gap and calls only a full second a freeze.
    """
    editor = window.editor
    editor.setPlainText(OPENING)
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    qtbot.wait(100)
    window.continue_action.trigger()
    started = time.perf_counter()
    qtbot.waitUntil(lambda: not window.assist.busy, timeout=GHOST_TIMEOUT_MS)
    finished = time.perf_counter()
    timer.stop()
    during = [t for t in ticks if started <= t <= finished]
    gaps = sorted(b - a for a, b in zip(during, during[1:], strict=False))
    assert len(during) > 20, "the engine finished too fast to measure anything"
    typical, longest = gaps[int(0.9 * (len(gaps) - 1))], gaps[-1]
    print(f"event-loop: {len(during)} ticks over {finished - started:.1f} s of generation, p90 gap "
          f"{typical * 1000:.1f} ms, longest {longest * 1000:.1f} ms")
    assert typical < 0.050
    assert longest < 1.0, "the UI froze for a second: generation ran on the UI thread?"
