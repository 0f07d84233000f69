"""A quiet start: the editor prints no framework warnings on the terminal; Killah's own still show.

Before app/logs.py, a start with the default model printed torchao's missing CUDA kernels and Triton,
torch's pytree notes (C++-style log lines), transformers' FutureWarning and a Qt platform note.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
FRAMEWORK_MARKERS = ("torchao", "triton", "_pytree", "FutureWarning", "DeprecationWarning", "UserWarning",
                     "transformers", "warnings.warn", "propagateSizeHints", "cpuinfo", "W1126", "I1126")


@pytest.mark.timeout(900)
def test_a_start_with_the_model_prints_only_killahs_own_warnings(tmp_path):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.json").write_text("{ not json")  # Killah warns about this one
    env = {**os.environ, "KILLAH_HOME": str(home), "QT_QPA_PLATFORM": "offscreen", "KILLAH_TEST_ANSWER": "no",
           "KILLAH_TEST_QUIT_WHEN_READY": "1", "KILLAH_BACKEND": "eager"}
    for name in ("KILLAH_LOG_FILE", "KILLAH_LOG", "KILLAH_TEST_TYPE", "KILLAH_TEST_DUMP"):
        env.pop(name, None)
    done = subprocess.run([sys.executable, "-m", "app", "--no-voice"], env=env, cwd=REPO, timeout=850,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    terminal = done.stdout + done.stderr
    lines = [line for line in terminal.splitlines() if line.strip()]
    assert lines and all(line.startswith("WARNING:killah") for line in lines), lines
    assert "settings" in lines[0] and "unreadable" in lines[0]
    # Nothing was lost: the frameworks' lines are in the log file, with Killah's warning.
    log = (home / "data" / "logs" / "killah.log").read_text(errors="replace")
    assert "unreadable" in log and "torchao" in log and "FutureWarning" in log, log[-2000:]
    assert not [m for m in FRAMEWORK_MARKERS if m in terminal]
