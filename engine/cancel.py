"""Cancellation of a running request. Kept free of torch so the UI can import it at start-up for free."""

from __future__ import annotations

import threading
from collections.abc import Callable


class CancelToken:
    """Set from any thread; the generator checks it before every model call."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        with self._lock:
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def on_cancel(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once when cancelled (at once if it already is), on the cancelling thread:
        for a native call that cannot look at the token, e.g. ONNX Runtime's ``RunOptions.terminate``."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return
        callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
