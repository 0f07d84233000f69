"""Run by test_screenshot.py in a subprocess on a real X server (Xvfb, xcb platform).

Opens the editor on the real engine, types a sentence, waits for the ghost
suggestion to finish streaming and saves a picture of the window.
Usage: python tests/app/screenshot_editor.py OUT.png
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtCore import QTimer  # noqa: E402
from PySide6.QtTest import QTest  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from app.main_window import MainWindow  # noqa: E402
from app.prompter import ScriptedPrompter  # noqa: E402
from app.script_hooks import type_keys  # noqa: E402

TEXT = (
    "Chapter One\n\n"
    "The letter arrived on a grey Tuesday morning, and Anna read it twice before she understood "
    "what her brother was asking of her.\n\n"
    "She folded it carefully, put it back into the envelope and"
)


def open_editor(style_memory: bool = True) -> tuple[QApplication, MainWindow]:
    """The editor on the real engine, shown (the screenshot scripts' common start)."""
    app = QApplication(sys.argv[:1])
    from engine.api import Engine

    window = MainWindow(engine=Engine(), prompter=ScriptedPrompter(), style_memory=style_memory, load_model=False)
    window.resize(860, 420)
    window.show()
    QTest.qWaitForWindowExposed(window)
    return app, window


def close_editor(window: MainWindow) -> None:
    """Stop the engine thread and close without the unsaved-changes prompt."""
    window.shutdown()
    window.editor.document().setModified(False)
    window.close()


def main(out: str) -> int:
    app, window = open_editor()
    window.editor.setFocus()
    type_keys(window.editor, TEXT)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        app.processEvents()
        if window.editor.ghost_text.strip() and not window.client.busy:
            break
        time.sleep(0.02)
    else:
        print("no ghost text appeared", file=sys.stderr)
        return 1
    QTimer.singleShot(0, lambda: None)
    for _ in range(20):  # let the paint of the last piece land
        app.processEvents()
        time.sleep(0.01)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    ok = window.grab().save(out)
    print(f"ghost: {window.editor.ghost_text!r}")
    close_editor(window)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
