"""A short soak of the real editor (tests/bench/soak_editor.py; the hour-long run is in docs/reliability.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_four_minute_soak_keeps_every_word_and_bounded_memory(tmp_path):
    out = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(REPO / "tests" / "bench" / "soak_editor.py"), "--minutes", "4",
         "--switch-every-min", "1", "--warmup-min", "1", "--sample-s", "5", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )
    assert out.exists(), run.stdout[-3000:] + run.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["lost"] == [] and result["errors"] == [], result
    assert run.returncode == 0, run.stdout[-3000:]
    actions = result["actions"]
    for done in ("keystrokes", "continue", "rephrase", "index folder", "save .txt", "model -> smollm2-135m"):
        assert actions.get(done, 0) > 0, (done, actions)
    assert result["growth_after_warmup_mb"] <= result["bound_mb"]
