"""Engine.tidy_dictation on the real default model: the writer's words survive whatever the model writes."""

import pytest

from engine.audio.tidy import check_tidy, tidy_rules, words
from engine.errors import PromptError

TRANSCRIPTS = [
    ("um so i i went to the the market comma and uh bought some bread period", ""),
    ("she she rarely left hartfield except to visit mrs weston", "Emma lived at Hartfield with her father."),
    ("The letter, um, the letter arrived this morning. Did you read it question mark", ""),
]


@pytest.mark.parametrize(("transcript", "context"), TRANSCRIPTS)
def test_tidy_dictation_keeps_the_transcripts_words(engine, transcript, context):
    out = "".join(engine.tidy_dictation(transcript, context))
    result = engine.last_tidy
    assert out == result.text and out and "\n" not in out
    if result.source == "model":
        assert check_tidy(transcript, out) == (True, "")
    else:  # the guard rejected the model's line: the rules' clean-up, word for word
        assert out == tidy_rules(transcript, context) and result.reason
    # Content words: nothing the writer did not say, and at most a short false start left out.
    said = words(transcript)
    assert set(words(out)) <= set(said)
    assert len(words(tidy_rules(transcript, context))) - len(words(out)) <= 3


def test_tidy_dictation_is_deterministic_and_rejects_empty_input(engine):
    transcript, context = TRANSCRIPTS[0]
    assert "".join(engine.tidy_dictation(transcript, context)) == "".join(
        engine.tidy_dictation(transcript, context)
    )
    with pytest.raises(PromptError):
        list(engine.tidy_dictation("   "))


def test_without_the_model_the_rules_answer(engine):
    transcript, context = TRANSCRIPTS[0]
    out = "".join(engine.tidy_dictation(transcript, context, use_model=False))
    assert out == tidy_rules(transcript, context) and engine.last_tidy.source == "rules"
