"""No network at run time, proved: the main flows run with every network socket refused and recorded.

tests/no_network_flows.py runs them in a process of its own (an audit hook cannot be removed) and
reports each flow and every socket event. The canary flow shows that the hook sees and refuses an
attempt, so an empty event list means that nothing tried.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "tests" / "no_network_flows.py"


def run_flows(tmp_path: Path, *flows: str, timeout: float) -> dict:
    report = tmp_path / "report.json"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", KILLAH_HOME=str(tmp_path / "home"),
               KILLAH_BACKEND="eager")
    done = subprocess.run([sys.executable, str(SCRIPT), str(report), "canary", *flows], env=env,
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(report.read_text())


def assert_no_socket_but_the_canary(result: dict, flows: tuple[str, ...]) -> None:
    for name in flows:
        assert result["flows"][name]["ok"], (name, result["flows"][name])
    canary = result["flows"]["canary"]["result"]
    assert "getaddrinfo refused" in canary and "network socket refused" in canary, canary
    # The canary's three sockets are the only events: no flow opened, bound or looked up anything.
    # AF_UNIX (local IPC) is allowed and recorded with its family: the canary's own is the only one.
    seen = [(e["event"], e.get("family"), e["refused"]) for e in result["events"]]
    assert seen == [("socket.getaddrinfo", None, True), ("socket.__new__", int(socket.AF_INET), True),
                    ("socket.__new__", int(socket.AF_UNIX), False)], result["events"]


@pytest.mark.timeout(900)
def test_engine_style_memory_voice_and_app_open_no_socket(tmp_path):
    flows = ("engine", "style", "voice", "app")
    assert_no_socket_but_the_canary(run_flows(tmp_path, *flows, timeout=850), flows)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_an_executorch_program_build_opens_no_socket(tmp_path):
    assert_no_socket_but_the_canary(run_flows(tmp_path, "program", timeout=1700), ("program",))
