"""Style rewards and style reward dropout (training/rl/style_reward.py) against hand-computed values."""

import numpy as np
import pytest

from training.rl.style_reward import (
    StyleReward,
    dropout_probabilities,
    dropout_stats,
    ne_overlap,
    overlong_penalty,
    style_score,
    style_spread,
)


def test_dropout_probabilities_match_the_formula_on_a_hand_made_matrix():
    sims = np.array([[1.0, 0.9, 0.8], [0.9, 1.0, 0.4], [0.8, 0.4, 1.0]])
    # D = [0.9 + 0.8, 0.9 + 0.4, 0.8 + 0.4] = [1.7, 1.3, 1.2]; r = D / 1.7; p = clip(r ** 10, 0, 0.9)
    expected = [0.9, (1.3 / 1.7) ** 10, (1.2 / 1.7) ** 10]
    assert dropout_probabilities(sims) == pytest.approx(expected)
    assert expected[1] == pytest.approx(0.06838, abs=1e-5)  # far below the dominant sentence's cap


def test_a_reference_of_unlike_sentences_is_never_dropped():
    sims = np.array([[1.0, -0.2], [-0.2, 1.0]])
    assert dropout_probabilities(sims).tolist() == [0.0, 0.0]


def _unit(*rows):
    m = np.array(rows, dtype=float)
    return m / np.linalg.norm(m, axis=1, keepdims=True)


def test_style_score_sums_each_sentences_best_cosine():
    ref = _unit([1, 0], [0, 1])
    gen = _unit([1, 0], [1, 1])
    score = style_score(gen, ref)
    assert score.total == pytest.approx(1.0 + np.sqrt(0.5))
    assert score.per_sentence == pytest.approx((1.0 + np.sqrt(0.5)) / 2)
    assert score.nearest == (0, 0) and not score.safeguard


def test_dropout_removes_contributions_of_dominant_references():
    ref = _unit([1, 0], [0, 1])
    gen = _unit([1, 0], [0, 1])
    score = style_score(gen, ref, drop_probs=np.array([1.0, 0.0]), rng=np.random.default_rng(0))
    assert score.kept == (False, True) and score.total == pytest.approx(1.0)


def test_safeguard_cancels_the_dropout_when_everything_is_dropped():
    ref = _unit([1, 0], [0, 1])
    gen = _unit([1, 0], [0, 1])
    score = style_score(gen, ref, drop_probs=np.array([1.0, 1.0]), rng=np.random.default_rng(0))
    assert score.safeguard and score.kept == (True, True) and score.total == pytest.approx(2.0)


def test_dropout_stats_count_dropped_contributions_and_safeguards():
    ref = _unit([1, 0], [0, 1])
    two = _unit([1, 0], [0, 1])
    partly = style_score(two, ref, drop_probs=np.array([1.0, 0.0]), rng=np.random.default_rng(0))
    cancelled = style_score(two, ref, drop_probs=np.array([1.0, 1.0]), rng=np.random.default_rng(0))
    # One of four contributions is dropped (the cancelled text keeps both); one of two texts tripped it.
    assert dropout_stats([partly, cancelled]) == {"dropout/dropped": 0.25, "dropout/safeguard": 0.5}
    # A one-sentence text can only be kept or trip the safeguard: the dropout never acts on it.
    one = style_score(_unit([1, 0]), ref, drop_probs=np.array([1.0, 0.0]), rng=np.random.default_rng(0))
    assert dropout_stats([one]) == {"dropout/dropped": 0.0, "dropout/safeguard": 1.0}
    assert dropout_stats([]) == {}


def test_overlong_penalty_follows_dapo_shaping():
    assert overlong_penalty(10, limit=20, band=5) == 0.0
    assert overlong_penalty(15, limit=20, band=5) == 0.0
    assert overlong_penalty(17.5, limit=20, band=5) == pytest.approx(-0.5)
    assert overlong_penalty(21, limit=20, band=5) == -1.0


def test_ne_overlap():
    assert ne_overlap({"anne", "bath"}, {"anne"}) == 0.5
    assert ne_overlap(set(), {"x"}) == 1.0


def test_style_spread_is_zero_for_a_sentence_equally_like_every_style():
    styles = {"a": _unit([1, 0]), "b": _unit([0, 1])}
    per_sentence, per_style = style_spread(_unit([1, 1]), styles)
    assert per_sentence == pytest.approx(0.0) and per_style == pytest.approx(0.0)
    per_sentence, _ = style_spread(_unit([1, 0]), styles)
    assert per_sentence == pytest.approx(0.5)  # sims (1, 0): std 0.5


def test_style_reward_is_a_trl_reward_function():
    vocab = {"rain": [1, 0, 0], "sun": [0, 1, 0], "Anne": [0, 0, 1]}

    def encode(sentences):
        rows = [
            np.sum([vocab.get(w.strip(".").strip(), [0.1, 0.1, 0.1]) for w in s.split()], axis=0)
            for s in sentences
        ]
        return _unit(*rows)

    reward = StyleReward(
        {"wet": ["rain.", "rain rain."]},
        encode=encode,
        split=lambda t: [s for s in t.split(". ") if s],
        entities=lambda t: {w.lower().strip(".") for w in t.split() if w[0].isupper()},
        dropout=False,
    )
    [good, bad] = reward(
        prompts=["", ""],
        completions=["rain Anne.", "sun."],
        source=["Anne sun.", "Anne sun."],
        reference=["wet", "wet"],
    )
    assert good > bad  # closer to the reference's style and keeps the name
    assert reward.last[1].ne_overlap == 0.0 and reward.last[0].ne_overlap == 1.0
