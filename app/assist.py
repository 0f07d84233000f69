"""Continue and Rephrase: longer requests that edit the document, each as one undo step.

Continue streams the model's text at the cursor. The editor is read-only
while it streams; every piece joins the first piece's edit block, so one
Ctrl+Z removes the whole continuation. Esc stops it and KEEPS the text
written so far (still one undo step: Ctrl+Z removes it).

Rephrase streams the rewrite of the selection into a preview dialog; Accept
replaces the selection in one edit block, Reject (or Esc) leaves the text
untouched.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.editor import GhostTextEdit
from app.engine_worker import EngineClient

Notify = Callable[[str, str], None]  # (title, message)


class RephraseDialog(QDialog):
    """Original and rewrite side by side; Accept is enabled once the rewrite is complete."""

    def __init__(self, original: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rephrase")
        self.setWindowModality(Qt.WindowModal)
        self.resize(560, 360)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Selected text:"))
        self.original_view = QPlainTextEdit(original)
        self.original_view.setReadOnly(True)
        layout.addWidget(self.original_view)
        self.status = QLabel("Rewriting…")
        layout.addWidget(self.status)
        self.rewrite_view = QPlainTextEdit()
        self.rewrite_view.setPlaceholderText("The rewrite appears here.")
        layout.addWidget(self.rewrite_view)
        buttons = QDialogButtonBox()
        self.accept_button = QPushButton("Replace selection")
        self.reject_button = QPushButton("Keep original")
        buttons.addButton(self.accept_button, QDialogButtonBox.AcceptRole)
        buttons.addButton(self.reject_button, QDialogButtonBox.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.accept_button.setEnabled(False)
        self.finished_streaming = False

    def append(self, piece: str) -> None:
        cursor = self.rewrite_view.textCursor()
        cursor.movePosition(QTextCursor.End)
        cursor.insertText(piece)

    def done_streaming(self, error: str = "") -> None:
        self.finished_streaming = True
        text = self.rewrite_text()
        if error:
            self.status.setText(error)
        else:
            self.status.setText("Rewrite (you may edit it before replacing):" if text else "No rewrite was produced.")
        self.accept_button.setEnabled(bool(text))

    def rewrite_text(self) -> str:
        return self.rewrite_view.toPlainText().strip()


class AssistController(QObject):
    busyChanged = Signal(bool)
    continueFinished = Signal(str)  # the inserted text
    rephraseReady = Signal(object)  # the RephraseDialog, once the rewrite is complete

    def __init__(self, editor: GhostTextEdit, client: EngineClient, notify: Notify, parent=None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.client = client
        self.notify = notify
        self._rid: int | None = None
        self._mode = ""
        self._cursor: QTextCursor | None = None
        self._inserted = ""
        self.rephrase_dialog: RephraseDialog | None = None
        self._selection: tuple[int, int, str] | None = None
        client.piece.connect(self._on_piece)
        client.finished.connect(self._on_finished)
        client.failed.connect(self._on_failed)
        editor.escapePressed.connect(self.cancel)

    @property
    def mode(self) -> str:
        """'continue' or 'rephrase' while one runs, else ''."""
        return self._mode

    @property
    def busy(self) -> bool:
        return self._rid is not None

    def _check_ready(self) -> bool:
        if self.busy:
            return False
        if not self.client.ready:
            if self.client.load_error:
                self.notify("No model", f"The model could not be loaded: {self.client.load_error}")
            else:
                self.notify("Model not ready", "The model is still loading; try again in a moment.")
            return False
        return True

    # -- Continue -----------------------------------------------------------------

    def continue_at_cursor(self) -> None:
        if not self._check_ready():
            return
        cursor = self.editor.textCursor()
        cursor.clearSelection()
        position = cursor.position()
        before = self.editor.toPlainText()[:position]
        if not before.strip():
            self.notify("Continue", "Write a few words first: Killah continues the text before the cursor.")
            return
        self._start("continue", before)
        self._cursor = QTextCursor(self.editor.document())
        self._cursor.setPosition(position)
        self._inserted = ""

    def _insert_piece(self, piece: str) -> None:
        cursor = self._cursor
        if cursor is None:
            return
        if self._inserted:
            cursor.joinPreviousEditBlock()  # every piece joins the first: one undo step
        else:
            cursor.beginEditBlock()
        cursor.insertText(piece)
        cursor.endEditBlock()
        self._inserted += piece
        self.editor.setTextCursor(cursor)
        self.editor.ensureCursorVisible()

    # -- Rephrase -----------------------------------------------------------------

    def rephrase_selection(self) -> None:
        if not self._check_ready():
            return
        cursor = self.editor.textCursor()
        # QTextCursor uses U+2029 between paragraphs of a selection.
        text = cursor.selectedText().replace("\u2029", "\n")
        if not text.strip():
            self.notify("Rephrase", "Select the text to rephrase first.")
            return
        self._selection = (cursor.selectionStart(), cursor.selectionEnd(), text)
        dialog = RephraseDialog(text, self.editor.window())
        dialog.finished.connect(self._on_dialog_closed)
        self.rephrase_dialog = dialog
        self._start("rephrase", text)
        dialog.open()

    def _on_dialog_closed(self, result: int) -> None:
        dialog = self.sender() if isinstance(self.sender(), RephraseDialog) else self.rephrase_dialog
        if self._mode == "rephrase" and self._rid is not None:
            self.client.cancel(self._rid)
            self._end()
        if result == QDialog.Accepted and dialog is not None:
            self._replace_selection(dialog.rewrite_text())
        self._selection = None

    def _replace_selection(self, new_text: str) -> None:
        if not new_text or self._selection is None:
            return
        start, end, original = self._selection
        current = self.editor.toPlainText()[start:end]
        if current != original:
            self.notify("Rephrase", "The text changed while it was being rephrased; nothing was replaced.")
            return
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.KeepAnchor)
        cursor.beginEditBlock()
        cursor.insertText(new_text)
        cursor.endEditBlock()
        self.editor.setTextCursor(cursor)

    # -- shared -------------------------------------------------------------------

    def _start(self, mode: str, text: str) -> None:
        self._mode = mode
        self.editor.suspend_completion()
        self.editor.setReadOnly(True)
        self._rid = self.client.request(mode, text)
        self.busyChanged.emit(True)

    def cancel(self) -> None:
        """Esc while streaming: stop; a Continue keeps what it wrote so far."""
        if self._rid is None:
            return
        self.client.cancel(self._rid)
        if self._mode == "rephrase" and self.rephrase_dialog is not None:
            self.rephrase_dialog.reject()
        else:
            self._end()

    def _end(self) -> None:
        mode, inserted = self._mode, self._inserted
        self._rid = None
        self._mode = ""
        self._cursor = None
        self.editor.setReadOnly(False)
        self.editor.resume_completion()
        self.busyChanged.emit(False)
        if mode == "continue":
            self.continueFinished.emit(inserted)

    def _on_piece(self, request_id: int, piece: str) -> None:
        if request_id != self._rid:
            return
        if self._mode == "continue":
            self._insert_piece(piece)
        elif self.rephrase_dialog is not None:
            self.rephrase_dialog.append(piece)

    def _on_finished(self, request_id: int, stats: object) -> None:
        if request_id != self._rid:
            return
        if self._mode == "rephrase" and self.rephrase_dialog is not None:
            dialog = self.rephrase_dialog
            self._rid = None  # finished: closing the dialog must not cancel anything
            dialog.done_streaming()
            self._end()
            self.rephraseReady.emit(dialog)
            return
        self._end()

    def _on_failed(self, request_id: int, message: str) -> None:
        if request_id != self._rid:
            return
        if self._mode == "rephrase" and self.rephrase_dialog is not None:
            self._rid = None
            self.rephrase_dialog.done_streaming(message)
            self._end()
            return
        self._end()
        self.notify("Killah", message)
