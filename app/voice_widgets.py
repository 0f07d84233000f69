"""Small voice widgets: the partial-text overlay over the editor, a level meter and a push-to-talk button."""

from __future__ import annotations

import html

from PySide6.QtCore import QRect, Qt, Signal
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import QLabel, QPlainTextEdit, QToolButton, QWidget


class PartialOverlay(QLabel):
    """Grey italic preview of what Whisper hears, drawn just below the cursor; never part of the document."""

    def __init__(self, editor: QPlainTextEdit) -> None:
        super().__init__(editor.viewport())
        self.editor = editor
        self.setAttribute(Qt.WA_TransparentForMouseEvents)
        self.setStyleSheet(
            "QLabel { color: #777; font-style: italic; background: rgba(250,250,250,230);"
            " border: 1px solid #ddd; border-radius: 3px; padding: 1px 4px; }"
        )
        self.setWordWrap(True)
        self.setTextFormat(Qt.RichText)
        self.hide()

    def show_text(self, text: str, committed: str = "") -> None:
        """``committed``, the stable start of ``text`` (streaming: two hypotheses agreed on it), is drawn
        darker and upright; the rest, which may still change, stays light grey italic."""
        if not text:
            self.hide()
            return
        if committed and text.startswith(committed):
            rest = html.escape(text[len(committed) :])
            self.setText(f'<span style="color:#333; font-style:normal">{html.escape(committed)}</span>{rest}')
        else:
            self.setText(html.escape(text))
        rect: QRect = self.editor.cursorRect()
        width = max(120, self.editor.viewport().width() - rect.left() - 8)
        self.setFixedWidth(min(width, 600))
        self.adjustSize()
        y = rect.bottom() + 2
        if y + self.height() > self.editor.viewport().height():
            y = max(0, rect.top() - self.height() - 2)
        self.move(max(0, rect.left()), y)
        self.show()
        self.raise_()


class LevelMeter(QWidget):
    """A thin horizontal bar showing the microphone level (0..1)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._level = 0.0
        self.setFixedSize(60, 10)
        self.setToolTip("Microphone level")

    def set_level(self, level: float) -> None:
        self._level = max(0.0, min(1.0, level))
        self.update()

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#e6e6e6"))
        w = int(self.width() * self._level)
        p.fillRect(0, 0, w, self.height(), QColor("#3c9d4e" if self._level < 0.8 else "#d9822b"))
        p.end()


class PushToTalkButton(QToolButton):
    """Held down = talking. Emits ``talking(bool)`` on press and release."""

    talking = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setText("🎤 Hold to talk")
        self.pressed.connect(lambda: self.talking.emit(True))
        self.released.connect(lambda: self.talking.emit(False))
