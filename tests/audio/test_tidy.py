"""The rule-based dictation clean-up (baseline and fallback) and the guard on the model's clean-up."""

import pytest

from engine.audio.tidy import check_tidy, tidy_rules, words


@pytest.mark.parametrize(
    ("transcript", "context", "expected"),
    [
        (
            "um so i i went to the the market comma and uh bought some bread period",
            "",
            "So I went to the market, and bought some bread.",
        ),
        (
            "Um, I think, you know, the the weather is nice, comma, don't you think question mark",
            "",
            "I think the weather is nice, don't you think?",
        ),
        ("to the to the station full stop then home exclamation mark", "", "To the station. Then home!"),
        (
            "she wrote to mr darcy semicolon he did not answer",
            "She thought of Darcy all day.",
            "She wrote to Mr. Darcy; he did not answer.",
        ),
        ("and, um, then he left, you know.", "", "And then he left."),
        # Words that only look like fillers or marks stay: "a period of", "I mean it", "had had".
        ("he waited for a period of time", "", "He waited for a period of time."),
        ("i mean it when i say that that is wrong", "", "I mean it when I say that that is wrong."),
        ("he had had enough", "", "He had had enough."),
        # Inside a sentence (the context does not end one): no capital, no final period added.
        ("uh and the rain kept falling", "It was late,", "and the rain kept falling"),
        ("The letter arrived on Monday morning.", "", "The letter arrived on Monday morning."),
        ("um uh", "", ""),
    ],
)
def test_rules_remove_fillers_stutters_and_speak_punctuation(transcript, context, expected):
    assert tidy_rules(transcript, context) == expected


def test_rules_change_no_word_except_fillers_repeats_and_spoken_marks():
    transcript = "well i i think uh the the plan comma you know, is sound period"
    assert words(tidy_rules(transcript)) == ["well", "i", "think", "the", "plan", "is", "sound"]


def test_guard_accepts_a_clean_up_and_a_short_false_start():
    assert check_tidy("um so i i went to the the market", "So I went to the market.") == (True, "")
    assert check_tidy("she was she had been ill", "She had been ill.")[0]
    assert check_tidy("the man the old man walked home", "The old man walked home.")[0]


@pytest.mark.parametrize(
    ("output", "why"),
    [
        ("So I went to a market.", "added, changed"),  # a changed word
        ("So I went to the market and bought milk.", "added, changed"),  # invented words
        ("Went to market.", "left out"),  # dropped content
        ("The market I went to.", "added, changed"),  # reordered
        ("", "empty"),
    ],
)
def test_guard_rejects_added_changed_or_dropped_words(output, why):
    ok, reason = check_tidy("um so i i went to the the market", output)
    assert not ok and why in reason


def test_guard_rejects_fillers_stutters_and_spoken_marks_left_in():
    transcript = "what um what was to be inferred question mark"
    assert check_tidy(transcript, "What was to be inferred?")[0]
    assert not check_tidy(transcript, "What um what was to be inferred?")[0]
    assert not check_tidy(transcript, "What was to be inferred question mark.")[0]
    assert not check_tidy("the cobb cobb and the inn", "The Cobb Cobb and the inn.")[0]
    assert check_tidy("he waited for a period of time", "He waited for a period of time.")[0]
