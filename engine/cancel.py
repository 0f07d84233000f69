"""Cancellation of a running request. Kept free of torch so the UI can import it at start-up for free."""

from __future__ import annotations

import threading


class CancelToken:
    """Set from any thread; the generator checks it before every model call."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()
