"""The text widget: a QPlainTextEdit that paints a ghost suggestion after the cursor.

The ghost is only painted (``paintEvent``): it never enters the document or
its undo stack. The widget knows nothing about the model: it reports edits
and cursor moves to a ``CompletionController`` and asks it what to insert on
Tab / Ctrl+Right.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRect, Qt, QTimer, Signal
from PySide6.QtGui import (
    QAction,
    QColor,
    QFontMetrics,
    QKeyEvent,
    QKeySequence,
    QPainter,
    QPalette,
    QTextCursor,
)
from PySide6.QtWidgets import QMenu, QPlainTextEdit, QWidget

from app.completion import CompletionController, CursorContext


class QtDebouncer:
    """The controller's one-shot timer, as a QTimer on the UI thread."""

    def __init__(self, parent: QWidget) -> None:
        self._timer = QTimer(parent)
        self._timer.setSingleShot(True)
        self._callback: Callable[[], None] | None = None
        self._timer.timeout.connect(self._fire)

    def start(self, delay_ms: int, callback: Callable[[], None]) -> None:
        self._callback = callback
        self._timer.start(max(0, int(delay_ms)))

    def stop(self) -> None:
        self._timer.stop()

    def _fire(self) -> None:
        if self._callback is not None:
            self._callback()


class GhostTextEdit(QPlainTextEdit):
    escapePressed = Signal()  # Esc with no ghost shown: e.g. stop a streaming Continue
    ghostShown = Signal(str)  # the ghost text changed (benchmarks time this)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller: CompletionController | None = None
        self._ghost = ""
        self.context_actions: list[QAction] = []  # Continue / Rephrase, added by the main window
        self.last_menu: QMenu | None = None
        self.setTabChangesFocus(False)
        self.textChanged.connect(self._on_text_changed)
        self.cursorPositionChanged.connect(self._on_cursor_moved)
        self.selectionChanged.connect(self._on_cursor_moved)
        self._suspended = 0

    # -- wiring -----------------------------------------------------------------

    def set_controller(self, controller: CompletionController) -> None:
        self.controller = controller
        controller.on_ghost = self.set_ghost

    def suspend_completion(self) -> None:
        """Programmatic edits (Continue streaming, opening a file) must not trigger suggestions."""
        self._suspended += 1
        if self.controller is not None:
            self.controller.dismiss()

    def resume_completion(self) -> None:
        self._suspended = max(0, self._suspended - 1)

    def cursor_context(self) -> CursorContext:
        cursor = self.textCursor()
        position = cursor.position()
        document = self.document()
        block = cursor.block()
        right = block.text()[position - block.position() :]
        # characterAt-based slicing would be quadratic; the document's plain text is one C++ copy.
        prefix = document.toPlainText()[:position] if position else ""
        return CursorContext(prefix, right, cursor.hasSelection())

    # -- ghost ------------------------------------------------------------------

    @property
    def ghost_text(self) -> str:
        return self._ghost

    def set_ghost(self, text: str) -> None:
        if text == self._ghost:
            return
        self._ghost = text
        self.viewport().update()
        self.ghostShown.emit(text)

    def _on_text_changed(self) -> None:
        if self.controller is not None and not self._suspended:
            self.controller.on_edit(self.cursor_context())

    def _on_cursor_moved(self) -> None:
        if self.controller is not None and not self._suspended:
            self.controller.on_cursor_moved(self.cursor_context())

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt naming
        super().paintEvent(event)
        if not self._ghost or self.textCursor().hasSelection():
            return
        painter = QPainter(self.viewport())
        try:
            self._paint_ghost(painter)
        finally:
            painter.end()

    def ghost_color(self) -> QColor:
        color = QColor(self.palette().color(QPalette.Text))  # the text colour of this palette
        color.setAlphaF(0.45)  # grey on light and on dark palettes alike
        return color

    def _paint_ghost(self, painter: QPainter) -> None:
        painter.setFont(self.font())
        painter.setPen(self.ghost_color())
        metrics = QFontMetrics(self.font())
        rect = self.cursorRect()
        left = int(self.contentOffset().x() + self.document().documentMargin())
        right = self.viewport().width() - int(self.document().documentMargin())
        x, y = rect.left() + 1, rect.top()
        line_height = metrics.lineSpacing()
        # Greedy word wrap: the first line starts at the cursor, the next ones at the margin.
        for paragraph_index, paragraph in enumerate(self._ghost.split("\n")):
            if paragraph_index:
                x, y = left, y + line_height
            for word in _tokens(paragraph):
                width = metrics.horizontalAdvance(word)
                if x + width > right and x > left and word.strip():
                    x, y = left, y + line_height
                    word = word.lstrip()
                    width = metrics.horizontalAdvance(word)
                painter.drawText(QRect(x, y, width + 2, line_height), Qt.AlignLeft | Qt.AlignTop, word)
                x += width

    # -- keys -------------------------------------------------------------------

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt naming
        key, mods = event.key(), event.modifiers()
        if self._ghost and self.controller is not None:
            plain = mods in (Qt.NoModifier, Qt.KeypadModifier)
            if key == Qt.Key_Tab and plain:
                self.insert_suggestion(self.controller.accept_all())
                return
            if key == Qt.Key_Right and mods == Qt.ControlModifier:
                self.insert_suggestion(self.controller.accept_word())
                return
            if key == Qt.Key_Escape:
                self.controller.dismiss()
                return
        if key == Qt.Key_Escape:
            self.escapePressed.emit()
            return
        super().keyPressEvent(event)

    def insert_suggestion(self, text: str) -> None:
        """Insert accepted ghost text as a normal edit (one undo step)."""
        if not text:
            return
        cursor = self.textCursor()
        cursor.beginEditBlock()  # its own undo step, not merged with the typing before it
        cursor.insertText(text)
        cursor.endEditBlock()
        self.setTextCursor(cursor)
        self.ensureCursorVisible()

    # -- context menu -------------------------------------------------------------

    def contextMenuEvent(self, event) -> None:  # noqa: N802 - Qt naming
        menu = self.createStandardContextMenu(event.pos())
        if self.context_actions:
            first = menu.actions()[0] if menu.actions() else None
            for action in self.context_actions:
                menu.insertAction(first, action)
            menu.insertSeparator(first)
        menu.setToolTipsVisible(True)  # a disabled entry says why (Rephrase in my style without a memory)
        menu.setAttribute(Qt.WA_DeleteOnClose)
        self.last_menu = menu
        # popup(), not exec(): no nested event loop, so the engine's signals keep flowing.
        menu.popup(event.globalPos())


def _tokens(text: str) -> list[str]:
    """Split into words keeping each word's leading spaces ("a b" -> ["a", " b"])."""
    out: list[str] = []
    current = ""
    for ch in text:
        if ch.isspace() and current and not current.isspace():
            out.append(current)
            current = ""
        current += ch
    if current:
        out.append(current)
    return out


STANDARD_SHORTCUTS = {
    "continue": QKeySequence("Ctrl+Return"),
    "rephrase": QKeySequence("Ctrl+Shift+R"),
    "suggest": QKeySequence("Ctrl+Space"),
}


def move_cursor_to_end(editor: QPlainTextEdit) -> None:
    cursor = editor.textCursor()
    cursor.movePosition(QTextCursor.End)
    editor.setTextCursor(cursor)
