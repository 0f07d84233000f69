"""Spoken actions that need the language model: "rephrase that" and "continue" with the real engine."""

from PySide6.QtWidgets import QPlainTextEdit

from app.dictation_controller import DictationController


def test_rephrase_that_rewrites_the_last_utterance_as_one_undo_step(qtbot, engine):
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    ctl = DictationController(editor, engine=engine, probe=False)
    editor.setPlainText("Title.")
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    ctl.handle_transcript("The weather was very bad and everybody stayed at home all day.")
    dictated = editor.toPlainText()
    assert dictated == "Title. The weather was very bad and everybody stayed at home all day."
    ctl.handle_transcript("Rephrase that.")
    qtbot.waitUntil(lambda: editor.toPlainText() != dictated, timeout=120000)
    text = editor.toPlainText()
    assert text.startswith("Title. ") and len(text) > len("Title. ") + 5
    editor.undo()
    assert editor.toPlainText() == dictated


def test_continue_appends_engine_text_that_scratch_that_removes(qtbot, engine):
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    ctl = DictationController(editor, engine=engine, probe=False)
    start = "It was a fine morning in the village, and the baker opened his shop."
    editor.setPlainText(start)
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    ctl.handle_transcript("Continue.")
    qtbot.waitUntil(lambda: len(editor.toPlainText()) > len(start) + 3, timeout=120000)
    assert editor.toPlainText().startswith(start)
    ctl.handle_transcript("Scratch that.")
    assert editor.toPlainText() == start
