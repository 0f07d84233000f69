"""A short soak of the real editor (tests/bench/soak_editor.py; the hour-long run is in docs/reliability.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_five_minute_soak_keeps_every_word_and_bounded_memory(tmp_path):
    # Short rounds (one sentence, short waits) so that a round and both models fit the warm-up on a
    # loaded machine. The bound is 300 MB, not the hour's 150 MB: the first switch back to a model
    # steps RSS up once (+150-170 MB in the hour run, docs/reliability.md), and 5 minutes end there.
    out = tmp_path / "soak.json"
    run = subprocess.run(
        [sys.executable, str(REPO / "tests" / "bench" / "soak_editor.py"), "--minutes", "5",
         "--switch-every-min", "1", "--warmup-min", "1", "--sample-s", "5", "--sentences", "1",
         "--ghost-timeout-s", "20", "--rephrase-timeout-s", "30", "--continue-s", "5", "--bound-mb", "300",
         "--json", str(out)],
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
