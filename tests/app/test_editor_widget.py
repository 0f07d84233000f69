"""The text widget alone: the ghost is painted after the cursor, never stored, on light and dark palettes."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette, QTextCursor

from app.editor import GhostTextEdit


def ink_right_of_cursor(editor: GhostTextEdit) -> int:
    """Pixels that differ from the background to the right of the cursor on its line."""
    image = editor.viewport().grab().toImage()
    rect = editor.cursorRect()
    background = QColor(editor.palette().color(QPalette.Base)).rgb()
    return sum(
        1
        for x in range(rect.right() + 2, min(image.width(), rect.right() + 200))
        for y in range(rect.top(), rect.bottom())
        if image.pixel(x, y) != background
    )


def make_editor(qtbot, palette: QPalette | None = None) -> GhostTextEdit:
    editor = GhostTextEdit()
    if palette is not None:
        editor.setPalette(palette)
    qtbot.addWidget(editor)
    editor.resize(500, 200)
    editor.show()
    qtbot.waitExposed(editor)
    editor.setPlainText("Hello")
    editor.moveCursor(QTextCursor.End)
    return editor


def test_ghost_is_painted_after_the_cursor_and_not_stored(qtbot):
    editor = make_editor(qtbot)
    assert ink_right_of_cursor(editor) == 0
    undo = editor.document().availableUndoSteps()
    editor.set_ghost(" world, said the editor.")
    assert ink_right_of_cursor(editor) > 50
    assert editor.toPlainText() == "Hello" and editor.document().availableUndoSteps() == undo
    assert not editor.document().isModified()
    editor.set_ghost("")
    assert ink_right_of_cursor(editor) == 0


def test_ghost_reads_on_a_dark_palette(qtbot):
    dark = QPalette()
    dark.setColor(QPalette.Base, QColor(30, 30, 30))
    dark.setColor(QPalette.Text, QColor(230, 230, 230))
    editor = make_editor(qtbot, dark)
    color = editor.ghost_color()
    assert color.lightness() > 150 and color.alphaF() < 0.6  # light, dimmed text on a dark page
    editor.set_ghost(" in the dark")
    assert ink_right_of_cursor(editor) > 50
