"""Pair choice for DPO / DDPO: the WQRM picks, and for Rephrase the meaning guard vetoes."""

from training.data.preference_pairs import choose_pair


def test_best_and_worst_are_paired_when_the_gap_clears_the_margin():
    assert choose_pair([0.1, 0.5, -0.2], margin=0.3) == (1, 2)
    assert choose_pair([0.1, 0.2, 0.15], margin=0.3) is None
    assert choose_pair([0.4, None], margin=0.1) is None


def test_an_unfaithful_rewrite_is_never_chosen_even_if_it_reads_best():
    # sample 1 reads best but the guard flagged it: the best faithful one (0) is chosen, 1 is rejected
    assert choose_pair([0.3, 0.9, 0.25], margin=0.1, faithful=[True, False, True]) == (0, 1)


def test_a_meaning_error_is_a_clear_loss_whatever_the_margin():
    assert choose_pair([0.30, 0.31], margin=0.5, faithful=[True, False]) == (0, 1)
    assert choose_pair([0.30, 0.31], margin=0.5, faithful=[True, True]) is None


def test_no_faithful_sample_gives_no_pair():
    assert choose_pair([0.3, 0.9], margin=0.1, faithful=[False, False]) is None
