"""Best-of-n on the real Gemma 3 270M (default Rephrase composition) and the real MiniLM guard."""

from __future__ import annotations

import pytest

from engine.errors import PromptError
from engine.modes import Mode
from engine.quality.best_of_n import MIN_P_SETTINGS, Candidate, rank
from engine.quality.guard import GuardVerdict

SOURCE = "She refused to leave the house until the letter from her brother arrived."


@pytest.mark.slow
def test_rephrase_takes_come_guarded_and_best_first(engine):
    found = engine.rephrase_candidates(SOURCE, n=3, seed=7)
    assert found.mode == "rephrase" and 1 <= len(found.candidates) <= 3
    assert {c.min_p for c in found.candidates} <= {0.15, 0.3, 0.05}
    for c in found.candidates:
        assert c.verdict is not None and c.verdict.ok == (not c.verdict.reasons)
    # Passing takes before demoted ones; among the passing ones, the higher score first.
    demoted = [c.demoted for c in found.candidates]
    assert demoted == sorted(demoted)
    passing = [c.score for c in found.candidates if not c.demoted]
    assert passing == sorted(passing, reverse=True)
    assert found.score_meaningful  # English: the score is shown
    # The takes after the first reuse the prompt's cache: only the last prompt position reruns.
    stats = engine.last_stats
    assert stats.reused_positions >= stats.prompt_positions - 2


@pytest.mark.slow
def test_the_first_take_uses_todays_sampling_and_streams(engine):
    """Take 0 is drawn with the default Rephrase sampling (today's single sample) and streams as it comes."""
    params = engine.take_params(Mode.REPHRASE, 0, seed=11)
    assert params.sampling == engine.mode_params[Mode.REPHRASE].sampling
    pieces: list[str] = []
    found = engine.rephrase_candidates(SOURCE, n=2, seed=11, on_piece=pieces.append)
    first = [c for c in found.candidates if c.min_p == params.sampling.min_p]
    assert first and "".join(pieces).strip() == first[0].text


def test_rank_puts_the_guarded_best_first():
    ok, flipped = GuardVerdict(True), GuardVerdict(False, ("a negation was added",), ("negation",))
    two_faults = GuardVerdict(False, ("x", "y"), ("negation", "number"))
    takes = [
        Candidate("flipped but fluent", 0.15, 1, 1.0, flipped, 0.99),
        Candidate("good", 0.3, 2, 1.0, ok, 0.70),
        Candidate("better", 0.05, 3, 1.0, ok, 0.80),
        Candidate("worst", 0.22, 4, 1.0, two_faults, 0.95),
        Candidate("good", 0.1, 5, 1.0, ok, 0.70),  # a duplicate text is one choice
    ]
    assert [c.text for c in rank(takes)] == ["better", "good", "flipped but fluent", "worst"]
    assert len(MIN_P_SETTINGS) == 5 and MIN_P_SETTINGS[0] is None


def test_bad_selections_are_refused_before_any_generation(engine):
    for text, message in [("   \n ", "empty|whitespace"), ("x = f(y);\nreturn x;\n", "code")]:
        with pytest.raises(PromptError, match=message):
            engine.rephrase_candidates(text, n=3)
