"""A background program build runs in a child process, and quitting the app stops it cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = textwrap.dedent(
    """
    import sys, time
    from engine.export import ProgramCache, preset, spec_for
    from engine.export import build_child
    from engine.models import load_model
    from app.main import leave

    loaded = load_model(sys.argv[1])
    cache = ProgramCache(sys.argv[2])
    cache.ensure_in_background(loaded, spec_for(loaded, preset("8da8w"), max_seq=128), lambda path: None)
    deadline = time.monotonic() + 60
    while not build_child._children and time.monotonic() < deadline:
        time.sleep(0.05)
    print("children", *[c.pid for c in build_child._children], flush=True)
    time.sleep(1.0)  # into torch.export in the child
    sys.exit(leave(0))
    """
)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def test_leaving_while_a_program_builds_stops_the_child_and_exits_cleanly(tiny_llama_dir, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(REPO), QT_QPA_PLATFORM="offscreen")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tiny_llama_dir), str(tmp_path / "programs")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("children")), "")
    pids = [int(p) for p in line.split()[1:]]
    assert pids, "the build did not run in a child process: " + done.stdout + done.stderr[-2000:]
    assert done.returncode == 0, done.stderr[-2000:]
    assert "terminate called" not in done.stderr
    time.sleep(0.5)
    assert not any(_alive(pid) for pid in pids), "the build outlived the app"
    # Nothing half-built is trusted: no sidecar was written for the interrupted program.
    assert not list((tmp_path / "programs").glob("*.json"))
