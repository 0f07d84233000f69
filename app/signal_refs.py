"""A repair for PySide6 6.12.0's ``Signal.emit``, which returns ``True`` without a reference of its own.

Every ``emit`` then takes one reference away from ``True``; on Python 3.11, where ``True`` is not
immortal, the process aborts ("Fatal Python error: bool_dealloc") once they run out — a few hundred
to a few thousand emits (measured 2026-11-26: ``sys.getrefcount(True)`` fell by exactly 100 over 100
emits of a one-slot signal). The voice thread emits ~20 events a second (level meter), so dictation
aborted the app after a minute or two (tests/bench/bench_streaming.py died that way).

``emit(signal, *args)`` gives the reference back when the running PySide6 has the bug (checked once,
at import, with a private signal), and is a plain ``signal.emit`` otherwise.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal


class _Probe(QObject):
    ping = Signal()


def _give_back(obj: object, count: int) -> None:
    for _ in range(count):
        ctypes.pythonapi.Py_IncRef(ctypes.py_object(obj))


def _emit_loses_a_reference() -> bool:
    probe = _Probe()
    probe.ping.connect(lambda: None)
    before = sys.getrefcount(True)
    for _ in range(16):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    if lost > 0:
        _give_back(True, lost)  # the probe's own emits
    return lost >= 16


EMIT_LOSES_A_REFERENCE = _emit_loses_a_reference()


def emit(signal, *args) -> None:
    """``signal.emit(*args)``, without the lost reference of PySide6 6.12.0."""
    result = signal.emit(*args)
    if EMIT_LOSES_A_REFERENCE and isinstance(result, bool):
        _give_back(result, 1)
