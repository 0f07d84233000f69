"""Copy-aware Rephrase decoding: what must stay is never lost, nothing the source lacks comes in."""

from __future__ import annotations

import re

import pytest
import torch

from engine.modes import Mode
from engine.quality.guard import names
from engine.quality.keep import Keep, VocabClasses, copy_rule, negation_cues, words_changed
from engine.sampling import CopyRule, inside_sentence

SOURCE = "Anna has not seen the 3 letters since May."

# ---------------------------------------------------------------- the facts


def test_keep_names_what_a_take_still_lacks():
    keep = Keep.of("Yesterday Anna did not see the 3 letters from Boris.")
    assert keep.missing(" Yesterday Anna") == ["boris", "3", "a negation"]
    assert keep.missing(" Yesterday Anna didn't see Boris's 3 letters.") == []
    assert Keep.of("It rained for three days.").missing(" It rained for three weeks.") == ["day"]


def test_negation_cues_leave_idioms_out():
    assert negation_cues("She did not go, and never wrote.") == 2
    assert negation_cues("Not only did she go, no doubt.") == 0


def test_words_changed_counts_the_source_words_not_kept_in_order():
    assert words_changed("the cat sat on the mat", "the cat sat on the mat") == 0.0
    assert words_changed("the cat sat on the mat", "the dog sat on the mat") == pytest.approx(1 / 6)
    assert words_changed("one two", "") == 1.0


def test_a_capital_inside_a_sentence_is_a_name_but_not_after_a_full_stop():
    assert inside_sentence(" She met")
    assert not inside_sentence("")
    assert not inside_sentence(" She left.")
    assert not inside_sentence(' He said: "')


# ---------------------------------------------------------------- the rule on hand-made logits

VOCAB = ["", " Anna", " has", " not", " seen", " the", " 3", " letters", " since", " May", ".", "\n", " 7",
         " Boris", " June", " never", " seven", " saw", " Ann", "a"]
EOS, NEWLINE = 0, 11


def _rule(**kw) -> CopyRule:
    vocab = VocabClasses(VOCAB)
    source_ids = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    return copy_rule(SOURCE, source_ids, vocab, {EOS, NEWLINE}, **kw)


def _ids(rule: CopyRule, text_tokens: list[int]) -> tuple[list[int], str]:
    return text_tokens, "".join(VOCAB[t] for t in text_tokens)


def test_numerals_names_months_and_negators_the_source_lacks_are_never_drawn():
    rule = _rule(copy_bias=0.0)
    generated, text = _ids(rule, [1, 2])  # " Anna has": inside a sentence
    out = rule.adjust(torch.zeros(len(VOCAB)), generated, text)
    for forbidden in (" 7", " seven", " June", " Boris"):
        assert out[VOCAB.index(forbidden)] == float("-inf"), forbidden
    for allowed in (" 3", " May", " Anna", " not", " never", " saw"):
        assert torch.isfinite(out[VOCAB.index(allowed)]), allowed
    # One negation in the source: once the take holds one, another negator cannot come in.
    generated, text = _ids(rule, [1, 2, 3])
    out = rule.adjust(torch.zeros(len(VOCAB)), generated, text)
    assert out[VOCAB.index(" never")] == float("-inf") and out[VOCAB.index(" not")] == float("-inf")


def test_missing_facts_stop_holding_the_end_past_the_hold_limit():
    rule = _rule(copy_bias=0.0)
    assert rule.hold_limit == int(1.3 * 10) + 4
    generated = [1, 2, 3, 17, 5] * 4  # a run-on that never wrote "May"
    text = "".join(VOCAB[t] for t in generated)
    assert torch.isfinite(rule.adjust(torch.zeros(len(VOCAB)), generated, text)[EOS])


def test_a_take_cannot_end_or_close_its_sentence_before_the_protected_facts():
    rule = _rule(copy_bias=0.0)
    generated, text = _ids(rule, [1, 2, 3, 17, 5, 6, 7])  # "Anna has not saw the 3 letters": no "May" yet
    logits = torch.zeros(len(VOCAB))
    logits[EOS] = logits[NEWLINE] = logits[10] = 50.0  # the model wants to stop
    out = rule.adjust(logits, generated, text)
    assert out[EOS] == out[NEWLINE] == out[10] == float("-inf")
    generated, text = _ids(rule, [1, 2, 3, 17, 5, 6, 7, 8, 9, 10])  # everything there, the sentence closed
    out = rule.adjust(torch.zeros(len(VOCAB)), generated, text)
    assert torch.isfinite(out[EOS]) and torch.isfinite(out[NEWLINE])
    assert torch.isinf(out[[i for i in range(len(VOCAB)) if i not in (EOS, NEWLINE)]]).all()  # only an end


def test_the_copy_bias_goes_to_the_source_token_that_continues_the_take():
    rule = _rule(copy_bias=2.0, max_copy_run=0)
    out = rule.adjust(torch.zeros(len(VOCAB)), [4, 5], " seen the")
    assert out[6] == 2.0  # " 3" follows " seen the" in the source
    assert out[7] == 0.0


def test_a_long_copied_run_must_be_broken_except_by_names_numbers_and_punctuation():
    rule = _rule(copy_bias=0.0, max_copy_run=3)
    out = rule.adjust(torch.zeros(len(VOCAB)), [2, 3, 4], " has not seen")
    assert out[5] == float("-inf")  # " the" would copy a 4th source token in a row
    out = rule.adjust(torch.zeros(len(VOCAB)), [3, 4, 5], " not seen the")
    assert torch.isfinite(out[6])  # " 3" is a number: always copyable


# ---------------------------------------------------------------- the rule in the real sampling loop


def _forbidden_in(take: str) -> list[str]:
    """What the rule must keep out of a take of SOURCE: other digits, months or number words, a second
    negation, a capitalized word inside a sentence that does not start like the source's (Anna, May)."""
    bad = [d for d in re.findall(r"\d", take) if d != "3"]
    bad += re.findall(r"\b(?:January|June|July|seven|ten|twelve)\b", take)
    bad += ["negation"] * (negation_cues(take) > 1)
    bad += [w for w in names(" " + take)[0] if w[0] not in "AM"]
    return bad


@pytest.mark.parametrize("bias, run", [(0.0, 0), (20.0, 0), (20.0, 4)])
def test_every_take_of_a_random_model_keeps_the_facts_and_brings_none(random_gemma, bias, run):
    engine = random_gemma
    engine.copy_bias, engine.max_copy_run = bias, run
    base = engine.mode_params[Mode.REPHRASE].with_overrides(temperature=1.0, min_p=0.0, max_new_tokens=24)
    hold = engine._keeping(SOURCE, base).rule.hold_limit
    assert 10 < hold < 24
    ended = 0
    for seed in range(8):
        take = "".join(engine.rephrase(SOURCE, params=base.with_overrides(seed=seed)))
        assert not _forbidden_in(take), take
        if engine.last_stats.stop_reason in ("eos", "newline"):  # it ended by itself: all facts are in,
            ended += 1  # unless it ran past the hold limit (then the guard flags what is missing)
            if engine.last_stats.new_tokens < hold:
                assert Keep.of(SOURCE).missing(" " + take) == [], take
    if bias and not run:  # copying, the takes finish their sentence and stop: the assertion above ran
        assert ended >= 6
