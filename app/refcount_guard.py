"""Keep PySide6's refcount bug on None/True/False from crashing a long session.

PySide6 6.12.0 on CPython 3.11 drops one reference it does not own on some calls: every
``Signal.emit()`` takes one from ``True`` and every ``QCoreApplication.processEvents()`` one from
``None`` (measured: 20 emits -> True's count 20 lower; 100 calls -> None's 100 lower). Once a count
reaches zero the interpreter aborts ("Fatal Python error: none_dealloc" / "bool_dealloc"): the typing
replay bench died so after 7 minutes, and bench_autocomplete twice at exit. Incremental prefill sends a
warm-up per keystroke, so the app emits more than before.

CPython 3.12 makes these singletons immortal (PEP 683) and the bug harmless. On older versions we do
the same by raising their counts far beyond what any session can drop: they are static objects that
are never freed, so a high count only means "never dealloc".
"""

from __future__ import annotations

import ctypes
import sys

PIN = 1 << 40  # a trillion dropped references: years of emits


def pin_singletons() -> bool:
    """Make None, True and False effectively immortal (no-op where CPython already does). True if pinned."""
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    for obj in (None, True, False):
        if sys.getrefcount(obj) < PIN:
            ctypes.c_ssize_t.from_address(id(obj)).value += PIN  # ob_refcnt is the object's first field
    return True
