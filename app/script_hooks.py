"""Environment hooks that let a test drive the real app in a subprocess (``python -m app``).

Only read when the variables are set; they never change behaviour otherwise.

    KILLAH_TEST_ANSWER=yes|no   answer every question with yes/no, show no dialog
                                (messages are logged to stderr as "KILLAH-MESSAGE kind: title: text")
    KILLAH_TEST_TYPE=text       type ``text`` into the editor (real key events) after start
    KILLAH_TEST_TYPE_CPS=10     ... at this many characters per second instead of all at once
    KILLAH_TEST_TYPE_LOG=path   ... appending "<characters typed so far> <unix time>" per key to ``path``,
                                and "loaded <unix time>" once the model is loaded
                                (the kill -9 recovery bench reads it to measure lost typing)
    KILLAH_TEST_DUMP=path       after start (and recovery, and typing) write the editor's state
                                as JSON {"text", "title", "modified"} to ``path``
    KILLAH_TEST_QUIT=1          quit right after the dump (keeps the autosave, like a crash)
    KILLAH_TEST_QUIT_WHEN_READY=1  quit once the model has loaded (or failed to): a whole start, then exit
    (messages and KILLAH-TYPED lines go to the terminal, app.logs.terminal(), not to the log file)
"""

from __future__ import annotations

import json
import os
import time

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QApplication

from app.logs import terminal
from app.prompter import ScriptedPrompter


class _LoggingPrompter(ScriptedPrompter):
    def __post_init__(self) -> None:
        super().__post_init__()

    def _log(self) -> None:
        kind, title, text = self.messages[-1]
        print(f"KILLAH-MESSAGE {kind}: {title}: {text}", file=terminal(), flush=True)

    def info(self, title, message):
        super().info(title, message)
        self._log()

    def warning(self, title, message):
        super().warning(title, message)
        self._log()

    def error(self, title, message):
        super().error(title, message)
        self._log()

    def question(self, title, message, default_yes=True):
        answer = super().question(title, message, default_yes)
        self._log()
        return answer


def type_keys(widget, text: str) -> None:
    """Real key events, one press and release per character (QTest.keyClicks aborts on non-ASCII)."""
    for ch in text:
        key = Qt.Key_Return if ch == "\n" else Qt.Key_unknown
        for kind in (QEvent.KeyPress, QEvent.KeyRelease):
            QApplication.sendEvent(widget, QKeyEvent(kind, key, Qt.NoModifier, ch))


def prompter_from_env() -> ScriptedPrompter | None:
    answer = os.environ.get("KILLAH_TEST_ANSWER")
    if answer is None:
        return None
    return _LoggingPrompter(default_answer=answer.lower() in ("1", "yes", "true"))


def run_test_script(window) -> None:
    """Type, dump and quit as the environment asks; called once the window is up."""
    if os.environ.get("KILLAH_TEST_QUIT_WHEN_READY"):
        def quit_now(*_) -> None:
            window.shutdown()
            QApplication.instance().exit(0)

        window.client.modelLoaded.connect(quit_now)
        window.client.loadFailed.connect(quit_now)
    text = os.environ.get("KILLAH_TEST_TYPE")
    dump = os.environ.get("KILLAH_TEST_DUMP")
    if not text and not dump:
        return

    def go() -> None:
        if text:
            window.editor.setFocus()
            cps = float(os.environ.get("KILLAH_TEST_TYPE_CPS") or 0)
            if cps > 0:
                type_paced(window, text, cps, os.environ.get("KILLAH_TEST_TYPE_LOG"), then=finish)
                return
            type_keys(window.editor, text)
            print(f"KILLAH-TYPED {len(text)}", file=terminal(), flush=True)
        finish()

    def finish() -> None:
        if dump:
            state = {
                "text": window.editor.toPlainText(),
                "title": window.documents.title,
                "modified": window.documents.modified,
            }
            tmp = dump + ".tmp"
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(state, fh, ensure_ascii=False)
            os.replace(tmp, dump)
        if os.environ.get("KILLAH_TEST_QUIT"):
            window.shutdown(keep_autosave=True)
            QApplication.instance().exit(0)

    QTimer.singleShot(0, go)


def type_paced(window, text: str, cps: float, log_path: str | None, then) -> None:
    """Type ``text`` one key every 1/cps s through the event loop, as a person would; then ``then()``."""
    log = open(log_path, "a", buffering=1, encoding="utf-8") if log_path else None  # closed by the last tick
    timer = QTimer(window)
    typed = 0
    if log is not None:
        window.client.modelLoaded.connect(lambda _: log.closed or log.write(f"loaded {time.time():.4f}\n"))

    def tick() -> None:
        nonlocal typed
        if typed == len(text):
            timer.stop()
            if log is not None:
                log.close()
            print(f"KILLAH-TYPED {typed}", file=terminal(), flush=True)
            then()
            return
        type_keys(window.editor, text[typed])
        typed += 1
        if log is not None:
            log.write(f"{typed} {time.time():.4f}\n")  # line-buffered: in the kernel before the next key

    timer.timeout.connect(tick)
    timer.start(max(1, round(1000 / cps)))
