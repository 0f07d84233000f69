"""PySide6 6.12.0's Signal.emit takes a reference from True each time; app.signal_refs.emit gives it back."""

import sys

from PySide6.QtCore import QObject, Signal

from app.signal_refs import emit


class Sender(QObject):
    event = Signal(object)


def test_thousands_of_emits_leave_true_with_its_references():
    sender, received = Sender(), []
    sender.event.connect(received.append)
    before = sys.getrefcount(True)
    for i in range(5000):  # ~4 minutes of the voice thread's level events
        emit(sender.event, i)
    assert len(received) == 5000
    assert abs(sys.getrefcount(True) - before) <= 2  # without the repair: 5,000 fewer


def test_hundreds_of_thousands_of_void_qt_calls_do_not_abort_the_process(qtbot):
    from PySide6.QtWidgets import QLabel

    import app.signal_refs  # noqa: F401 - the import is the repair

    label = QLabel("x")
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for _ in range(300_000):  # each lost one reference to None with shiboken6 6.12.0 (abort at 0)
        label.move(1, 1)
    assert sys.getrefcount(None) > 0 and before > 300_000  # alive, and None had references to spare
