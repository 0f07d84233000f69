"""The engine thread's contract: ordering, skipping cancelled requests, errors as messages, long texts.

A recording stand-in engine is used only to observe what the worker passes on; every behaviour that needs
the model is tested with the real engine elsewhere in this folder.
"""

from __future__ import annotations

import threading

from app.engine_worker import CONTEXT_TAIL_CHARS, EngineClient
from engine.errors import PromptError


class RecordingEngine:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.entered: list[str] = []

    def complete(self, text, cancel=None, **kwargs):
        self.gate.wait(30)
        self.seen.append(("autocomplete", text))
        yield "piece"

    def continue_text(self, text, cancel=None, **kwargs):
        self.seen.append(("continue", text))
        yield " more"

    def rephrase(self, text, cancel=None, **kwargs):
        raise PromptError("The input is empty: write something first.")

    def prefill(self, text, cancel=None, **kwargs):
        self.entered.append(text)
        self.gate.wait(30)
        self.seen.append(("prefill", text))
        return True


def test_long_documents_send_only_their_tail_and_rephrase_errors_come_back_as_messages(qtbot):
    engine = RecordingEngine()
    client = EngineClient(engine)
    failures, done = [], []
    client.failed.connect(lambda rid, message: failures.append((rid, message)))
    client.finished.connect(lambda rid, stats: done.append(rid))
    book = "word " * 100_000  # 500,000 characters: over the engine's input limit
    first = client.request("continue", book)
    second = client.request("rephrase", " ")
    qtbot.waitUntil(lambda: len(done) == 1 and len(failures) == 1, timeout=10_000)
    assert engine.seen == [("continue", book[-CONTEXT_TAIL_CHARS:])]
    assert done == [first] and failures == [(second, "The input is empty: write something first.")]
    client.shutdown()


def test_requests_cancelled_while_waiting_are_skipped(qtbot):
    engine = RecordingEngine()
    engine.gate.clear()  # the first request blocks the thread
    client = EngineClient(engine)
    done = []
    client.finished.connect(lambda rid, stats: done.append(rid))
    ids = [client.request("autocomplete", f"text {i}") for i in range(5)]
    for rid in ids[1:4]:
        client.cancel(rid)  # a burst of keystrokes: only the first and the last matter
    engine.gate.set()
    qtbot.waitUntil(lambda: len(done) == 5, timeout=10_000)
    assert [text for _, text in engine.seen] == ["text 0", "text 4"]
    assert not client.busy
    client.shutdown()


def test_a_warm_up_supersedes_the_last_and_a_request_cancels_the_pending_one(qtbot):
    engine = RecordingEngine()
    engine.gate.clear()  # the first warm-up blocks the thread while the writer keeps typing
    client = EngineClient(engine)
    done = []
    client.finished.connect(lambda rid, stats: done.append(rid))
    ids = [client.warm("The qu")]
    qtbot.waitUntil(lambda: engine.entered == ["The qu"], timeout=10_000)
    ids += [client.warm(f"The qu{'i' * n}") for n in range(1, 4)]
    ids.append(client.warm("The quick"))
    ids.append(client.request("autocomplete", "The quick"))
    engine.gate.set()
    qtbot.waitUntil(lambda: len(done) == len(ids), timeout=10_000)
    # The first was already running; the superseded ones and the last warm-up (the request feeds the
    # same text itself) were skipped.
    assert engine.seen == [("prefill", "The qu"), ("autocomplete", "The quick")]
    assert not client.busy
    client.shutdown()
