"""Tidy dictated text: the rules at once, the model's version later, as part of the same undo step.

    tidier = DictationTidier(editor, restyle=session.styled)
    tidier.mode = "model"                        # "off" | "rules" | "model"
    tidier.set_client(engine_client)             # app/engine_worker.EngineClient
    text = tidier.rules(transcript, text_before) # instant: inserted right away by the controller
    tidier.request(transcript, start, inserted)  # after the insertion: Engine.tidy_dictation on the worker

The model's text replaces exactly the inserted span, joined to the insertion's edit block (one
undo step), and only if the document has not changed at all since: a writer who typed anywhere,
or a newer utterance, means the pending result is dropped. Joining an edit block only makes sense
right after the insertion: after any other edit, Qt would join the tidy to that edit instead.
No model math here: the engine checks the model's words (engine.audio.tidy.check_tidy).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QTextCursor
from PySide6.QtWidgets import QPlainTextEdit

from engine.audio.dictation import DocState
from engine.audio.tidy import tidy_rules

TIDY_MODES = ("off", "rules", "model")
Restyle = Callable[[str, DocState], tuple[str, int, int]]  # DictationSession.styled


def qt_pos(text: str, index: int) -> int:
    """Python str index -> Qt (UTF-16) position."""
    return len(text[:index].encode("utf-16-le")) // 2


@dataclass
class _Pending:
    request_id: int
    start: int  # Python indices of the inserted span
    inserted: str
    pieces: list[str]


class DictationTidier(QObject):
    applied = Signal(str)  # the model's text that replaced an utterance
    dropped = Signal(str)  # why a model result was not applied (edited meanwhile, failed)

    def __init__(self, editor: QPlainTextEdit, restyle: Restyle, parent: QObject | None = None) -> None:
        super().__init__(parent or editor)
        self.editor = editor
        self.restyle = restyle
        self.mode = "rules"
        self.client = None
        self._pending: _Pending | None = None
        self._applying = False
        editor.document().contentsChanged.connect(self._on_contents_changed)

    # ------------------------------------------------------------ settings

    def set_mode(self, mode: str) -> None:
        if mode not in TIDY_MODES:
            raise ValueError(f"unknown tidy mode {mode!r}; known: {', '.join(TIDY_MODES)}")
        self.mode = mode
        if mode != "model":
            self._drop("tidying with the model switched off")

    def set_client(self, client) -> None:
        """The window's EngineClient: the model runs on its worker thread, never here."""
        if self.client is client:
            return
        if self.client is not None:
            for signal, slot in self._connections():
                signal.disconnect(slot)
        self.client = client
        if client is not None:
            for signal, slot in self._connections():
                signal.connect(slot)

    def _connections(self):
        return (
            (self.client.piece, self._on_piece),
            (self.client.finished, self._on_finished),
            (self.client.failed, self._on_failed),
        )

    # ------------------------------------------------------------ use

    def rules(self, transcript: str, context: str) -> str:
        """The instant clean-up (or the transcript itself when tidying is off)."""
        if self.mode == "off":
            return transcript
        return tidy_rules(transcript, context) or transcript

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def request(self, transcript: str, start: int, inserted: str) -> int | None:
        """Ask the engine for the model's version of ``transcript``, just inserted at ``start`` as ``inserted``."""
        self._drop("a newer utterance")
        if self.mode != "model" or self.client is None or not self.client.ready or not inserted.strip():
            return None
        context = self.editor.toPlainText()[:start]
        rid = self.client.request_tidy(transcript, context)
        self._pending = _Pending(rid, start, inserted, [])
        return rid

    # ------------------------------------------------------------ engine results

    def _on_piece(self, request_id: int, piece: str) -> None:
        if self._pending is not None and request_id == self._pending.request_id:
            self._pending.pieces.append(piece)

    def _on_failed(self, request_id: int, message: str) -> None:
        if self._pending is not None and request_id == self._pending.request_id:
            self._pending = None
            self.dropped.emit(message)

    def _on_finished(self, request_id: int, _stats: object) -> None:
        pending = self._pending
        if pending is None or request_id != pending.request_id:
            return
        self._pending = None
        tidied = "".join(pending.pieces).strip()
        text = self.editor.toPlainText()
        end = pending.start + len(pending.inserted)
        if not tidied or text[pending.start : end] != pending.inserted:
            self.dropped.emit("the dictated text changed meanwhile")
            return
        # Style it for where it sits, as the raw text was (spacing, first-word case, final period).
        without = text[: pending.start] + text[end:]
        insert, _, _ = self.restyle(tidied, DocState(without, pending.start))
        if insert == pending.inserted:
            return
        self._replace(text, pending.start, end, insert)
        self.applied.emit(insert)

    def _replace(self, text: str, start: int, end: int, insert: str) -> None:
        cursor_at_end = (
            not self.editor.textCursor().hasSelection()
            and self.editor.textCursor().position() == qt_pos(text, end)
        )
        self._applying = True
        try:
            tc = QTextCursor(self.editor.document())
            tc.joinPreviousEditBlock()  # the insertion's undo step: one Ctrl+Z removes both
            tc.setPosition(qt_pos(text, start))
            tc.setPosition(qt_pos(text, end), QTextCursor.KeepAnchor)
            tc.insertText(insert)
            tc.endEditBlock()
        finally:
            self._applying = False
        if cursor_at_end:
            new_text = self.editor.toPlainText()
            cur = self.editor.textCursor()
            cur.setPosition(qt_pos(new_text, start + len(insert)))
            self.editor.setTextCursor(cur)

    # ------------------------------------------------------------ bookkeeping

    def _on_contents_changed(self) -> None:
        if not self._applying:
            self._drop("the document changed")

    def _drop(self, why: str) -> None:
        if self._pending is None:
            return
        if self.client is not None:
            self.client.cancel(self._pending.request_id)
        self._pending = None
        self.dropped.emit(why)
