"""Finding misheard command targets by sound and spelling (engine/audio/targets.py), and the
select / correct / insert after commands that use it."""

from __future__ import annotations

import pytest

from engine.audio.commands import Command, match_grammar, parse
from engine.audio.dictation import DictationSession, DocState
from engine.audio.targets import alternatives, find_target, phonetic_key, rank_targets, similarity

DOC = ("The cat sat on the mat. Then the piano playing cat jumped onto the stool, and the handle of the "
       "door broke. A card fell from the shelf.")


def test_phonetic_key_merges_what_recognizers_confuse():
    assert phonetic_key("cat") == phonetic_key("cad") == phonetic_key("gad") == "kt"
    assert phonetic_key("phone") == phonetic_key("fone")
    assert phonetic_key("rephrase") == phonetic_key("refres")
    assert phonetic_key("knight") == phonetic_key("night")
    assert phonetic_key("piano") != phonetic_key("handle")


@pytest.mark.parametrize("heard", ["the handle playing card", "the bi oplating cut", "the panel play and cut"])
def test_misheard_phrase_finds_the_closest_phrase_on_screen(heard):
    found = find_target(DOC, heard, len(DOC))
    assert found is not None and found.text == "the piano playing cat"
    assert found.score < 1.0  # found by similarity, not spelled as said


def test_exact_words_win_and_nothing_close_is_not_found():
    exact = find_target(DOC, "the mat", len(DOC))
    assert exact is not None and exact.score == 1.0 and DOC[exact.start:exact.end] == "the mat"
    assert find_target(DOC, "parliament adjourned quickly", len(DOC)) is None


def test_windows_stay_inside_a_sentence():
    # "handle of the door broke. A card" would pair words across the full stop.
    for match in rank_targets(DOC, "the handle playing card", len(DOC), limit=5):
        assert ". " not in match.text


def test_similarity_orders_the_real_target_first():
    assert similarity("the handle playing card", "the piano playing cat") > similarity(
        "the handle playing card", "the stool and the")


def test_select_command_selects_the_fuzzy_target_and_changes_no_text():
    session = DictationSession()
    out = session.handle("Select the handle playing card.", DocState(DOC, len(DOC)))
    assert out.edit is None
    a, b = out.state.selection
    assert DOC[a:b] == "the piano playing cat"
    assert "closest match" in out.message


def test_select_with_nothing_close_types_the_words_as_before():
    # The grammar's guarantee: prose that starts with "Select" is typed, never swallowed.
    session = DictationSession()
    out = session.handle("Select committees were formed.", DocState(DOC, len(DOC)))
    assert out.dictated and "not in the document" in out.message
    assert out.state.text.startswith(DOC)


def test_correct_selects_and_offers_alternatives():
    session = DictationSession(vocabulary=["Pemberley"])
    doc = "Elizabeth walked to Pemberly with the piano playing cat."
    out = session.handle("Correct the handle playing card.", DocState(doc, len(doc)))
    assert out.action == "correct" and out.edit is None
    a, b = out.state.selection
    assert doc[a:b] == "the piano playing cat"
    assert out.alternatives[0] == "the handle playing card"
    fix = session.handle("correct Pemberly", DocState(doc, len(doc)))
    assert "Pemberley" in fix.alternatives


def test_alternatives_never_offer_the_selection_itself():
    alts = alternatives("the piano playing cat", "the piano playing cat", ["piano", "pianos", "cut"])
    assert "the piano playing cat" not in alts
    assert "the piano playing cut" in alts


def test_insert_after_moves_the_cursor_to_the_end_of_the_target():
    session = DictationSession()
    out = session.handle("Insert after the wooden stool.", DocState(DOC, 0))
    assert out.edit is None and out.state.selection is None
    assert DOC[: out.state.cursor].endswith("onto the stool")


def test_grammar_parses_the_new_commands_and_leaves_long_prose_alone():
    assert match_grammar("Correct the yellow ribbon.") == Command("correct", "the yellow ribbon")
    assert match_grammar("Insert after the box.") == Command("insert_after", "the box")
    assert not parse("Correct me if I am ever wrong about this, she said.").is_command


@pytest.mark.parametrize("heard,kind", [("Crush that.", "scratch_that"), ("Scratch dad.", "scratch_that"),
                                        ("Knew line.", "new_line"), ("Rephrase dat.", "rephrase")])
def test_misheard_fixed_commands_match_by_sound(heard, kind):
    assert match_grammar(heard).kind == kind


@pytest.mark.parametrize("prose", ["Crush the garlic.", "Your line is busy.", "Stop it.", "Read that book.",
                                   "I do not know.", "Undo the knot."])
def test_short_prose_near_a_command_stays_prose(prose):
    assert match_grammar(prose) is None
