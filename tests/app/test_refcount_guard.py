"""PySide6's dropped references on None/True must not abort a long session (app/refcount_guard.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

# Emits and processEvents calls well beyond True's and None's reference counts in a fresh interpreter.
SCRIPT = """
import os, sys
sys.path.insert(0, {repo!r})
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from PySide6.QtCore import QCoreApplication, QObject, Qt, Signal
if {pin}:
    from app.refcount_guard import pin_singletons
    pin_singletons()
app = QCoreApplication([])
class Source(QObject):
    piece = Signal(int, object)
source, got = Source(), []
source.piece.connect(lambda i, o: got.append(i), Qt.QueuedConnection)
n = 3 * max(sys.getrefcount(True), sys.getrefcount(None)) if not {pin} else 200_000
for i in range(n):
    source.piece.emit(i, None)
    app.processEvents()
print(len(got) == n)
"""


def _run(pin: bool) -> subprocess.CompletedProcess:
    code = SCRIPT.format(repo=str(REPO), pin=pin)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)


def _leaks() -> bool:
    from PySide6.QtCore import QObject, Signal

    class Probe(QObject):
        ping = Signal()

    probe = Probe()
    before = sys.getrefcount(True)
    for _ in range(10):
        probe.ping.emit()
    return sys.getrefcount(True) < before


@pytest.mark.skipif(sys.version_info >= (3, 12), reason="None/True are immortal from CPython 3.12")
def test_many_emits_and_event_loop_turns_survive_with_the_guard():
    leaking = _leaks()
    if leaking:  # the bug is there: without the guard the interpreter aborts
        bare = _run(pin=False)
        assert bare.returncode != 0 and "dealloc" in bare.stderr, bare.stderr[-500:]
    guarded = _run(pin=True)
    assert guarded.returncode == 0 and guarded.stdout.strip() == "True", guarded.stderr[-500:]
