"""Picture of the Rephrase dialog on a real sentence (docs/screenshots/rephrase.png).

Opens the editor on the real engine, selects a sentence, runs Rephrase as the Edit menu does, waits
for the takes and saves the dialog. Usage: QT_QPA_PLATFORM=offscreen python tests/app/screenshot_rephrase.py OUT.png
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtGui import QTextCursor  # noqa: E402
from screenshot_editor import close_editor, open_editor  # noqa: E402

SENTENCE = "Maria has not opened the letter that arrived on Tuesday, because she was afraid of what it said."
TEXT = f"Chapter Two\n\n{SENTENCE} The kettle was already boiling.\n"


def main(out: str) -> int:
    app, window = open_editor(style_memory=False)
    window.editor.setPlainText(TEXT)
    cursor = window.editor.textCursor()
    start = TEXT.index(SENTENCE)
    cursor.setPosition(start)
    cursor.setPosition(start + len(SENTENCE), QTextCursor.KeepAnchor)
    window.editor.setTextCursor(cursor)
    window.assist.rephrase_selection()
    dialog = window.assist.rephrase_dialog
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and not dialog.finished_streaming:
        app.processEvents()
        time.sleep(0.02)
    for _ in range(20):  # let the last paint land
        app.processEvents()
        time.sleep(0.01)
    ok = dialog.grab().save(out) and dialog.finished_streaming
    print("takes:", [(c.text, c.verdict.reasons if c.verdict else None) for c in dialog.candidates])
    dialog.reject()
    close_editor(window)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
