"""Learn my style, in the app: Tools > "Learn my style" trains the writer's style adapter in the background.

- ``StyleLearnProcess`` runs training/recipes/personal_style.py on the style memory's SQLite file as a
  separate, niced process (``app.choices.LearnProcess``'s JSON-line protocol: progress, then a result).
- ``StyleAdapterRequests`` lives on the engine thread: after training the engine reloads the adapter
  between two requests (``Engine.reload_user_adapter``); "Delete all" in the style memory panel (the
  memory's "delete everything") deletes it too (``Engine.delete_user_adapter``).
- ``StyleLearningUi`` is the window's part: the menu action, the status-bar progress bar, the messages.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot
from PySide6.QtWidgets import QProgressBar

from app.choices import LearnProcess
from engine.adapters import PERSONAL_STYLE

RECIPE_CONFIG = "training/configs/gemma3-270m/personal_style.yaml"
MIN_PARAGRAPHS = 24  # the recipe config's data.min_paragraphs (a test keeps them equal)


def not_enough(n: int) -> str:
    return f"Not enough of your writing yet: {n} paragraphs (needs {MIN_PARAGRAPHS})."


class StyleLearnProcess(LearnProcess):
    """The personal_style recipe as a background process."""

    def command(self, base: str, memory_path: Path, overrides: Sequence[str] = ()) -> list[str]:
        """``overrides``: recipe keys (key.sub=value) after the app's own, e.g. a test's smaller settings."""
        args = [sys.executable, "-m", "training.recipes.personal_style", "--config", RECIPE_CONFIG,
                f"data.memory={memory_path}"]
        if base:
            args.append(f"base={base}")
        args += list(overrides)
        nice = shutil.which("nice")
        return [nice, "-n", "10", *args] if nice else args  # the writer's typing comes first

    def _done(self, code: int, _status=None) -> None:
        self._read()
        result = self._result
        if "done" in result and result.get("up_to_date"):
            self.finished.emit(True, str(result.get("message", "Your style is up to date.")))
        elif "done" in result:
            self.finished.emit(True, (
                f"Learned your style from {result.get('trained_paragraphs', 0)} paragraphs (on your text kept "
                f"aside: {result.get('heldout_nll_before', 0):.2f} -> {result.get('heldout_nll_after', 0):.2f} "
                "nats per word piece)."
            ))
        else:
            super()._done(code, _status)


class StyleAdapterRequests(QObject):
    """Runs on the engine thread: adapter changes happen between generation requests, never during one."""

    done = Signal(str)  # the composition's status afterwards
    _requested = Signal(str)

    def __init__(self, client: Any) -> None:
        super().__init__()
        self.client = client
        self.moveToThread(client.worker.thread())
        self._requested.connect(self._apply)

    def request(self, action: str) -> None:
        """"reload" (after training) or "delete"."""
        self._requested.emit(action)

    @Slot(str)
    def _apply(self, action: str) -> None:
        engine = self.client.worker.engine
        if engine is None:  # no model loaded yet: deleting the files is still asked for
            if action == "delete":
                from engine.adapters import delete_user_adapter

                delete_user_adapter(PERSONAL_STYLE)
            self.done.emit("no model is loaded")
            return
        if action == "reload":
            self.done.emit(engine.reload_user_adapter(PERSONAL_STYLE))
        elif action == "delete":
            self.done.emit(engine.delete_user_adapter(PERSONAL_STYLE))


class StyleLearningUi(QObject):
    """Tools > "Learn my style", its progress bar, and the adapter's reload / deletion."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.overrides: list[str] = []  # extra recipe keys (tests: a tiny model's settings)
        self.learner = StyleLearnProcess(self)
        self.requests = StyleAdapterRequests(window.client)
        self.requests.done.connect(lambda status: window.statusBar().showMessage(f"Adapters: {status}", 8000))
        self.learner.progress.connect(self._on_progress)
        self.learner.message.connect(lambda text: window.statusBar().showMessage(text, 8000))
        self.learner.finished.connect(self._on_learned)
        self.bar = QProgressBar()
        self.bar.setMaximumWidth(160)
        self.bar.setFormat("Learning your style %v/%m")
        self.bar.setVisible(False)
        window.statusBar().addPermanentWidget(self.bar)
        menu = window.dictation_menu  # the Tools menu
        self.learn_action = window._action(menu, "Learn my style", self.learn)
        panel = getattr(window, "style_panel", None)
        if panel is not None:
            panel.deletedAll.connect(self.delete_adapter)
        choices = getattr(window, "choices", None)  # its quiet timer: Tools > "Learn when idle"
        if choices is not None:
            choices.idle.timeout.connect(self.learn_when_idle)
        self.last_message = ""

    def learn(self) -> bool:
        """Start the recipe on the style memory; False (and a message) when it cannot start."""
        service = getattr(self.window, "style_service", None)
        memory = service.memory() if service is not None else None
        if memory is None:
            self.window.prompter.info("Learn my style", "The style memory is off or could not be opened.")
            return False
        n = memory.paragraph_count()
        if n < MIN_PARAGRAPHS:  # the recipe counts only paragraphs of a few words or more: it may say so too
            self.window.prompter.info("Learn my style", not_enough(n) + " Add documents you wrote in the "
                                      "style memory panel first.")
            return False
        if self.learner.running:
            return False
        self.bar.setRange(0, 0)  # busy until the first step line
        self.bar.setVisible(True)
        self.learn_action.setEnabled(False)
        self.learner.start(self.window.settings.model, Path(memory.store.path), self.overrides)
        return True

    def new_documents(self, memory: Any) -> list[str]:
        """Documents of the memory that the style adapter in use has not learned (new or changed)."""
        from engine.adapters import user_artifacts_root
        from engine.errors import ArtifactError
        from engine.manifest import load_manifest

        try:
            entry = load_manifest(user_artifacts_root()).get(PERSONAL_STYLE)
        except ArtifactError:
            entry = None
        learned = dict(entry.extra.get("documents") or {}) if entry is not None else {}
        return [d.path for d in memory.store.documents() if learned.get(d.path) != d.sha256]

    def learn_when_idle(self) -> bool:
        """The quiet timer's end: learn the style if the writer asked for it ("Learn when idle") and the
        memory holds documents the adapter has not learned. Never beside the choices' own training."""
        window = self.window
        choices = getattr(window, "choices", None)
        if not getattr(window.settings, "learn_when_idle", False) or self.learner.running:
            return False
        if choices is not None and choices.learner.running:
            return False  # one background training at a time; the next quiet period tries again
        service = getattr(window, "style_service", None)
        memory = service.memory() if service is not None else None
        if memory is None or memory.paragraph_count() < MIN_PARAGRAPHS or not self.new_documents(memory):
            return False
        window.statusBar().showMessage("Learning your style from your new documents while you are away…", 8000)
        return self.learn()

    def _on_progress(self, step: int, of: int) -> None:
        self.bar.setRange(0, max(1, of))
        self.bar.setValue(step)

    def _on_learned(self, ok: bool, message: str) -> None:
        self.bar.setVisible(False)
        self.learn_action.setEnabled(True)
        self.last_message = message
        self.window.statusBar().showMessage(message, 10000)
        if ok:
            self.requests.request("reload")

    def delete_adapter(self) -> None:
        """With the style memory's "delete everything": a running training stops, the adapter goes."""
        self.learner.cancel()
        self.requests.request("delete")

    def shutdown(self) -> None:
        """A running training stops with the app; it leaves no half-written adapter (see the recipe)."""
        self.learner.cancel()


def install_style_learning(window: Any) -> StyleLearningUi:
    return StyleLearningUi(window)

