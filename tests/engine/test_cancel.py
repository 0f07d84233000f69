"""CancelToken: the flag a loop checks, and the callback a native call needs to stop mid-way."""

from __future__ import annotations

import threading

from engine.cancel import CancelToken


def test_a_callback_runs_once_when_the_token_is_cancelled_from_another_thread():
    token, calls = CancelToken(), []
    token.on_cancel(lambda: calls.append("stop"))
    assert not token.cancelled and calls == []
    worker = threading.Thread(target=token.cancel)
    worker.start()
    worker.join()
    token.cancel()  # a second cancel does not call it again
    assert token.cancelled and calls == ["stop"]


def test_a_callback_added_after_the_cancel_runs_at_once():
    token, calls = CancelToken(), []
    token.cancel()
    token.on_cancel(lambda: calls.append("stop"))
    assert calls == ["stop"]
