"""A picture of the editor with a ghost suggestion, taken on a real X server (Xvfb)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtGui import QImage

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "screenshots" / "editor-ghost.png"


@pytest.fixture
def xvfb():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed")
    display = f":{90 + os.getpid() % 100}"
    server = subprocess.Popen(["Xvfb", display, "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    socket = Path(f"/tmp/.X11-unix/X{display[1:]}")
    for _ in range(100):
        if socket.exists():
            break
        time.sleep(0.05)
    yield display
    server.terminate()
    server.wait(10)


def test_screenshot_of_the_editor_with_ghost_text(xvfb, tmp_path):
    out = tmp_path / "editor-ghost.png"
    env = {**os.environ, "DISPLAY": xvfb, "QT_QPA_PLATFORM": "xcb"}
    result = subprocess.run([sys.executable, str(Path(__file__).parent / "screenshot_editor.py"), str(out)],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=400)
    assert result.returncode == 0, result.stderr[-3000:]
    image = QImage(str(out))
    assert image.width() >= 800 and image.height() >= 400
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out, SCREENSHOT)  # regenerated whenever the UI changes and this test runs
