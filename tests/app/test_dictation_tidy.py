"""Dictation clean-up in the editor: rules at once; the model's version (real engine on the real engine
worker) replaces exactly the inserted span in the same undo step, unless the writer edited meanwhile."""

import pytest
from PySide6.QtWidgets import QPlainTextEdit

from app.dictation_controller import DictationController
from app.engine_worker import EngineClient

RAW = "um so i i went to the the market comma and uh bought some bread period"


@pytest.fixture
def client(engine, qtbot):
    client = EngineClient(engine=engine)
    yield client
    client.shutdown()


def _controller(qtbot, client=None, tidy="rules"):
    editor = QPlainTextEdit()
    qtbot.addWidget(editor)
    ctl = DictationController(editor, probe=False, tidy=tidy)
    if client is not None:
        ctl.set_engine_client(client)
    return editor, ctl


def test_rules_tidy_the_utterance_before_it_is_inserted(qtbot):
    editor, ctl = _controller(qtbot)
    ctl.handle_transcript(RAW)
    assert editor.toPlainText() == "So I went to the market, and bought some bread."
    editor.undo()
    assert editor.toPlainText() == ""
    off_editor, off = _controller(qtbot, tidy="off")
    off.handle_transcript("um the the end")
    assert off_editor.toPlainText() == "Um the the end"  # only the document's casing convention


def test_model_tidy_replaces_the_inserted_span_in_the_same_undo_step(qtbot, client, engine):
    editor, ctl = _controller(qtbot, client, tidy="off")
    editor.setPlainText("Draft.")
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    ctl.handle_transcript(RAW)  # inserted raw, at once
    raw_text = editor.toPlainText()
    assert raw_text.startswith("Draft. Um so i i went")
    ctl.set_tidy("model")
    start = len("Draft.")
    with qtbot.waitSignal(ctl.tidier.applied, timeout=180000) as applied:
        ctl.tidier.request(RAW, start, raw_text[start:])
    tidied = engine.last_tidy.text
    assert applied.args[0].strip() == tidied
    assert editor.toPlainText() == "Draft. " + tidied
    assert editor.textCursor().position() == len(editor.toPlainText())
    editor.undo()  # one step removes the utterance and its clean-up together
    assert editor.toPlainText() == "Draft."


def test_model_tidy_leaves_the_span_alone_if_the_writer_typed_into_it(qtbot, client):
    editor, ctl = _controller(qtbot, client, tidy="off")
    ctl.handle_transcript(RAW)
    ctl.set_tidy("model")
    rid = ctl.tidier.request(RAW, 0, editor.toPlainText())
    assert rid is not None and ctl.tidier.pending
    cursor = editor.textCursor()
    cursor.setPosition(3)
    cursor.insertText("X")  # the writer types inside the utterance before the model answers
    typed = editor.toPlainText()
    assert not ctl.tidier.pending
    with qtbot.waitSignal(client.finished, timeout=180000, check_params_cb=lambda r, _s: r == rid):
        pass
    qtbot.wait(50)
    assert editor.toPlainText() == typed
