"""The LM command classifier (Gemma 3 270M, few-shot log-likelihood) on utterances the grammar leaves open."""

import pytest

from engine.audio.commands import LMCommandClassifier, parse


@pytest.fixture(scope="module")
def classifier(engine):
    return LMCommandClassifier(loaded=engine.loaded)


def test_classifier_leans_command_for_edit_requests_and_dictation_for_prose(classifier):
    assert classifier("scratch the last bit") == "command"
    assert classifier("select the word garden") == "command"
    assert classifier("Capitalize on their mistakes, the general said.") == "dictation"
    assert classifier("Delete nothing, he told the clerk, until the audit is over.") == "dictation"
    # Calibrated log-odds order the two readings of the same words.
    assert classifier.score("scratch the last bit") > classifier.score("Scratch the surface and you will find gold.")



def test_session_with_classifier_executes_an_ambiguous_delete(classifier):
    text = "The war began. It was long."
    said = "scratch the last bit"
    assert parse(said).command is None  # not in the grammar
    from engine.audio.dictation import DictationSession, DocState

    out = DictationSession(classifier=classifier).handle(said, DocState(text, len(text)))
    assert out.command is not None and out.state.text == "The war began."
