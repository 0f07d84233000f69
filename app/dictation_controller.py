"""Dictation into a QPlainTextEdit: voice loop on a worker thread, edits on the GUI thread.

One call attaches it:

    ctl = DictationController(editor, engine=engine, parent=window)
    toolbar.addAction(ctl.toggle_action)        # Ctrl+Shift+D: listen until toggled off
    toolbar.addAction(ctl.push_to_talk_action)  # F9: hold to talk (or click to start/stop)
    ctl.level_changed.connect(meter.set_level)
    ctl.state_changed.connect(status_label.setText)
    ctl.unavailable.connect(statusbar.showMessage)

Every finalized utterance is ONE undo step (a QTextCursor edit block). Dictated text is tidied
(app/dictation_tidy.py): by the rules before it is inserted (instant), and, when
``set_tidy("model")`` and an engine client are set, by the model afterwards, replacing the
inserted span within the same undo step if the writer has not touched the document. Partial text is
shown in a grey overlay, never inserted: with streaming (the listener's default) its committed start
(LocalAgreement-2) is darker than the tentative rest; the grammar sees only the final text. When voice
cannot work (no PortAudio, no microphone, no sound server) the actions are disabled with the reason as tooltip and
``unavailable(reason)`` is emitted; the editor itself is never affected.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from dataclasses import replace

from PySide6.QtCore import QEvent, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence, QTextCursor
from PySide6.QtWidgets import QPlainTextEdit

from app.refcount_guard import pin_singletons
from engine.audio.commands import Classifier, parse
from engine.audio.dictation import DictationSession, DocState, Outcome, diff
from engine.audio.listener import VoiceEvent, VoiceListener
from engine.errors import AudioError, KillahError

PTT_KEY = Qt.Key_F9


def _qt_pos(text: str, index: int) -> int:
    """Python str index -> Qt (UTF-16) position."""
    return len(text[:index].encode("utf-16-le")) // 2


def _py_index(text: str, qt_pos: int) -> int:
    """Qt (UTF-16) position -> Python str index."""
    return len(text.encode("utf-16-le")[: 2 * qt_pos].decode("utf-16-le", errors="ignore"))


def check_voice_available(device: int | str | None = None) -> str | None:
    """None if a microphone can be opened, else the reason (for a disabled state)."""
    try:
        from engine.audio.capture import resolve_device

        resolve_device(device)
    except AudioError as exc:
        return str(exc)
    return None


class DictationController(QObject):
    level_changed = Signal(float)
    state_changed = Signal(str)  # "off" | "listening" | "hearing" | "unavailable" | "error"
    partial_text = Signal(str)
    final_text = Signal(str)  # every accepted transcript, command or not
    unavailable = Signal(str)  # the reason voice cannot work
    message = Signal(str)  # short status ("Nothing to scratch", "“x” is not in the document")
    action_requested = Signal(str, int, int)  # (rephrase|continue|read_back, start, end) for the host window
    _event = Signal(object)  # worker thread -> GUI thread
    _generated = Signal(str, int, int, str)  # (kind, start, end, text) from an engine call

    def __init__(
        self,
        editor: QPlainTextEdit,
        engine=None,
        parent: QObject | None = None,
        device: int | str | None = None,
        recognizer=None,
        classifier: Classifier | None = None,
        partials: bool = True,
        speak_back: bool = True,
        probe: bool = True,
        tidy: str = "rules",
    ) -> None:
        super().__init__(parent or editor)
        # The voice thread emits ~20 events a second; PySide6 6.12.0 drops a reference to True at each
        # (app/refcount_guard.py): without this, dictation aborted the process within minutes.
        pin_singletons()
        self.editor = editor
        self.engine = engine
        self.device = device
        self.classifier = classifier
        self.speak_back = speak_back
        # True when the host handles "rephrase that"/"continue" itself through ``action_requested``
        # (so two threads never generate with one model at the same time).
        self.delegate_actions = False
        self.session = DictationSession(classifier=None)  # parsing happens on the worker thread
        self.state = "off"
        self.reason = ""
        self._applying = False
        self._shadow = editor.toPlainText()
        self._listener = VoiceListener(
            self._on_worker_event, recognizer=recognizer, device=device, partials=partials
        )
        self._mode = "toggle"
        self.correction_menu = None  # the last "correct <words>" menu (QMenu)

        from app.dictation_tidy import DictationTidier
        from app.voice_widgets import PartialOverlay

        self.overlay = PartialOverlay(editor)
        self.tidier = DictationTidier(editor, self.session.styled, self)
        self.tidier.set_mode(tidy)

        self.toggle_action = QAction("Dictation", self, checkable=True)
        self.toggle_action.setShortcut(QKeySequence("Ctrl+Shift+D"))
        self.toggle_action.setToolTip("Dictate: listen continuously (Ctrl+Shift+D)")
        self.toggle_action.toggled.connect(self._on_toggle)
        # No QAction shortcut for F9: a shortcut eats the key press but not the release;
        # the event filter below implements hold-to-talk in the editor instead.
        self.push_to_talk_action = QAction("Push to talk", self, checkable=True)
        self.push_to_talk_action.setToolTip("Hold F9 in the editor to talk (or click to start and stop)")
        self.push_to_talk_action.toggled.connect(self.set_talking)

        editor.document().contentsChanged.connect(self._on_contents_changed)
        editor.installEventFilter(self)
        self._event.connect(self._on_event)
        self._generated.connect(self._apply_generated)
        if probe:
            # Grey the actions out with the reason as soon as the window shows, not at first use.
            QTimer.singleShot(0, self.check_availability)

    # ------------------------------------------------------------ public API

    def check_availability(self) -> bool:
        """Probe the microphone now; on failure disable the actions and emit ``unavailable``."""
        if self._listener.running:
            return True
        reason = check_voice_available(self.device)
        if reason:
            self._set_unavailable(reason)
            return False
        self.toggle_action.setEnabled(True)
        self.push_to_talk_action.setEnabled(True)
        return True

    def start(self, mode: str = "toggle") -> bool:
        """Start listening; returns False (and emits ``unavailable``) if voice cannot work."""
        self._mode = mode
        try:
            self._listener.start(mode)
        except AudioError as exc:
            self._set_unavailable(str(exc))
            return False
        self._set_state("listening")
        return True

    def stop(self) -> None:
        self._listener.stop(wait=False)
        self.overlay.hide()
        self._block_toggle(False)
        if self.state not in ("unavailable", "error"):
            self._set_state("off")

    def set_talking(self, talking: bool) -> None:
        """Push-to-talk: True while the key/button is held."""
        if talking:
            if not self._listener.running and not self.start("push_to_talk"):
                return
            self._listener.mode = "push_to_talk" if not self.toggle_action.isChecked() else "toggle"
            self._listener.set_gate(True)
        else:
            self._listener.set_gate(False)

    def set_tidy(self, mode: str) -> None:
        """Tidy mode: "off" (what Whisper wrote), "rules" (instant clean-up), "model" (rules, then the model's)."""
        self.tidier.set_mode(mode)

    def set_recognizer(self, name: str) -> None:
        """Dictate with another recognizer ("" = the default; engine/audio/recognizer.RECOGNIZERS).
        It is loaded when listening starts; a missing or damaged model then turns dictation off with
        the reason (the document is never touched)."""
        if name == getattr(self, "_recognizer_name", None):
            return
        self._recognizer_name = name
        if self._listener.running:
            self.stop()
            self.message.emit("Speech recognizer changed: dictation stopped; start it again to use it.")
        self._listener.set_recognizer(name or None)

    def set_vocabulary(self, words: list[str], style_memory: bool = True) -> None:
        """Names and rare words to favour: the user's list, plus those of the style memory's documents
        (read on the voice thread when listening starts). "correct <words>" offers them too."""
        from engine.audio.vocabulary import merge, style_memory_vocabulary

        user = merge(words)
        self.session.vocabulary = user
        self._listener.vocabulary_source = (
            (lambda: merge(user, style_memory_vocabulary())) if style_memory else (lambda: user)
        )
        if self._listener.recognizer is not None:
            self._listener.recognizer.vocabulary = user  # the style memory's words join at the next start

    def set_engine_client(self, client) -> None:
        """The window's EngineClient (app/engine_worker.py): the model tidies on its worker thread."""
        self.tidier.set_client(client)

    def handle_transcript(self, text: str) -> None:
        """Apply one utterance's text as if it had been heard (typed commands, scripting, tests)."""
        self._apply_parsed(parse(text, self.classifier))

    def wait_ready(self, timeout: float = 30.0) -> bool:
        """For tests and scripts: block until the worker has the model loaded and audio flowing."""
        return self._listener.ready.wait(timeout)

    @property
    def listening(self) -> bool:
        return self._listener.running

    # ------------------------------------------------------------ worker side

    def _on_worker_event(self, event: VoiceEvent) -> None:
        # Runs on the voice thread: parse here, because the LM classifier may take a second.
        if event.kind == "final":
            event.parsed = parse(event.text, self.classifier)
        self._event.emit(event)

    # ------------------------------------------------------------ GUI side

    def _on_event(self, event: VoiceEvent) -> None:
        kind = event.kind
        if kind == "level":
            self.level_changed.emit(min(1.0, event.level * 8))
        elif kind == "speech_start":
            self._set_state("hearing")
        elif kind == "partial":
            self.overlay.show_text(event.text, event.committed)
            self.partial_text.emit(event.text)
        elif kind in ("final", "rejected"):
            self.overlay.hide()
            self.partial_text.emit("")
            if self.state == "hearing":
                self._set_state("listening")
            if kind == "final":
                self.final_text.emit(event.text)
                self._apply_parsed(event.parsed)
        elif kind == "error":
            self.overlay.hide()
            self.reason = event.text
            self.message.emit(event.text)
            self._block_toggle(False)
            self._set_state("error")
            self.unavailable.emit(event.text)
        elif kind == "stopped":
            if self._listener.running:
                return  # the end of an earlier run, arriving after a restart
            self.overlay.hide()
            self._block_toggle(False)
            if self.state not in ("unavailable", "error"):
                self._set_state("off")

    def _doc_state(self) -> DocState:
        text = self.editor.toPlainText()
        tc = self.editor.textCursor()
        sel = None
        if tc.hasSelection():
            sel = (_py_index(text, tc.selectionStart()), _py_index(text, tc.selectionEnd()))
        return DocState(text, _py_index(text, tc.position()), sel)

    def _apply_parsed(self, parsed) -> None:
        transcript = parsed.text
        if parsed.command is None:  # dictation: the rules' clean-up goes in at once
            state = self._doc_state()
            start = state.selection[0] if state.selection else state.cursor
            parsed = replace(parsed, text=self.tidier.rules(transcript, state.text[:start]))
        try:
            out = self.session.handle_parsed(parsed, self._doc_state())
        except KillahError as exc:
            self.message.emit(str(exc))
            return
        self._apply_outcome(out)
        if parsed.command is None and out.edit is not None and out.dictated:
            self.tidier.request(transcript, out.edit.pos, out.edit.inserted)  # the model's version, later

    def _apply_outcome(self, out: Outcome) -> None:
        if out.edit is not None:
            old = self.editor.toPlainText()
            self._applying = True
            try:
                tc = QTextCursor(self.editor.document())
                tc.beginEditBlock()  # one undo step per utterance
                start = _qt_pos(old, out.edit.pos)
                tc.setPosition(start)
                tc.setPosition(_qt_pos(old, out.edit.pos + out.edit.removed), QTextCursor.KeepAnchor)
                tc.insertText(out.edit.inserted)
                tc.endEditBlock()
            finally:
                self._applying = False
                self._shadow = self.editor.toPlainText()
        self._set_cursor(out.state)
        if out.message:
            self.message.emit(out.message)
        if out.action:
            self._run_action(out)

    def _set_cursor(self, state: DocState) -> None:
        text = self.editor.toPlainText()
        tc = self.editor.textCursor()
        if state.selection:
            a, b = state.selection
            anchor, pos = (a, b) if state.cursor >= b else (b, a)
            tc.setPosition(_qt_pos(text, anchor))
            tc.setPosition(_qt_pos(text, pos), QTextCursor.KeepAnchor)
        else:
            tc.setPosition(_qt_pos(text, min(state.cursor, len(text))))
        self.editor.setTextCursor(tc)

    def _run_action(self, out: Outcome) -> None:
        kind = out.action
        start, end = out.target or (-1, -1)
        if kind == "undo":
            self.editor.undo()
        elif kind == "redo":
            self.editor.redo()
        elif kind == "stop_listening":
            self.stop()
        elif kind == "correct" and out.target:
            self._offer_corrections(out.alternatives, start, end)
        elif kind == "read_back" and out.target:
            self._read_back(self.editor.toPlainText()[start:end])
        elif kind in ("rephrase", "continue") and self.delegate_actions:
            # The host window runs its own rephrase/continue (on its engine worker): select the target
            # so its selection-based command acts on the right words, then tell it via action_requested.
            if kind == "rephrase" and out.target:
                self._set_cursor(DocState(self.editor.toPlainText(), end, (start, end)))
        elif kind in ("rephrase", "continue"):
            if kind == "continue":
                text = self.editor.toPlainText()
                cur = self._doc_state().cursor
                start, end = cur, cur
                self._generate(kind, start, end, text[:cur])
            elif out.target:
                self._generate(kind, start, end, self.editor.toPlainText()[start:end])
        self.action_requested.emit(kind, start, end)

    def _offer_corrections(self, choices: list[str], start: int, end: int) -> None:
        """ "correct <words>": the phrase is selected; a small menu under it offers replacements."""
        from PySide6.QtWidgets import QMenu

        if not choices:
            self.message.emit("No alternatives for the selected words: dictate the right ones.")
            return
        menu = QMenu(self.editor)
        for choice in choices:
            menu.addAction(choice).triggered.connect(
                lambda _=False, c=choice: self._replace_span(start, end, c)
            )
        self.correction_menu = menu  # kept for tests and for a spoken pick later
        menu.popup(self.editor.viewport().mapToGlobal(self.editor.cursorRect().bottomLeft()))

    def _replace_span(self, start: int, end: int, replacement: str) -> None:
        """Put ``replacement`` over [start, end) as one undo step, if those words are still there."""
        current = self.editor.toPlainText()
        if end > len(current):
            self.message.emit("The text changed: nothing corrected.")
            return
        new_text = current[:start] + replacement + current[end:]
        out = Outcome(DocState(new_text, start + len(replacement)), diff(current, new_text))
        self.session.on_external_edit(start, end - start, len(replacement))
        self.session.record_utterance(start, len(replacement))  # "scratch that" undoes the correction
        self._apply_outcome(out)

    def _generate(self, kind: str, start: int, end: int, source: str) -> None:
        """Run the engine's rephrase / continue_text on a thread; apply the result as one edit."""
        if self.engine is None:
            self.message.emit(f"“{kind}” needs the language model, which is not loaded.")
            return
        self.message.emit("Rephrasing…" if kind == "rephrase" else "Continuing…")

        def work() -> None:
            try:
                fn = self.engine.rephrase if kind == "rephrase" else self.engine.continue_text
                text = "".join(fn(source))
            except KillahError as exc:
                self._generated.emit("error", start, end, str(exc))
                return
            self._generated.emit(kind, start, end, text)

        threading.Thread(target=work, name="killah-voice-generate", daemon=True).start()

    def _apply_generated(self, kind: str, start: int, end: int, text: str) -> None:
        if kind == "error":
            self.message.emit(text)
            return
        current = self.editor.toPlainText()
        if kind == "continue":
            text = (
                text
                if (not text or text[0].isspace() or start == 0 or current[start - 1].isspace())
                else " " + text
            )
        st = DocState(current, start, (start, end) if end > start else None)
        out = self.session.dictate(text, st) if kind == "continue" else None
        if out is None:
            new_text = current[:start] + text.strip() + current[end:]
            edit = diff(current, new_text)
            out = Outcome(DocState(new_text, start + len(text.strip())), edit)
            self.session.on_external_edit(start, end - start, len(text.strip()))
            self.session.record_utterance(start, len(text.strip()))  # "scratch that" removes the rephrase
        self._apply_outcome(out)

    def _read_back(self, text: str) -> None:
        if not self.speak_back or not text.strip():
            return
        espeak = shutil.which("espeak-ng") or shutil.which("espeak")
        if espeak is None:
            self.message.emit("Reading back needs espeak-ng.")
            return
        subprocess.Popen([espeak, text], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    # ------------------------------------------------------------ bookkeeping

    def _on_contents_changed(self) -> None:
        new = self.editor.toPlainText()
        if not self._applying:
            edit = diff(self._shadow, new)
            if edit is not None:
                self.session.on_external_edit(edit.pos, edit.removed, len(edit.inserted))
        self._shadow = new

    def _on_toggle(self, checked: bool) -> None:
        if checked:
            if not self.start("toggle"):
                self._block_toggle(False)
        else:
            self.stop()

    def _block_toggle(self, checked: bool) -> None:
        for action in (self.toggle_action, self.push_to_talk_action):
            blocked = action.blockSignals(True)
            action.setChecked(checked and action is self.toggle_action)
            action.blockSignals(blocked)

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.state_changed.emit(state)

    def _set_unavailable(self, reason: str) -> None:
        self.reason = reason
        self._block_toggle(False)
        for action in (self.toggle_action, self.push_to_talk_action):
            action.setEnabled(False)
            action.setToolTip(reason)
        self._set_state("unavailable")
        self.unavailable.emit(reason)
        # A later retry (a microphone plugged in) goes through check_availability().
        QTimer.singleShot(0, self.overlay.hide)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt override
        # Hold F9 in the editor to talk; key auto-repeat is ignored.
        if event.type() in (QEvent.KeyPress, QEvent.KeyRelease) and event.key() == PTT_KEY:
            if not event.isAutoRepeat() and self.push_to_talk_action.isEnabled():
                self.push_to_talk_action.setChecked(event.type() == QEvent.KeyPress)
            return True
        return super().eventFilter(obj, event)

    def shutdown(self) -> None:
        """Stop the voice thread (call from the window's closeEvent)."""
        self._listener.stop(wait=True)
