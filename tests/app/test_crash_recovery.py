"""kill -9 the real app after it autosaved; the next start offers the text back."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TYPED = "Words written just before the power cut. Они не пропадут."


def app_env(home: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"KILLAH_HOME": str(home), "QT_QPA_PLATFORM": "offscreen", **extra})
    for key in ("KILLAH_TEST_TYPE", "KILLAH_TEST_DUMP", "KILLAH_TEST_QUIT"):
        if key not in extra:
            env.pop(key, None)
    return env


def test_text_survives_sigkill_and_is_recovered_on_next_start(tmp_path):
    home = tmp_path / "home"
    (home / "config").mkdir(parents=True)
    (home / "config" / "settings.json").write_text(json.dumps({"autosave_seconds": 1}))
    command = [sys.executable, "-m", "app", "--no-model"]

    first = subprocess.Popen(
        command, cwd=REPO, env=app_env(home, KILLAH_TEST_ANSWER="no", KILLAH_TEST_TYPE=TYPED),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    autosave = home / "data" / "autosave"
    deadline = time.monotonic() + 60
    saved = None
    try:
        while time.monotonic() < deadline and saved is None:
            for entry in autosave.glob("*.json") if autosave.exists() else []:
                try:
                    if json.loads(entry.read_text())["text"] == TYPED:
                        saved = entry
                except (ValueError, KeyError, OSError):
                    pass  # not there yet
            time.sleep(0.2)
        assert saved is not None, "no autosave appeared"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    assert first.returncode == -signal.SIGKILL

    dump = tmp_path / "state.json"
    second = subprocess.run(
        command, cwd=REPO, timeout=120, capture_output=True, text=True,
        env=app_env(home, KILLAH_TEST_ANSWER="yes", KILLAH_TEST_DUMP=str(dump), KILLAH_TEST_QUIT="1"),
    )
    assert second.returncode == 0, second.stderr[-2000:]
    state = json.loads(dump.read_text())
    assert state["text"] == TYPED
    assert state["modified"]  # recovered text is unsaved until the user saves it
    assert "Recover unsaved text?" in second.stderr
    # The crashed session's entry was adopted: it is not offered a second time.
    assert not saved.exists()
