"""The "Rephrase in my style…" menu entry: in the Edit menu and the editor's right-click menu, enabled
only while the writer's style memory has paragraphs to follow, and saying why not otherwise.

The engine does the work (Engine.rephrase_in_style_candidates, through the engine worker, shown by
the Rephrase dialog in app/assist.py); this module only keeps the action's state in step with the
style memory's list (StyleService.listed: documents, paused, paragraph count).
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject
from PySide6.QtGui import QAction

from engine.errors import STYLE_MEMORY_NEEDED

PAUSED = "Rephrase in my style needs your style memory, which is paused: resume it in View → Style memory."
TITLE = "Rephrase in my style…"


def unavailable_reason(has_memory: bool, paused: bool, paragraphs: int) -> str:
    """Why "Rephrase in my style" cannot run ("" when it can), from the style memory's state."""
    if not has_memory or paragraphs <= 0:
        return STYLE_MEMORY_NEEDED
    return PAUSED if paused else ""


class StyleRephraseAction(QObject):
    """Owns the action; its enabled state = style memory usable and no Continue/Rephrase running."""

    def __init__(self, window: Any) -> None:
        super().__init__(window)
        self.window = window
        self.assist = window.assist
        self.action = QAction(TITLE, window)
        self.action.triggered.connect(lambda *_: self.assist.rephrase_in_style())
        window.edit_menu.insertAction(window.stop_action, self.action)
        actions = window.editor.context_actions
        actions.insert(actions.index(window.rephrase_action) + 1, self.action)
        service = window.style_service
        if service is not None:
            window.client.set_style_memory_provider(service.memory)
            service.listed.connect(lambda _docs, paused, paragraphs: self.set_state(True, paused, paragraphs))
        self.assist.busyChanged.connect(lambda _busy: self._show())
        self.set_state(False, False, 0)  # until the style memory lists itself

    def set_state(self, has_memory: bool, paused: bool, paragraphs: int) -> None:
        self.assist.style_unavailable = unavailable_reason(has_memory, paused, paragraphs)
        self._show()

    def _show(self) -> None:
        reason = self.assist.style_unavailable
        self.action.setEnabled(not reason and not self.assist.busy)
        tip = reason or "Rewrite the selection in your style, guided by your own paragraphs."
        self.action.setToolTip(tip)
        self.action.setStatusTip(tip)


def install_style_rephrase(window: Any) -> StyleRephraseAction:
    return StyleRephraseAction(window)
