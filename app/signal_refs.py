"""A repair for PySide6 6.12.0's ``Signal.emit``, which returns ``True`` without a reference of its own.

Every ``emit`` then takes one reference away from ``True``; on Python 3.11, where ``True`` is not
immortal, the process aborts ("Fatal Python error: bool_dealloc") once they run out — a few hundred
to a few thousand emits (measured 2026-11-26: ``sys.getrefcount(True)`` fell by exactly 100 over 100
emits of a one-slot signal). The voice thread emits ~20 events a second (level meter), so dictation
aborted the app after a minute or two (tests/bench/bench_streaming.py died that way).

Worse, every call of a Qt method that returns void takes a reference from ``None`` the same way
(``PartialOverlay.show_text`` lost 6 per call; ``app.processEvents`` aborted with "none_dealloc").
So when either loss is found (probed once, at import), ``None``, ``True`` and ``False`` get 2**40
extra references, which is what Python 3.12 does by making them immortal; ``emit(signal, *args)``
also gives back the reference each emit takes. Importing this module is enough; the dictation
controller does. Other modules of the app are affected too until the app imports it at start-up.
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


def _void_call_loses_none() -> bool:
    """Measured with shiboken6 6.12.0: every call of a Qt method returning void (``move``, ``setText``,
    ``show``...) also takes one reference from ``None`` (1,000 ``QLabel.move`` calls: 1,000 fewer)."""
    probe = _Probe()
    before = sys.getrefcount(None)
    for _ in range(16):
        probe.setObjectName("probe")
    lost = before - sys.getrefcount(None)
    if lost > 0:
        _give_back(None, lost)
    return lost >= 16


def _outlive_lost_references(obj: object) -> None:
    """Add 2**40 references, as Python 3.12 makes these singletons immortal: at ~20 lost per
    second of dictation that outlasts any session. CPython keeps ``ob_refcnt`` as an object's first
    field (non-debug builds)."""
    ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40


EMIT_LOSES_A_REFERENCE = _emit_loses_a_reference()
VOID_CALL_LOSES_NONE = _void_call_loses_none()
if (EMIT_LOSES_A_REFERENCE or VOID_CALL_LOSES_NONE) and sys.version_info < (3, 12):
    for _singleton in (None, True, False):
        _outlive_lost_references(_singleton)


def emit(signal, *args) -> None:
    """``signal.emit(*args)``, without the lost reference of PySide6 6.12.0."""
    result = signal.emit(*args)
    if EMIT_LOSES_A_REFERENCE and isinstance(result, bool):
        _give_back(result, 1)
