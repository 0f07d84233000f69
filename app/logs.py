"""Where the editor's messages go: Killah's own warnings to the terminal, everything else to the log file.

Frameworks talk at start and while a model loads: torchao's missing CUDA kernels, torch's pytree notes,
transformers' deprecations, Python warnings, Qt's platform notes, and C libraries writing straight to
file descriptor 2. None of that is for the user; all of it is kept, in ``<data dir>/logs/killah.log``.

How: file descriptor 2 itself is pointed at the log file, so C-level writes land there too, and so
does every Python handler or ``print`` that writes to ``sys.stderr``. The terminal keeps one duplicate
of the original descriptor, which only the handler for loggers named ``killah*`` (and uncaught
exceptions) writes to. ``KILLAH_LOG_FILE=-`` leaves stderr alone (everything on the terminal).
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from pathlib import Path
from typing import TextIO

from engine import paths

LOG_NAME = "killah.log"
KEEP_BYTES = 5 * 2**20  # at start, a larger log is moved to killah.log.1 (one old generation kept)
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_terminal: TextIO | None = None


class _KillahOnly(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.name == "killah" or record.name.startswith("killah.")


def default_log_path() -> Path:
    return paths.data_dir() / "logs" / LOG_NAME


def terminal() -> TextIO:
    """The user's terminal (the original stderr), also after ``setup_logging`` redirected fd 2."""
    return _terminal or sys.stderr


def setup_logging(level: str = "WARNING", log_path: Path | None = None) -> Path | None:
    """Send framework output to the log file and Killah's own warnings to the terminal; the log's path.

    ``level``: the lowest level of Killah's messages shown on the terminal (``KILLAH_LOG``).
    """
    global _terminal
    target = os.environ.get("KILLAH_LOG_FILE")
    if target == "-":
        logging.basicConfig(level=level)
        return None
    path = Path(target) if target else (log_path or default_log_path())
    _rotate(path)
    _terminal = os.fdopen(os.dup(2), "w", buffering=1, encoding="utf-8", errors="backslashreplace")
    log_fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    sys.stderr.flush()
    os.dup2(log_fd, 2)  # from here on, anything written to stderr (C or Python) goes to the file
    os.close(log_fd)

    to_file = logging.StreamHandler(sys.stderr)  # sys.stderr writes to fd 2: the log file
    to_file.setFormatter(logging.Formatter(FORMAT))
    to_terminal = logging.StreamHandler(_terminal)
    to_terminal.setLevel(level)
    to_terminal.addFilter(_KillahOnly())
    to_terminal.setFormatter(logging.Formatter("%(levelname)s:%(name)s:%(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [to_file, to_terminal]
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)  # warnings.warn -> logger "py.warnings" -> the file
    sys.excepthook = _log_uncaught
    threading.excepthook = lambda args: _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback)
    logging.getLogger("killah.app").info("log file: %s", path)
    return path


def _log_uncaught(exc_type, exc, tb) -> None:
    """A crash is for the user to see (and report): both the terminal and the file get it."""
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("killah.app").critical("uncaught exception", exc_info=(exc_type, exc, tb))


def _rotate(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        if path.stat().st_size > KEEP_BYTES:
            os.replace(path, path.with_name(path.name + ".1"))
    except FileNotFoundError:
        pass
