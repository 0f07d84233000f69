"""kill -9 at random moments while the real app types: each restart recovers all but <= 1 s of typing.

The measurement is tests/bench/kill_recovery.py (10 kills, with the model, for docs/reliability.md);
these run the same code with fewer kills.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import kill_recovery  # noqa: E402


def kills(*argv: str) -> list[kill_recovery.KillResult]:
    results = kill_recovery.measure_kills(kill_recovery.parse_args(list(argv)))
    for result in results:
        assert result.note == "", result.note
        assert result.typed_chars > 0  # the app was typing when it died: the check is not empty
    return results


def test_two_random_kills_of_the_plain_editor_lose_at_most_one_second_of_typing():
    # Killed 1.5-4 s into typing: the old 5-s autosave timer lost all of it (up to 4 s).
    results = kills("--kills", "2", "--model", "none", "--min-s", "1.5", "--max-s", "4", "--seed", "11")
    assert max(r.loss_s for r in results) <= kill_recovery.BOUND_S, results


@pytest.mark.slow
def test_three_random_kills_while_the_model_suggests_lose_at_most_one_second_of_typing():
    results = kills("--kills", "3", "--model", "gemma3-270m", "--min-s", "3", "--max-s", "25", "--seed", "12")
    assert max(r.loss_s for r in results) <= kill_recovery.BOUND_S, results


def test_loss_is_measured_from_the_first_key_that_was_not_recovered():
    log = [(1, 100.0), (2, 100.1), (3, 100.2), (4, 100.3)]
    assert kill_recovery.loss_seconds(log, recovered=4, killed_at=100.5) == 0.0
    assert kill_recovery.loss_seconds(log, recovered=2, killed_at=100.5) == pytest.approx(0.3)
    assert kill_recovery.loss_seconds(log, recovered=0, killed_at=101.0) == pytest.approx(1.0)
