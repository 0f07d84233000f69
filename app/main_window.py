"""The main window: menus, status bar and the wiring between the editor and the services.

It owns no logic of its own beyond wiring: suggestions live in
``completion.py``, Continue/Rephrase in ``assist.py``, files and autosave in
``documents_service.py``, the style memory in ``style_panel.py``, the engine
thread in ``engine_worker.py``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction, QCloseEvent, QFont, QFontDatabase, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QLabel, QMainWindow, QMenu, QProgressBar

from app.assist import AssistController
from app.autosave import AutosaveStore
from app.choices import install_choices
from app.completion import CompletionController
from app.documents_service import DocumentsService
from app.editor import STANDARD_SHORTCUTS, GhostTextEdit, QtDebouncer
from app.engine_worker import CompletionSourceAdapter, EngineClient
from app.prompter import Prompter
from app.refcount_guard import pin_singletons
from app.settings import Settings, load_settings, save_settings
from app.settings_dialog import SettingsDialog
from app.style_learning import install_style_learning
from app.style_panel import StylePanel, StyleService
from app.style_rephrase import install_style_rephrase
from engine.documents import shown_path

log = logging.getLogger("killah.app")
LONG_DOCUMENT_CHARS = 200_000

SHORTCUTS_HELP = """\
Tab — accept the grey suggestion
Ctrl+Right — accept its next word
Esc — dismiss the suggestion / stop Continue
Ctrl+Space — suggest now
Ctrl+Enter — Continue writing at the cursor
Ctrl+Shift+R — Rephrase the selection
Ctrl+Z / Ctrl+Shift+Z — undo / redo (a Continue or a Rephrase is one step)
Ctrl+S / Ctrl+Shift+S — save / save as
Ctrl+= / Ctrl+- — larger / smaller text"""


class MainWindow(QMainWindow):
    def __init__(
        self,
        *,
        settings: Settings | None = None,
        prompter: Prompter | None = None,
        engine: Any = None,
        model: str | None = None,
        load_model: bool = True,
        autocomplete: bool | None = None,
        style_memory: bool = True,
    ) -> None:
        super().__init__()
        pin_singletons()  # PySide6 6.12's dropped references on None/True: every part of the app (refcount_guard)
        self.settings = settings or load_settings()
        self.prompter = prompter or Prompter(self)
        self.setWindowTitle("Killah")
        self.resize(900, 640)

        self.editor = GhostTextEdit(self)
        self.setCentralWidget(self.editor)
        self.apply_font_size(self.settings.font_size)

        self.client = EngineClient(engine, self)
        self.client.set_min_p(self.settings.min_p)
        self.completion_source = CompletionSourceAdapter(self.client)
        enabled = self.settings.autocomplete if autocomplete is None else autocomplete
        self.completion = CompletionController(
            self.completion_source,
            QtDebouncer(self),
            debounce_ms=self.settings.debounce_ms,
            allow_mid_line=self.settings.ghost_mid_line,
            enabled=enabled and self.client.ready,
            prefill_while_typing=self.settings.prefill_while_typing,
            speculate=self.settings.speculate_next,
            min_logprob=self.settings.min_logprob if self.settings.confidence_gate else None,
        )
        self._autocomplete_wanted = enabled
        self.editor.set_controller(self.completion)
        self.client.piece.connect(self._on_engine_piece)
        self.client.scored.connect(self._on_engine_scored)
        self.client.finished.connect(self._on_engine_finished)
        self.client.failed.connect(self._on_engine_failed)

        self.assist = AssistController(self.editor, self.client, self.prompter.info, self)
        self.autosave = AutosaveStore()
        self.documents = DocumentsService(self.editor, self.prompter, self.settings, self.autosave, self)
        self.documents.pathChanged.connect(lambda _: self._update_title())
        self.documents.pathChanged.connect(lambda _: self.client.set_style_document(self._style_document()))
        self.client.styleUsed.connect(self._on_style_used)
        self.documents.opened.connect(self._on_document_opened)
        self.editor.document().modificationChanged.connect(lambda _: self._update_title())

        self.style_service: StyleService | None = StyleService(parent=self) if style_memory else None
        self.style_panel: StylePanel | None = None
        if self.style_service is not None:
            self.style_panel = StylePanel(self.style_service, self.prompter, self)
            self.addDockWidget(Qt.RightDockWidgetArea, self.style_panel)
            self.style_panel.hide()

        self.dictation: Any = None
        self._shut_down = False
        self._build_status_bar()
        self._build_menus()
        self.choices = install_choices(self)  # recording, "Learn from my choices", the personal adapter
        self.style_rephrase = install_style_rephrase(self)  # "Rephrase in my style…", on the style memory
        self.style_learning = install_style_learning(self)  # "Learn my style": the style adapter
        self._word_timer = QTimer(self)
        self._word_timer.setSingleShot(True)
        self._word_timer.timeout.connect(self._update_word_count)
        self.editor.textChanged.connect(self._schedule_word_count)
        self.assist.busyChanged.connect(self._on_assist_busy)
        self.client.loadProgress.connect(self._on_load_progress)
        self.client.modelLoaded.connect(self._on_model_loaded)
        self.client.loadFailed.connect(self._on_load_failed)
        self._apply_persona()
        hints = QGuiApplication.styleHints()
        if hasattr(hints, "colorSchemeChanged"):  # light/dark follows the system
            hints.colorSchemeChanged.connect(lambda *_: self.editor.viewport().update())
        self._update_title()
        self._update_mode_label()
        if engine is not None:
            self._on_model_loaded(self.client.model_name)
        elif load_model:
            self.model_label.setText("Model: loading…")
            self.client.load(
                model if model is not None else self.settings.model,
                backend="auto" if self.settings.fast_programs else "eager",
            )
        else:
            self.model_label.setText("Model: none")

    # -- building -------------------------------------------------------------------

    def _build_status_bar(self) -> None:
        bar = self.statusBar()
        self.model_label = QLabel("Model: —")
        self.load_progress = QProgressBar()
        self.load_progress.setRange(0, 1000)
        self.load_progress.setMaximumWidth(160)
        self.load_progress.setVisible(False)
        self.mode_label = QLabel("Ready")
        self.persona_label = QLabel()
        self.mic_label = QLabel("Mic: off")
        self.words_label = QLabel("0 words")
        bar.addWidget(self.model_label)
        bar.addWidget(self.load_progress)
        bar.addWidget(self.mode_label)
        for label in (self.persona_label, self.mic_label, self.words_label):
            bar.addPermanentWidget(label)

    def _action(self, menu: QMenu, text: str, slot, shortcut: QKeySequence | str | None = None,
                checkable: bool = False, checked: bool = False) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if checkable:
            action.setCheckable(True)
            action.setChecked(checked)
            action.toggled.connect(slot)
        else:
            action.triggered.connect(lambda *_: slot())
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&New", self.documents.new, QKeySequence.New)
        self._action(file_menu, "&Open…", lambda: self.documents.open(), QKeySequence.Open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        self._action(file_menu, "&Save", self.documents.save, QKeySequence.Save)
        self._action(file_menu, "Save &As…", self.documents.save_as, QKeySequence("Ctrl+Shift+S"))
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.Quit)

        edit = self.edit_menu = bar.addMenu("&Edit")
        self._action(edit, "&Undo", self.editor.undo, QKeySequence.Undo)
        self._action(edit, "&Redo", self.editor.redo, QKeySequence("Ctrl+Shift+Z"))
        edit.addSeparator()
        self._action(edit, "Cu&t", self.editor.cut, QKeySequence.Cut)
        self._action(edit, "&Copy", self.editor.copy, QKeySequence.Copy)
        self._action(edit, "&Paste", self.editor.paste, QKeySequence.Paste)
        self._action(edit, "Select &All", self.editor.selectAll, QKeySequence.SelectAll)
        edit.addSeparator()
        self.suggest_action = self._action(edit, "Suggest now", self.suggest_now, STANDARD_SHORTCUTS["suggest"])
        self.continue_action = self._action(edit, "Continue writing", self.assist.continue_at_cursor,
                                            STANDARD_SHORTCUTS["continue"])
        self.another_take_action = self._action(edit, "Another take of the continuation", self.assist.another_take,
                                                QKeySequence("Ctrl+Shift+Return"))
        self.rephrase_action = self._action(edit, "Rephrase selection…", self.assist.rephrase_selection,
                                            STANDARD_SHORTCUTS["rephrase"])
        self.stop_action = self._action(edit, "Stop generating (Esc)", self.assist.cancel)
        self.stop_action.setEnabled(False)
        # The same actions (same shortcuts) in the editor's right-click menu.
        self.editor.context_actions = [self.continue_action, self.another_take_action, self.rephrase_action]

        view = bar.addMenu("&View")
        self._action(view, "Larger text", lambda: self.apply_font_size(self.settings.font_size + 1),
                     QKeySequence("Ctrl+="))
        self._action(view, "Smaller text", lambda: self.apply_font_size(self.settings.font_size - 1),
                     QKeySequence("Ctrl+-"))
        self._action(view, "Default text size", lambda: self.apply_font_size(12), QKeySequence("Ctrl+0"))
        if self.style_panel is not None:
            view.addSeparator()
            view.addAction(self.style_panel.toggleViewAction())

        tools = bar.addMenu("&Tools")
        self.autocomplete_action = self._action(tools, "Suggest as I type", self.set_autocomplete,
                                                checkable=True, checked=self._autocomplete_wanted)
        self.persona_action = self._action(tools, "Write in my style", self.set_persona, checkable=True,
                                           checked=self.settings.persona)
        if self.style_service is not None:
            self._action(tools, "Add a folder to the style memory…", self.add_style_folder)
        tools.addSeparator()
        # Dictation: the voice engineer's controller plugs in here (see attach_dictation).
        self.dictation_menu = tools
        self._dictation_anchor = tools.addSeparator()
        self._action(tools, "&Settings…", self.open_settings, QKeySequence("Ctrl+,"))

        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "Keyboard shortcuts", lambda: self.prompter.info("Shortcuts", SHORTCUTS_HELP))
        self._action(help_menu, "About Killah", lambda: self.prompter.info(
            "About Killah", "Killah: an offline writing assistant with lil Pushkin.\n"
            "Everything runs on this computer; nothing you write leaves it."))

    # -- dictation hook (owned by app/dictation_controller.py) ---------------------------

    def attach_dictation(self, controller: Any) -> None:
        """DICTATION HOOK: the voice engineer creates their controller and passes it here, e.g.

            window.attach_dictation(DictationController(window.editor, parent=window,
                                                        device=window.settings.microphone or None))

        Pre-wired from app/dictation_controller.py's public API (each part only if present):
        its actions go into the Tools menu, its state into the status bar's mic label, its
        messages into the status bar, and it gets the engine once the model is loaded.
        The voice engineer adds any further lines below the marker.
        """
        self.dictation = controller
        for name in ("toggle_action", "push_to_talk_action"):
            action = getattr(controller, name, None)
            if action is not None:
                self.dictation_menu.insertAction(self._dictation_anchor, action)
        if hasattr(controller, "state_changed"):
            controller.state_changed.connect(self.set_mic_state)
        for name in ("unavailable", "message"):
            if hasattr(controller, name):
                getattr(controller, name).connect(lambda text: self.statusBar().showMessage(text, 8000))
        if hasattr(controller, "engine"):
            if controller.engine is None and self.client.ready:
                controller.engine = self.client.worker.engine
            self.client.modelLoaded.connect(lambda _: setattr(controller, "engine", self.client.worker.engine))
        # --- voice engineer: further dictation wiring goes here ---
        if hasattr(controller, "set_tidy"):
            # The model's clean-up runs on the window's engine worker, like every other request.
            controller.set_engine_client(self.client)
            controller.set_tidy(self.settings.tidy_mode)
        if hasattr(controller, "set_recognizer"):
            controller.set_recognizer(self.settings.recognizer)
            controller.set_vocabulary(self.settings.dictation_vocabulary)
        if hasattr(controller, "level_changed"):
            from app.voice_widgets import LevelMeter

            meter = LevelMeter()
            self.statusBar().addPermanentWidget(meter)
            controller.level_changed.connect(meter.set_level)
        # "rephrase that" / "continue" run on the controller's thread; the engine's own lock
        # serializes them with the window's requests, so they never run at the same time.

    def set_mic_state(self, text: str) -> None:
        self.mic_label.setText(f"Mic: {text}")

    def insert_dictated_text(self, text: str) -> None:
        if not text:
            return
        cursor = self.editor.textCursor()
        cursor.beginEditBlock()
        cursor.insertText(text)
        cursor.endEditBlock()
        self.editor.setTextCursor(cursor)

    # -- engine events -------------------------------------------------------------------

    def _on_load_progress(self, stage: str, fraction: float) -> None:
        self.load_progress.setVisible(fraction < 1.0)
        self.load_progress.setValue(int(fraction * 1000))
        self.model_label.setText(f"Model: {stage}…" if fraction < 1.0 else "Model: ready")

    def _on_model_loaded(self, name: str) -> None:
        self.load_progress.setVisible(False)
        self.model_label.setText(f"Model: {name}")
        self.completion.set_enabled(self._autocomplete_wanted)
        self._update_mode_label()
        if self.editor.toPlainText().strip():
            self.completion.on_edit(self.editor.cursor_context())  # text typed while loading: suggest now

    def _on_load_failed(self, message: str) -> None:
        self.load_progress.setVisible(False)
        self.model_label.setText("Model: unavailable")
        self.prompter.error("The model could not be loaded", f"{message}\n\nYou can keep writing; "
                            "suggestions are off.")

    def _on_engine_piece(self, client_id: int, piece: str) -> None:
        request_id = self.completion_source.controller_id(client_id)
        if request_id is not None:
            self.completion.on_piece(request_id, piece)

    def _on_engine_scored(self, client_id: int, mean_logprob: float) -> None:
        request_id = self.completion_source.controller_id(client_id)
        if request_id is not None:
            self.completion.on_confidence(request_id, mean_logprob)

    def _on_engine_finished(self, client_id: int, stats: object) -> None:
        request_id = self.completion_source.controller_id(client_id)
        if request_id is not None:
            self.completion_source.forget(client_id)
            self.completion.on_finished(request_id)

    def _on_engine_failed(self, client_id: int, message: str) -> None:
        request_id = self.completion_source.controller_id(client_id)
        if request_id is not None:
            self.completion_source.forget(client_id)
            self.completion.on_failed(request_id, message)
            self.statusBar().showMessage(message, 5000)

    def _on_assist_busy(self, busy: bool) -> None:
        self.stop_action.setEnabled(busy)
        self.continue_action.setEnabled(not busy)
        self.another_take_action.setEnabled(not busy)
        self.rephrase_action.setEnabled(not busy)
        self._update_mode_label()

    def _update_mode_label(self) -> None:
        """The mode the model is in: a running Continue/Rephrase, else whether it suggests."""
        mode = self.assist.mode
        if mode == "continue":
            text = "Continue… (Esc stops)"
        elif mode == "rephrase":
            text = "Rephrase in my style…" if self.assist.in_style else "Rephrase…"
        else:
            text = "Autocomplete" if self.completion.enabled else "Autocomplete off"
        self.mode_label.setText(text)

    # -- commands ------------------------------------------------------------------------

    def suggest_now(self) -> None:
        if self.client.ready:
            self.completion.request_now(self.editor.cursor_context())

    def set_autocomplete(self, on: bool) -> None:
        self._autocomplete_wanted = on
        self.settings.autocomplete = on
        self.completion.set_enabled(on and self.client.ready)
        self._update_mode_label()
        self._save_settings()

    def set_persona(self, on: bool) -> None:
        self.settings.persona = on
        self._apply_persona()
        self._save_settings()

    def _apply_persona(self) -> None:
        """Style on: the engine puts the writer's own paragraphs (retrieved per paragraph) before the text.

        The soft-token projector is not used by default: on held-out writers it did not add to
        retrieval consistently (docs/persona.md, "Retrieved exemplars").
        """
        on = self.settings.persona and self.style_service is not None
        memory = self.style_service.memory() if on else None
        self.client.set_style(memory, self._style_document())
        if not on:
            self.persona_label.setText("Style: off")
        elif memory is None:
            self.persona_label.setText("Style: off (style memory unavailable)")
        else:
            self.persona_label.setText("Style: on")

    def _style_document(self) -> str:
        return str(self.documents.path) if self.documents.path else f"untitled-{id(self.editor)}"

    def _on_style_used(self, _request_id: int, style: Any) -> None:
        """What conditioned the last request, in the status bar and the Style memory panel."""
        if style is None or not self.client.style_on or not style.mode_styled:  # off meanwhile, or a mode
            return  # that never takes style (ghost text): the label keeps what conditions Continue
        self.persona_label.setText(style.describe())
        self.persona_label.setToolTip("\n".join(style.sources))
        if self.style_panel is not None:
            self.style_panel.show_style(style)

    def apply_font_size(self, size: int) -> None:
        size = max(6, min(72, int(size)))
        self.settings.font_size = size
        font = QFontDatabase.systemFont(QFontDatabase.GeneralFont)
        font.setPointSize(size)
        font.setStyleHint(QFont.Serif)
        self.editor.setFont(font)

    def open_settings(self) -> SettingsDialog:
        dialog = SettingsDialog(self.settings, self)
        dialog.accepted.connect(lambda: self.apply_settings(dialog.result_settings))
        dialog.open()
        return dialog

    def apply_settings(self, new: Settings) -> None:
        model_changed = new.model != self.settings.model
        new.recent_files = self.settings.recent_files
        new.style_declined_folders = self.settings.style_declined_folders
        self.settings = new
        self.documents.settings = new
        self.completion.debounce_ms = new.debounce_ms
        self.completion.allow_mid_line = new.ghost_mid_line
        self.completion.prefill_while_typing = new.prefill_while_typing
        self.completion.speculate = new.speculate_next
        self.completion.min_logprob = new.min_logprob if new.confidence_gate else None
        self.autocomplete_action.setChecked(new.autocomplete)
        self.set_autocomplete(new.autocomplete)
        self.persona_action.setChecked(new.persona)
        self._apply_persona()
        self.client.set_min_p(new.min_p)
        if self.dictation is not None and hasattr(self.dictation, "set_tidy"):
            self.dictation.set_tidy(new.tidy_mode)
        if self.dictation is not None and hasattr(self.dictation, "set_recognizer"):
            self.dictation.set_recognizer(new.recognizer)
            self.dictation.set_vocabulary(new.dictation_vocabulary)
        self.documents.set_autosave_interval(new.autosave_seconds)
        self.apply_font_size(new.font_size)
        self._save_settings()
        if model_changed:
            self.statusBar().showMessage("The new model is used after a restart.", 8000)

    def _save_settings(self) -> None:
        try:
            save_settings(self.settings)
        except OSError as exc:
            self.statusBar().showMessage(f"Settings not saved: {exc.strerror or exc}", 8000)

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent_files:
            action = self.recent_menu.addAction(shown_path(path))
            action.triggered.connect(lambda *_, p=path: self.documents.open(p))
        if not self.settings.recent_files:
            self.recent_menu.addAction("(none)").setEnabled(False)

    # -- style memory consent ---------------------------------------------------------------

    def _on_document_opened(self, path: Path, document: Any) -> None:
        self._save_settings()  # the recent-files list
        if self.style_service is None:
            return
        folder = str(Path(path).absolute().parent)
        if self.style_service.has_consent(path):
            self.style_service.add_folder(folder)  # already allowed: pick up new and changed files
            return
        if folder in self.settings.style_declined_folders:
            return
        if self.prompter.question(
            "Learn your style from this folder?",
            f"Killah can learn how you write from the documents in\n{shown_path(folder)}\n\n"
            "They are read on this computer only and never leave it. You can pause or delete this "
            "at any time in View → Style memory. Allow it for this folder?",
            default_yes=False,
        ):
            self.style_service.add_folder(folder)
            if self.style_panel is not None:
                self.style_panel.show()
        else:
            self.settings.style_declined_folders.append(folder)
            self._save_settings()

    def add_style_folder(self) -> None:
        from PySide6.QtWidgets import QFileDialog

        folder = QFileDialog.getExistingDirectory(self, "Folder of your writing")
        if folder and self.style_service is not None:
            self.style_service.add_folder(folder)
            if self.style_panel is not None:
                self.style_panel.show()

    # -- window state -------------------------------------------------------------------------

    def _schedule_word_count(self) -> None:
        # Counting copies and splits the whole text on the UI thread (~80 ms for 2 MB here): a long
        # document is counted after a longer pause, so that typing in it never waits for the count.
        long_text = self.editor.document().characterCount() > LONG_DOCUMENT_CHARS
        self._word_timer.start(2000 if long_text else 300)

    def _update_word_count(self) -> None:
        words = len(self.editor.toPlainText().split())  # words between spaces, as word processors count
        self.words_label.setText(f"{words:,} words")

    def _update_title(self) -> None:
        star = "*" if self.documents.modified else ""
        self.setWindowTitle(f"{star}{self.documents.title} — Killah")

    def offer_recovery(self) -> None:
        self.documents.offer_recovery()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt naming
        if self.documents.modified and self.editor.toPlainText().strip():
            choice = self.prompter.save_discard_cancel(
                "Unsaved changes", f"Save the changes to {self.documents.title} before closing?"
            )
            if choice == "cancel" or (choice == "save" and not self.documents.save()):
                event.ignore()
                return
        self.shutdown()
        event.accept()

    def shutdown(self, keep_autosave: bool = False) -> None:
        """Stop the threads and release the autosave (kept only when asked: crash-like exits)."""
        if self._shut_down:
            return
        self._shut_down = True
        self.documents.stop_autosave()
        if self.dictation is not None and hasattr(self.dictation, "shutdown"):
            self.dictation.shutdown()
        self.assist.cancel()
        self.choices.shutdown()
        self.style_learning.shutdown()
        self.completion.dismiss()
        self.client.shutdown()
        if self.style_service is not None:
            self.style_service.shutdown()
        self.autosave.close(keep=keep_autosave)
        self._save_settings()
