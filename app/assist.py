"""Continue and Rephrase: longer requests that edit the document, each as one undo step.

Continue streams the model's text at the cursor. The editor is read-only
while it streams; every piece joins the first piece's edit block, so one
Ctrl+Z removes the whole continuation. Esc stops it and KEEPS the text
written so far (still one undo step: Ctrl+Z removes it).

Rephrase streams the rewrite of the selection into a preview dialog; Accept
replaces the selection in one edit block, Reject (or Esc) leaves the text
untouched. "Rephrase in my style" is the same dialog with its "In my style" box
checked: the engine puts the writer's own paragraphs (style memory) before the
prompt. Without a style memory the box is disabled and says why.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from app.editor import GhostTextEdit
from app.engine_worker import EngineClient
from app.word_diff import word_diff_html

# Adaptive best-of-n: the engine stops at the first take that passes the guard and rewords enough,
# so 5 is a cap, not a cost (docs/quality.md, Best-of-n).
REPHRASE_TAKES = 5

Notify = Callable[[str, str], None]  # (title, message)


class RephraseDialog(QDialog):
    """The selection, then the takes of the rewrite, best first, each with a word diff against the selection.

    The first take streams into the editable rewrite box; when every take is in (a CandidateSet from
    the engine), the best one is shown, Previous/Next step through the others, and a take the
    meaning guard demoted says why. Accept is enabled once the takes are complete.
    """

    def __init__(
        self, original: str, parent: QWidget | None = None, *, in_style: bool = False, style_unavailable: str = ""
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Rephrase")
        self.setWindowModality(Qt.WindowModal)
        self.resize(600, 560)
        self.original = original
        self.candidates: tuple = ()  # engine.quality.best_of_n.Candidate, best first
        self.index = 0
        self.score_label_name = ""
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("Selected text:"))
        self.original_view = QPlainTextEdit(original)
        self.original_view.setReadOnly(True)
        layout.addWidget(self.original_view)
        # Rephrase in my style: checked, the takes follow the writer's own paragraphs (their style memory).
        self.style_box = QCheckBox("In my style (your own paragraphs from the style memory as the model)")
        self.style_box.setChecked(in_style and not style_unavailable)
        self.style_box.setEnabled(not style_unavailable)
        self.style_box.setToolTip(style_unavailable)
        self.style_note = QLabel(style_unavailable)  # why it is off, or what conditioned the takes
        self.style_note.setWordWrap(True)
        layout.addWidget(self.style_box)
        layout.addWidget(self.style_note)
        self.status = QLabel("Rewriting…")
        self.status.setWordWrap(True)
        layout.addWidget(self.status)
        # A passage is rewritten sentence by sentence: how many are done (hidden for one sentence).
        self.progress = QProgressBar()
        self.progress.setFormat("Sentence %v of %m")
        self.progress.hide()
        layout.addWidget(self.progress)
        self.rewrite_view = QPlainTextEdit()
        self.rewrite_view.setPlaceholderText("The rewrite appears here.")
        layout.addWidget(self.rewrite_view)
        layout.addWidget(QLabel("Changes (removed words struck out, new words underlined):"))
        self.diff_view = QTextEdit()
        self.diff_view.setReadOnly(True)
        layout.addWidget(self.diff_view)
        self.reasons_label = QLabel("")  # the guard's reasons for a demoted take
        self.reasons_label.setWordWrap(True)
        self.reasons_label.setStyleSheet("color: #a40000;")
        layout.addWidget(self.reasons_label)
        self.score_label = QLabel("")
        layout.addWidget(self.score_label)
        nav = QHBoxLayout()
        self.previous_button = QPushButton("◀ Previous take")
        self.take_label = QLabel("")
        self.next_button = QPushButton("Next take ▶")
        for widget in (self.previous_button, self.take_label, self.next_button):
            nav.addWidget(widget)
        layout.addLayout(nav)
        self.previous_button.clicked.connect(lambda: self.show_take(self.index - 1))
        self.next_button.clicked.connect(lambda: self.show_take(self.index + 1))
        buttons = QDialogButtonBox()
        self.accept_button = QPushButton("Replace selection")
        self.reject_button = QPushButton("Keep original")
        buttons.addButton(self.accept_button, QDialogButtonBox.AcceptRole)
        buttons.addButton(self.reject_button, QDialogButtonBox.RejectRole)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.accept_button.setEnabled(False)
        self._set_navigation()
        self.finished_streaming = False

    @property
    def in_style(self) -> bool:
        return self.style_box.isChecked()

    def restart(self) -> None:
        """New takes are coming (the style box was toggled): forget the shown ones."""
        self.candidates, self.index, self.score_label_name = (), 0, ""
        self.finished_streaming = False
        for view in (self.rewrite_view, self.diff_view):
            view.clear()
        for label in (self.reasons_label, self.score_label, self.style_note):
            label.setText("")
        self.progress.hide()
        self.status.setText("Rewriting…")
        self.accept_button.setEnabled(False)
        self._set_navigation()

    def show_style(self, style) -> None:
        """What conditioned the takes (engine.persona.StyleContext) and the adapters that drew them."""
        self.style_note.setText(style.describe().replace("Style: ", "Your style from: ", 1))
        self.style_note.setToolTip("\n\n".join(style.texts))

    def show_progress(self, done: int, total: int) -> None:
        self.progress.setRange(0, total)
        self.progress.setValue(done)
        self.progress.setVisible(total > 1)

    def append(self, piece: str) -> None:
        cursor = self.rewrite_view.textCursor()
        cursor.movePosition(QTextCursor.End)
        cursor.insertText(piece)

    def show_candidates(self, found) -> None:
        """The engine's CandidateSet: show its best take; the others one click away."""
        self.candidates = tuple(c for c in found.candidates if c.text.strip())
        self.score_label_name = found.ranked_by if found.score_meaningful else ""
        if found.mode == "rephrase_style" and found.served_by:  # which adapter serves: a stand-in says so
            self.style_note.setText(f"{self.style_note.text()}\nAdapters: {found.served_by}".strip())
        if self.candidates:
            self.show_take(0)

    def show_take(self, index: int) -> None:
        if not self.candidates:
            return
        self.index = max(0, min(index, len(self.candidates) - 1))
        take = self.candidates[self.index]
        self.rewrite_view.setPlainText(take.text)
        self.diff_view.setHtml(word_diff_html(self.original, take.text))
        reasons = take.verdict.reasons if take.demoted else ()
        self.reasons_label.setText(
            "May change the meaning: " + "; ".join(reasons) + "." if reasons else ""
        )
        score = take.score if self.score_label_name and take.score is not None else None
        self.score_label.setText(f"{self.score_label_name}: {score:.2f}" if score is not None else "")
        self._set_navigation()

    def _set_navigation(self) -> None:
        n = len(self.candidates)
        self.previous_button.setEnabled(self.index > 0)
        self.next_button.setEnabled(self.index < n - 1)
        best = " (best)" if self.index == 0 and n and not self.candidates[0].demoted else ""
        self.take_label.setText(f"Take {self.index + 1} of {n}{best}" if n else "")

    def done_streaming(self, error: str = "") -> None:
        self.finished_streaming = True
        text = self.rewrite_text()
        if error:
            self.status.setText(error)
        elif not text:
            self.status.setText("No rewrite was produced.")
        elif self.candidates and all(c.demoted for c in self.candidates):
            self.status.setText(
                "No take is sure to keep the meaning: read the reasons below before replacing."
            )
        else:
            self.status.setText("Rewrite (you may edit it before replacing):")
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
        # Why "Rephrase in my style" cannot run now ("" when it can): set by app/style_rephrase.py.
        self.style_unavailable = ""
        self._announced: RephraseDialog | None = None  # the last dialog rephraseReady was sent for
        client.piece.connect(self._on_piece)
        client.finished.connect(self._on_finished)
        client.failed.connect(self._on_failed)
        client.candidatesReady.connect(self._on_candidates)
        client.styleUsed.connect(self._on_style_used)
        client.takesProgress.connect(self._on_takes_progress)
        editor.escapePressed.connect(self.cancel)
        # The last Continue, for "another take": (position, text before it, inserted text, take number).
        self.last_continue: tuple[int, str, str, int] | None = None
        self._take = 0

    @property
    def mode(self) -> str:
        """'continue' or 'rephrase' while one runs, else ''."""
        return self._mode

    @property
    def busy(self) -> bool:
        return self._rid is not None

    @property
    def in_style(self) -> bool:
        """A Rephrase in my style is running."""
        return self._mode == "rephrase" and self.rephrase_dialog is not None and self.rephrase_dialog.in_style

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
        self._take = 0
        self._start("continue", before)
        self._begin_insert(position)

    def another_take(self) -> None:
        """Replace the Continue just written with the next take (another min-p setting, another seed)."""
        if not self._check_ready():
            return
        last = self.last_continue
        text = self.editor.toPlainText()
        if last is None or not last[2]:
            self.notify("Another take", "Use Continue first: another take rewrites the continuation just written.")
            return
        position, before, inserted, take = last
        if text[:position] != before or text[position : position + len(inserted)] != inserted:
            self.notify("Another take", "The text changed since the continuation was written; nothing was replaced.")
            return
        cursor = QTextCursor(self.editor.document())
        cursor.setPosition(position)
        cursor.setPosition(position + len(inserted), QTextCursor.KeepAnchor)
        cursor.beginEditBlock()
        cursor.removeSelectedText()  # its own undo step: Ctrl+Z twice brings the first take back
        cursor.endEditBlock()
        self._take = take + 1
        self._start("continue", before, lambda: self.client.request_continue_take(before, self._take))
        self._begin_insert(position)

    def _begin_insert(self, position: int) -> None:
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

    def rephrase_selection(self, in_style: bool = False) -> None:
        if not self._check_ready():
            return
        if in_style and self.style_unavailable:
            self.notify("Rephrase in my style", self.style_unavailable)
            return
        cursor = self.editor.textCursor()
        # QTextCursor uses U+2029 between paragraphs of a selection.
        text = cursor.selectedText().replace("\u2029", "\n")
        if not text.strip():
            self.notify("Rephrase", "Select the text to rephrase first.")
            return
        self._selection = (cursor.selectionStart(), cursor.selectionEnd(), text)
        if self.rephrase_dialog is not None:
            # Parented to the window, a closed dialog lived on: the soak counted one per Rephrase.
            self.rephrase_dialog.deleteLater()
        dialog = RephraseDialog(
            text, self.editor.window(), in_style=in_style, style_unavailable=self.style_unavailable
        )
        dialog.finished.connect(self._on_dialog_closed)
        dialog.style_box.toggled.connect(self._restart_rephrase)
        self.rephrase_dialog = dialog
        self._start("rephrase", text, lambda: self._request_takes(text, dialog.in_style))
        dialog.open()

    def rephrase_in_style(self) -> None:
        self.rephrase_selection(in_style=True)

    def _request_takes(self, text: str, in_style: bool) -> int:
        if in_style:
            return self.client.request_rephrase_style_takes(text, REPHRASE_TAKES)
        return self.client.request_rephrase_takes(text, REPHRASE_TAKES)

    def _restart_rephrase(self, in_style: bool) -> None:
        """The dialog's style box was toggled: the running takes stop, the other kind is drawn."""
        dialog, selection = self.rephrase_dialog, self._selection
        if dialog is None or selection is None:
            return
        dialog.restart()
        text = selection[2]
        if self._rid is not None:  # still drawing: swap the request, the editor stays read-only
            self.client.cancel(self._rid)
            self._rid = self._request_takes(text, in_style)
        else:
            self._start("rephrase", text, lambda: self._request_takes(text, in_style))

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

    def _start(self, mode: str, text: str, request: Callable[[], int] | None = None) -> None:
        self._mode = mode
        self.editor.suspend_completion()
        self.editor.setReadOnly(True)
        self._rid = request() if request is not None else self.client.request(mode, text)
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
        if mode == "continue" and self._cursor is not None:
            start = self._cursor.position() - len(inserted)
            self.last_continue = (start, self.editor.toPlainText()[:start], inserted, self._take)
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

    def _on_style_used(self, request_id: int, style: object) -> None:
        if request_id == self._rid and self.rephrase_dialog is not None and style is not None:
            self.rephrase_dialog.show_style(style)

    def _on_takes_progress(self, request_id: int, done: int, total: int) -> None:
        if request_id == self._rid and self.rephrase_dialog is not None:
            self.rephrase_dialog.show_progress(done, total)

    def _on_candidates(self, request_id: int, found: object) -> None:
        if request_id == self._rid and self.rephrase_dialog is not None:
            self.rephrase_dialog.show_candidates(found)

    def _on_finished(self, request_id: int, stats: object) -> None:
        if request_id != self._rid:
            return
        if self._mode == "rephrase" and self.rephrase_dialog is not None:
            dialog = self.rephrase_dialog
            self._rid = None  # finished: closing the dialog must not cancel anything
            dialog.done_streaming()
            self._end()
            if dialog is not self._announced:  # once per dialog: a restart after the takes must not
                self._announced = dialog  # record the writer's choice twice (app/choices.py)
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
