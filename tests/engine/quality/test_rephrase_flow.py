"""Adaptive best-of-n and passages, through the real sampling loop (a tiny random Gemma) and the real guard."""

from __future__ import annotations

import pytest

from engine.cancel import CancelToken
from engine.errors import PromptError
from engine.modes import Mode
from engine.quality.best_of_n import Candidate, draw_until, rank
from engine.quality.guard import GuardVerdict
from engine.quality.passages import passage_candidates, passage_units

PASSAGE = "Anna did not call on Monday.\n\nMr. Darcy left at 10 p.m. on Tuesday. “Go!” he said. Yes."


def test_adaptive_best_of_n_stops_at_the_first_take_that_passes_and_rewords(random_gemma):
    engine = random_gemma
    base = engine.mode_params[Mode.REPHRASE].with_overrides(max_new_tokens=6)
    drawn: list[str] = []

    def judge(take: Candidate) -> Candidate:
        drawn.append(take.text)
        ok = len(drawn) == 2  # the second take is the first one the judge accepts
        return Candidate(take.text, take.min_p, take.seed, take.seconds, GuardVerdict(ok), None, 0.5)

    start = lambda p: engine.rephrase("Anna walked to the old mill.", params=p)  # noqa: E731
    takes = draw_until(start, base, judge, n_max=5, seed=3)
    assert len(takes) == len(drawn) == 2 and takes[-1].accepted and not takes[0].accepted
    # A faithful copy is not accepted: nothing is reworded.
    copy = Candidate("x", 0.1, 0, 0.0, GuardVerdict(True), None, 0.0)
    assert copy.near_copy and not copy.accepted
    # Nothing accepted: it draws the cap, not more.
    drawn.clear()
    reject = lambda t: Candidate(t.text, t.min_p, t.seed, t.seconds, GuardVerdict(False, ("x",), ("content",)))  # noqa: E731
    assert len(draw_until(start, base, reject, n_max=3, seed=3)) == 3


def test_a_near_copy_ranks_after_a_real_rewrite_and_before_a_broken_one():
    ok, broken = GuardVerdict(True), GuardVerdict(False, ("x",), ("structure",))
    takes = [
        Candidate("copy", 0.1, 0, 1.0, ok, 0.9, 0.05),
        Candidate("broken", 0.1, 0, 1.0, broken, 0.99, 0.5),
        Candidate("rewrite", 0.1, 0, 1.0, ok, 0.5, 0.3),
    ]
    assert [c.text for c in rank(takes)] == ["rewrite", "copy", "broken"]


def test_a_passage_splits_into_sentences_keeping_the_whitespace_between_them():
    units = passage_units(PASSAGE)
    assert [u.text for u in units] == [
        "Anna did not call on Monday.", "Mr. Darcy left at 10 p.m. on Tuesday.", "“Go!” he said.", "Yes."
    ]
    assert [u.before for u in units] == ["", "\n\n", " ", " "]
    assert [u.kept for u in units] == [False, False, False, True]  # "Yes." is kept as it is
    assert "".join(u.before + u.text for u in units) == PASSAGE


def test_a_passage_take_fails_the_guard_if_any_sentence_does_and_says_which():
    units = passage_units("It rained all day. We stayed in.")
    ok, bad = GuardVerdict(True), GuardVerdict(False, ("a name is missing",), ("name",))
    takes = [[Candidate("Rain fell all day.", 0.1, 0, 1.0, ok)], [Candidate("We went out.", 0.1, 0, 1.0, bad)]]
    (joined,) = passage_candidates("It rained all day. We stayed in.", units, takes)
    assert joined.text == "Rain fell all day. We went out."
    assert not joined.verdict.ok and joined.verdict.reasons == ("sentence 2: a name is missing",)


def test_every_sentence_of_a_passage_is_rewritten_with_progress(random_gemma):
    engine = random_gemma
    engine.copy_bias, engine.max_copy_run = 20.0, 0  # the random model copies: every sentence comes back
    progress: list[tuple[int, int]] = []
    found = engine.rephrase_candidates(PASSAGE, n=1, seed=0, on_progress=lambda d, t: progress.append((d, t)))
    assert progress == [(1, 3), (2, 3), (3, 3)]
    best = found.best.text
    for fact in ("Anna", "not", "Monday", "Darcy", "10", "Tuesday", "Yes."):
        assert fact in best, (fact, best)
    assert "\n\n" in best  # the paragraph break stays


def test_a_long_passage_can_be_cancelled_between_sentences(random_gemma):
    engine = random_gemma
    engine.copy_bias, engine.max_copy_run = 20.0, 0
    text = " ".join(f"Sentence number {i} is here for a test." for i in range(40))
    token = CancelToken()

    def progress(done: int, total: int) -> None:
        assert total == 40
        if done == 2:
            token.cancel()

    found = engine.rephrase_candidates(text, n=1, seed=0, on_progress=progress, cancel=token)
    assert found.cancelled
    # The sentences after the cancel stay as written: the writer's text is never cut short.
    assert found.best.text.endswith(text.split(" Sentence number 3 ")[1])


@pytest.mark.parametrize("selection", ["word", "  Boston ", "Mr. Darcy", "1994", "March 3"])
def test_a_word_a_name_or_a_number_is_refused_with_a_clear_message(random_gemma, selection):
    with pytest.raises(PromptError, match="Select a phrase or sentence to rephrase"):
        random_gemma.rephrase_candidates(selection)
