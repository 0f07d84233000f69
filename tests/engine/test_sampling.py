"""min-p sampling against hand-computed distributions."""

import math

import pytest
import torch

from engine.sampling import (
    SamplingParams,
    apply_repetition_penalty,
    banned_ngram_tokens,
    min_p_filter,
    next_token_distribution,
    sample,
)


def test_min_p_keeps_tokens_at_least_min_p_times_the_top_probability():
    probs = torch.tensor([0.5, 0.3, 0.1, 0.06, 0.04])
    # threshold = 0.1 * 0.5 = 0.05: 0.04 goes, the rest is renormalized by 0.96
    out = min_p_filter(probs, 0.1)
    expected = torch.tensor([0.5, 0.3, 0.1, 0.06, 0.0]) / 0.96
    assert torch.allclose(out, expected, atol=1e-7)


def test_min_p_threshold_scales_with_confidence():
    confident = torch.tensor([0.9, 0.05, 0.05])
    open_ = torch.tensor([0.4, 0.35, 0.25])
    assert (min_p_filter(confident, 0.2) > 0).sum() == 1  # 0.05 < 0.18
    assert (min_p_filter(open_, 0.2) > 0).sum() == 3  # 0.25 >= 0.08


def test_distribution_applies_temperature_then_min_p_by_hand():
    logits = torch.tensor([2.0, 1.0, 0.0, -3.0])
    params = SamplingParams(temperature=0.5, min_p=0.05, repetition_penalty=1.0)
    # softmax(logits / 0.5) = softmax([4, 2, 0, -6])
    z = [math.exp(v) for v in (4, 2, 0, -6)]
    p = [v / sum(z) for v in z]
    keep = [v if v >= 0.05 * max(p) else 0.0 for v in p]  # drops exp(0) and exp(-6)
    expected = torch.tensor([v / sum(keep) for v in keep])
    got = next_token_distribution(logits, [], params)
    assert torch.allclose(got, expected, atol=1e-6)
    assert got[2] == 0 and got[3] == 0


def test_zero_temperature_is_greedy():
    logits = torch.tensor([0.1, 3.0, 2.9])
    assert sample(logits, [], SamplingParams(temperature=0)) == 1


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([2.0, -1.0, 0.5])
    out = apply_repetition_penalty(logits, [0, 1], 2.0)
    assert out.tolist() == [1.0, -2.0, 0.5]


def test_no_repeat_ngram_bans_the_token_completing_a_seen_trigram():
    history = [5, 6, 7, 1, 5, 6]
    assert banned_ngram_tokens(history, 3) == {7}


def test_seeded_sampling_is_reproducible_and_follows_the_distribution():
    logits = torch.log(torch.tensor([0.6, 0.3, 0.1]))
    params = SamplingParams(temperature=1.0, min_p=0.0, repetition_penalty=1.0)
    draws = lambda seed: [sample(logits, [], params, torch.Generator().manual_seed(seed)) for _ in range(1)]  # noqa: E731
    assert draws(3) == draws(3)
    gen = torch.Generator().manual_seed(0)
    counts = torch.bincount(torch.tensor([sample(logits, [], params, gen) for _ in range(4000)]), minlength=3)
    assert torch.allclose(counts / 4000, torch.tensor([0.6, 0.3, 0.1]), atol=0.03)


def test_min_p_never_draws_a_filtered_token():
    logits = torch.log(torch.tensor([0.7, 0.25, 0.05]))
    params = SamplingParams(temperature=1.0, min_p=0.1, repetition_penalty=1.0)  # cuts 0.05 < 0.07
    gen = torch.Generator().manual_seed(1)
    assert 2 not in {sample(logits, [], params, gen) for _ in range(2000)}


def test_invalid_params_are_rejected():
    with pytest.raises(ValueError):
        SamplingParams(min_p=1.5)
    with pytest.raises(ValueError):
        SamplingParams(temperature=-1)
