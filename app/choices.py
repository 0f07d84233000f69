"""Learning from the writer's choices, in the app: recording, "Learn from my choices", the personal adapter.

- ``ChoiceRecorder`` watches the editor's ghost text and records, into ``engine.preferences``,
  each suggestion taken (Tab, or typed through) or dropped with what the writer typed instead,
  and an accepted suggestion reworked within ``EDIT_WINDOW_MS``. Nothing while recording is off.
- ``LearnProcess`` runs training/recipes/personal_dpo.py as a separate, niced process (QProcess):
  the editor's thread only reads its JSON progress lines, so typing never waits for it.
- ``PersonalAdapterRequests`` asks the engine, on the engine's own thread (so between two
  requests, never during one), to reload, switch or delete the personal adapter.
- ``install_choices(window)`` puts it all in the main window: Tools menu actions, a progress bar
  in the status bar, the Style memory panel's summary line and its "delete everything".
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QProcess, QTimer, Signal, Slot
from PySide6.QtWidgets import QLabel, QProgressBar

from engine.adapters import PERSONAL, delete_user_adapter
from engine.preferences import WORSE_UPDATE, NotEnoughChoices, PreferenceLog

REPO = Path(__file__).resolve().parent.parent
RECIPE_CONFIG = "training/configs/gemma3-270m/personal_dpo.yaml"
EDIT_WINDOW_MS = 8000  # an accepted suggestion changed within this time counts as an edit of it
EDIT_MAX_CHARS = 80  # past this the writer is writing on, not reworking the suggestion
# "Learn when idle": after this long without a keystroke, with at least this many new training pairs
# since the last update. An update on one core takes minutes (docs/adapters.md): not for every pause.
IDLE_LEARN_MS = 10 * 60 * 1000
IDLE_LEARN_NEW_PAIRS = 50


@dataclass
class _Offer:
    base: str  # text before the cursor when the ghost appeared
    suggestion: str  # the longest ghost seen for that base (it streams in)


class ChoiceRecorder(QObject):
    """Infers taken / dropped suggestions from the editor's ghost and text (no hooks in the editor)."""

    recorded = Signal(str)  # the record kind, after each write

    def __init__(self, editor: Any, log: PreferenceLog, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.editor, self.log = editor, log
        self._offer: _Offer | None = None  # the ghost now shown
        self._dropped: _Offer | None = None  # dismissed: waiting to see what the writer types instead
        self._accepted: tuple[_Offer, str] | None = None  # taken: (offer, text after it) for the edit check
        self._edit_timer = QTimer(self)
        self._edit_timer.setSingleShot(True)
        self._edit_timer.timeout.connect(self._check_edit)
        editor.ghostShown.connect(self._on_ghost)
        editor.textChanged.connect(self._on_text)

    def _prefix(self) -> str:
        return self.editor.cursor_context().prefix

    def _on_ghost(self, ghost: str) -> None:
        prefix = self._prefix()
        if ghost:
            offer = self._offer
            if offer is not None and prefix.startswith(offer.base):
                full, seen = offer.base + offer.suggestion, prefix + ghost
                if seen.startswith(full) or full.startswith(seen):  # the same suggestion, streamed or typed into
                    offer.suggestion = max(offer.suggestion, seen[len(offer.base) :], key=len)
                    return
            if offer is not None:
                self._dropped = offer  # replaced by another suggestion without the ghost going away
            self._flush_dropped()
            self._offer = _Offer(prefix, ghost)
            return
        offer, self._offer = self._offer, None
        if offer is None:
            return
        if prefix == offer.base + offer.suggestion:  # Tab, or typed through to its end
            if self._edit_timer.isActive():  # the previous accepted one: judged now, before it is replaced
                self._edit_timer.stop()
                self._check_edit()
            if self.log.record_ghost(offer.base, offer.suggestion, accepted=True):
                self.recorded.emit("ghost")
            self._accepted = (offer, self.editor.toPlainText()[len(prefix) :])
            self._edit_timer.start(EDIT_WINDOW_MS)
        else:
            self._flush_dropped()
            self._dropped = offer

    def _on_text(self) -> None:
        dropped = self._dropped
        if dropped is None:
            return
        typed = self._typed_after(dropped.base)
        if typed is None or len(typed) >= len(dropped.suggestion) or typed[-1:] in (".", "!", "?", "\n"):
            self._flush_dropped()

    def _typed_after(self, base: str) -> str | None:
        prefix = self._prefix()
        return prefix[len(base) :] if prefix.startswith(base) else None

    def _flush_dropped(self) -> None:
        """Record the dropped suggestion with what was typed in its place ('' if the writer went elsewhere)."""
        dropped, self._dropped = self._dropped, None
        if dropped is None:
            return
        typed = self._typed_after(dropped.base) or ""
        if self.log.record_ghost(dropped.base, dropped.suggestion, accepted=False, typed=typed.rstrip("\n")):
            self.recorded.emit("ghost")

    def _check_edit(self) -> None:
        """The accepted span, now: if the writer reworked it, record (accepted -> edited)."""
        accepted, self._accepted = self._accepted, None
        if accepted is None:
            return
        offer, after = accepted
        text = self.editor.toPlainText()
        if not text.startswith(offer.base) or not text.endswith(after):
            return
        span = text[len(offer.base) : len(text) - len(after)] if after else text[len(offer.base) :]
        if span.startswith(offer.suggestion) or len(span) > len(offer.suggestion) + EDIT_MAX_CHARS:
            return  # kept as is (and maybe written on), or too far gone to be a rework of it
        if self.log.record_edit(offer.base, offer.suggestion, span):
            self.recorded.emit("edit")

    def flush(self) -> None:
        """Record what is pending now (closing the window, starting to learn)."""
        self._flush_dropped()
        if self._edit_timer.isActive():
            self._edit_timer.stop()
            self._check_edit()


class LearnProcess(QObject):
    """The personal-adapter recipe as a background process; progress from its JSON stdout lines."""

    progress = Signal(int, int)  # step, of
    message = Signal(str)
    finished = Signal(bool, str)  # ok, message for the writer

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.process: QProcess | None = None
        self._buffer = b""
        self._errors = b""  # the tail of its stderr, for the message when it fails
        self._result: dict = {}

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.state() != QProcess.NotRunning

    @property
    def result(self) -> dict:
        """The recipe's last line ({"done": ..., metrics} or {"error": ...}), once it has ended."""
        return dict(self._result)

    def command(self, base: str, log_path: Path, overrides: Sequence[str] = ()) -> list[str]:
        """``overrides``: recipe keys (key.sub=value), e.g. where the adapters below it are (tests)."""
        args = [sys.executable, "-m", "training.recipes.personal_dpo", "--config", RECIPE_CONFIG,
                f"data.log={log_path}", *overrides]
        if base:
            args.append(f"base={base}")
        nice = shutil.which("nice")
        return [nice, "-n", "10", *args] if nice else args  # the writer's typing comes first

    def start(self, base: str, log_path: Path, overrides: Sequence[str] = ()) -> None:
        if self.running:
            return
        program, *args = self.command(base, log_path, overrides)
        self.process = QProcess(self)
        self.process.setWorkingDirectory(str(REPO))
        self.process.readyReadStandardOutput.connect(self._read)
        # Drained as it comes: a full stderr pipe (tqdm, warnings) would stall the training process.
        self.process.readyReadStandardError.connect(self._read_errors)
        self.process.finished.connect(self._done)
        self.process.errorOccurred.connect(self._error)
        self._buffer, self._result, self._errors = b"", {}, b""
        self.process.start(program, args)

    def cancel(self) -> None:
        if self.running:
            self.process.kill()
            self.process.waitForFinished(3000)

    def _read(self) -> None:
        self._buffer += bytes(self.process.readAllStandardOutput())
        *lines, self._buffer = self._buffer.split(b"\n")
        for line in lines:
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue  # a library printing on stdout: not ours
            if "step" in row and "of" in row:
                self.progress.emit(int(row["step"]), int(row["of"]))
            elif "message" in row:
                self.message.emit(str(row["message"]))
            if "done" in row or "error" in row:
                self._result = row

    def _read_errors(self) -> None:
        self._errors = (self._errors + bytes(self.process.readAllStandardError()))[-4096:]

    def _done(self, code: int, _status=None) -> None:
        self._read()
        result = self._result
        if "done" in result:
            gain = result.get("pair_logp_margin", 0.0)
            self.finished.emit(True, f"Learned from {result.get('pairs', 0)} of your choices "
                                     f"(chosen over rejected: {gain:+.2f} nats).")
        elif "error" in result:
            self.finished.emit(False, result["error"])
        else:
            self._read_errors()
            err = self._errors.decode("utf-8", "replace").strip().splitlines()
            self.finished.emit(False, f"Learning stopped (exit code {code}): {err[-1] if err else 'no message'}")

    def _error(self, error) -> None:
        if error == QProcess.FailedToStart:
            self.finished.emit(False, "Learning could not start: the training tools are not installed.")


class PersonalAdapterRequests(QObject):
    """Runs on the engine thread: adapter changes happen between generation requests, never during one."""

    done = Signal(str)  # the autocomplete composition's status afterwards
    _requested = Signal(str)

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client
        self.moveToThread(client.worker.thread())
        self._requested.connect(self._apply)

    def request(self, action: str) -> None:
        """"reload" (after training), "on", "off" or "delete"."""
        self._requested.emit(action)

    @Slot(str)
    def _apply(self, action: str) -> None:
        registry = getattr(self.client.worker.engine, "adapters", None)
        if registry is None:
            if action == "delete":
                delete_user_adapter(PERSONAL)
            self.done.emit("no adapters are loaded for this model")
            return
        if action == "reload":
            registry.load_personal()
        elif action == "delete":
            registry.delete_personal()
        elif PERSONAL in registry.installed:
            registry.set_enabled(PERSONAL, action == "on")
        # The next request's activate() sees the new set and drops the stale KV cache (engine/api.py).
        self.done.emit(registry.status("autocomplete"))


class ChoicesUi(QObject):
    """The main window's part: settings toggle, menu actions, status-bar progress, panel summary."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        settings = window.settings
        self.log = PreferenceLog(recording=bool(getattr(settings, "record_choices", False)))
        self.recorder = ChoiceRecorder(window.editor, self.log, self)
        self.learner = LearnProcess(self)
        self.requests = PersonalAdapterRequests(window.client)
        self.requests.done.connect(self._on_adapter_status)
        self.learner.progress.connect(self._on_progress)
        self.learner.message.connect(lambda text: window.statusBar().showMessage(text, 8000))
        self.learner.finished.connect(self._on_learned)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(140)
        self.bar.setFormat("Learning %v/%m")
        self.bar.setVisible(False)
        window.statusBar().addPermanentWidget(self.bar)
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self._build_actions(window.dictation_menu)
        self._attach_style_panel(getattr(window, "style_panel", None))
        self.recorder.recorded.connect(lambda _kind: self._refresh_summary())
        window.client.modelLoaded.connect(self._on_model_loaded)
        ready = getattr(window.assist, "rephraseReady", None)  # the Rephrase dialog, once its takes are in
        if ready is not None:
            ready.connect(self._watch_rephrase)
        if window.client.ready:
            self._on_model_loaded(window.client.model_name)
        self.idle = QTimer(self)  # restarted by every edit: it fires only after IDLE_LEARN_MS of quiet
        self.idle.setSingleShot(True)
        self.idle.setInterval(IDLE_LEARN_MS)
        self.idle.timeout.connect(self.learn_when_idle)
        window.editor.textChanged.connect(self.idle.start)
        self._learning_pairs = 0
        self._refresh_summary()

    def _build_actions(self, menu) -> None:
        menu.addSeparator()
        window = self.window
        self.record_action = window._action(menu, "Record my choices", self.set_recording, checkable=True,
                                            checked=self.log.recording)
        self.learn_action = window._action(menu, "Learn from my choices", self.learn)
        self.idle_action = window._action(menu, "Learn when idle", self.set_learn_when_idle, checkable=True,
                                          checked=bool(getattr(window.settings, "learn_when_idle", False)))
        self.personal_action = window._action(menu, "Use my personal adapter", self.set_personal,
                                              checkable=True,
                                              checked=bool(getattr(window.settings, "personal_adapter", True)))
        self.delete_action = window._action(menu, "Delete my personal adapter", self.delete_personal)

    def _attach_style_panel(self, panel) -> None:
        if panel is None:
            return
        layout = panel.widget().layout() if panel.widget() is not None else None
        if layout is not None:
            layout.addWidget(self.summary)
        deleted = getattr(panel, "deletedAll", None)
        if deleted is not None:
            deleted.connect(self.delete_everything)

    def _refresh_summary(self) -> None:
        self.summary.setText(self.log.summary())
        if self.log.set_aside_message:
            self.window.statusBar().showMessage(self.log.set_aside_message, 10000)
            self.log.set_aside_message = ""

    def set_recording(self, on: bool) -> None:
        self.recorder.flush()
        self.log.recording = on
        self.window.settings.record_choices = on
        self.window._save_settings()
        self._refresh_summary()

    def learn(self) -> None:
        self.recorder.flush()
        try:
            pairs = len(self.log.pairs())  # the clear "not enough choices yet" before starting anything
        except NotEnoughChoices as exc:
            self.window.prompter.info("Learn from my choices", str(exc))
            return
        self._start_learning(pairs)

    def _start_learning(self, pairs: int) -> None:
        self._learning_pairs = pairs
        self.bar.setRange(0, 0)  # busy until the first step line
        self.bar.setVisible(True)
        self.learn_action.setEnabled(False)
        self.learner.start(self.window.settings.model, self.log.path)

    def set_learn_when_idle(self, on: bool) -> None:
        self.window.settings.learn_when_idle = on
        self.window._save_settings()

    def new_pairs(self, total: int | None = None) -> int:
        """Training pairs recorded since the last update was trained (all of them before the first)."""
        total = len(self.log.pairs(minimum=0)) if total is None else total
        return total - int(getattr(self.window.settings, "learned_pairs", 0))

    def learn_when_idle(self) -> bool:
        """The quiet timer's end: start an update if the writer asked for it and there is enough new to learn."""
        settings = self.window.settings
        if not (getattr(settings, "learn_when_idle", False) and self.log.recording) or self.learner.running:
            return False
        self.recorder.flush()
        total = len(self.log.pairs(minimum=0))
        new = self.new_pairs(total)
        if new < IDLE_LEARN_NEW_PAIRS:
            return False
        self.window.statusBar().showMessage(f"Learning from {new} new choices while you are away…", 8000)
        self._start_learning(total)
        return True

    def _on_progress(self, step: int, of: int) -> None:
        self.bar.setRange(0, max(1, of))
        self.bar.setValue(step)

    def _on_learned(self, ok: bool, message: str) -> None:
        self.bar.setVisible(False)
        self.learn_action.setEnabled(True)
        if ok or message.startswith(WORSE_UPDATE):  # these pairs were learned from (or judged): not again
            self.window.settings.learned_pairs = self._learning_pairs
            self.window._save_settings()
        self.window.statusBar().showMessage(message, 10000)
        if ok:
            self.requests.request("reload")

    def set_personal(self, on: bool) -> None:
        self.window.settings.personal_adapter = on
        self.window._save_settings()
        self.requests.request("on" if on else "off")

    def delete_personal(self) -> None:
        self.requests.request("delete")

    def delete_everything(self) -> None:
        """With the style memory's "delete everything": the recorded choices and the personal adapter."""
        self.log.delete_all()
        self.requests.request("delete")
        self._refresh_summary()

    def _on_adapter_status(self, status: str) -> None:
        self.window.statusBar().showMessage(f"Adapters: {status}", 8000)

    def _watch_rephrase(self, dialog: Any) -> None:
        """When the writer replaces with a take: chosen = what they applied (maybe edited), rejected = the
        first take they did not apply (the dialog shows the takes one at a time)."""

        def applied() -> None:
            chosen = dialog.rewrite_text()
            others = [c.text for c in getattr(dialog, "candidates", ()) if c.text.strip() != chosen.strip()]
            if self.log.record_rephrase(dialog.original, chosen, others[:1]):
                self.recorder.recorded.emit("rephrase")

        dialog.accepted.connect(applied)

    def _on_model_loaded(self, _name: str) -> None:
        if not getattr(self.window.settings, "personal_adapter", True):
            self.requests.request("off")

    def shutdown(self) -> None:
        """Record what is pending; a running training stops with the app (it starts afresh next time)."""
        self.recorder.flush()
        self.learner.cancel()


def install_choices(window: Any) -> ChoicesUi:
    return ChoicesUi(window)
