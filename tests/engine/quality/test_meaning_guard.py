"""The meaning guard on the real MiniLM: what it must reject, and the paraphrases it must let through."""

from __future__ import annotations

import pytest

from engine.errors import PromptError
from engine.quality.guard import MeaningGuard, negation_changes, number_facts
from engine.quality.selection_check import check_rephrase_selection, language_of


@pytest.fixture(scope="module")
def guard():
    return MeaningGuard()


def test_a_negation_flip_is_rejected(guard):
    verdict = guard.check("She refused to leave the house.", "She did not refuse to leave the house.")
    assert not verdict.ok and verdict.kinds == ("negation",)
    assert "leave" in verdict.reasons[0]


def test_a_lost_negation_is_rejected(guard):
    verdict = guard.check(
        "The rain had not stopped for three days.", "The rain stopped for three whole days."
    )
    assert "negation" in verdict.kinds


def test_nothing_except_becomes_no_is_rejected(guard):
    source = "There was nothing in the drawer except two keys and a pencil."
    verdict = guard.check(source, "There was no pencil in the drawer.")
    assert {"negation", "number"} <= set(verdict.kinds)


def test_a_changed_number_is_rejected(guard):
    verdict = guard.check("He paid 300 pounds for the horse in March.", "He paid 200 pounds for the horse in March.")
    assert verdict.kinds == ("number",) and "300" in verdict.reasons[0] and "200" in verdict.reasons[0]
    assert not guard.check("The rain lasted three days.", "The rain went on for three weeks.").ok


def test_a_changed_name_is_rejected(guard):
    verdict = guard.check("She wrote to Elinor about the house.", "She wrote to Marianne about the house.")
    assert "name" in verdict.kinds and "Elinor" in " ".join(verdict.reasons)


def test_a_dropped_clause_is_rejected(guard):
    source = (
        "The rain had not stopped for three days, and the river below the village was still full of water."
    )
    verdict = guard.check(source, "The rain had not stopped for three days.")
    # The clause check names the clause; the parse check also sees its phrases go ("below the village").
    assert verdict.kinds[-1:] == ("content",) and "river" in " ".join(verdict.reasons)
    assert set(verdict.kinds) <= {"content", "structure"}


@pytest.mark.parametrize(
    ("source", "rewrite"),
    [
        ("She didn't answer the letter for a long time.", "For a long while, she left the letter unanswered."),
        ("She refused to leave the house.", "She would not leave the house."),
        ("Neither Elinor nor Marianne had seen him since Tuesday.", "Elinor and Marianne had not seen him since Tuesday."),
        ("There was nothing in the drawer except two keys and a pencil.", "The drawer held only two keys and a pencil."),
        ("He walked quickly to the station because he was late.", "Running late, he walked quickly to the station."),
    ],
)
def test_faithful_paraphrases_pass(guard, source, rewrite):
    verdict = guard.check(source, rewrite)
    assert verdict.ok, verdict.reasons


def test_negation_rules_need_no_encoder():
    assert negation_changes("He never came back.", "He came back.")
    assert not negation_changes("He never came back.", "He did not come back.")
    assert number_facts("a dozen eggs on 3 May 1811") == number_facts("twelve eggs on 3 May 1811")


def test_rephrase_input_checks_give_clear_messages():
    with pytest.raises(PromptError, match="whitespace"):
        check_rephrase_selection(" \n\t ", 4000)
    with pytest.raises(PromptError, match="code"):
        check_rephrase_selection("def f(x):\n    return x + 1\n", 4000)
    with pytest.raises(PromptError, match="table"):
        check_rephrase_selection("| name | age |\n|---|---|\n| Ann | 3 |\n", 4000)
    with pytest.raises(PromptError, match="4,000"):
        check_rephrase_selection("word " * 1000, 4000)
    with pytest.raises(PromptError, match="English or Russian"):
        check_rephrase_selection("Der Hund lief schnell über die Straße, weil es regnete und kalt war.", 4000)
    assert language_of("Мороз и солнце; день чудесный.") == "ru"
    assert check_rephrase_selection("The weather was bad, so we stayed at home all day.", 4000) == "en"
