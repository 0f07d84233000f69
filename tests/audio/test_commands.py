"""The spoken-command grammar: whole utterances, tolerant of Whisper's casing and punctuation."""

import pytest

from engine.audio.commands import Command, match_grammar, normalize, parse


@pytest.mark.parametrize(
    "said, kind, arg, count",
    [
        ("New line.", "new_line", "", 1),
        ("Newline", "new_line", "", 1),
        ("New paragraph.", "new_paragraph", "", 1),
        ("Scratch that!", "scratch_that", "", 1),
        ("Undo that.", "undo", "", 1),
        ("Delete last word.", "delete_last", "word", 1),
        ("Delete the last two words.", "delete_last", "word", 2),
        ("Delete last sentence.", "delete_last", "sentence", 1),
        ("delete the previous paragraph", "delete_last", "paragraph", 1),
        ("Select last sentence.", "select_last", "sentence", 1),
        ("Select the last 3 words", "select_last", "word", 3),
        ("Capitalize that.", "capitalize", "title", 1),
        ("Lowercase that.", "capitalize", "lower", 1),
        ("All caps that", "capitalize", "upper", 1),
        ("Rephrase that.", "rephrase", "", 1),
        ("Continue.", "continue", "", 1),
        ("Stop listening.", "stop_listening", "", 1),
        ("Read that back.", "read_back", "", 1),
        ("Question mark.", "punctuation", "?", 1),
        ("Please scratch that.", "scratch_that", "", 1),
    ],
)
def test_grammar_matches_whole_command_utterances(said, kind, arg, count):
    cmd = match_grammar(said)
    assert cmd == Command(kind, arg, count)


def test_select_keeps_the_words_to_find():
    assert match_grammar("Select bright, cold day.") == Command("select", "bright cold day")


def test_near_miss_of_a_command_phrase_still_matches_but_a_real_phrase_does_not():
    assert match_grammar("Scratch dat.").kind == "scratch_that"
    assert match_grammar("New paragraphs.").kind == "new_paragraph"
    assert match_grammar("Read that book.") is None


@pytest.mark.parametrize(
    "prose",
    [
        "It was a bright cold day in April.",
        "The new line of carriages arrived at noon.",
        "She wanted to scratch that itch all day.",
        "Continue to the next village, he said.",
        "They read that back in London.",
    ],
)
def test_prose_with_command_words_is_dictation(prose):
    parsed = parse(prose)
    assert parsed.command is None
    assert parsed.text == prose


def test_utterance_starting_like_a_command_is_ambiguous_and_dictation_without_classifier():
    parsed = parse("Delete that paragraph about the war.")
    assert parsed.ambiguous and parsed.command is None and parsed.source == "default"


def test_classifier_decides_ambiguous_utterances_only():
    calls = []

    def classifier(text):
        calls.append(text)
        return "command"

    assert parse("Scratch that.", classifier).source == "grammar"  # unambiguous: not asked
    parsed = parse("Delete that paragraph about the war.", classifier)
    assert calls == ["Delete that paragraph about the war."]
    assert parsed.command == Command("delete_last", "paragraph")
    parsed = parse("New paragraph it was late.", classifier)
    assert parsed.command.kind == "new_paragraph" and parsed.command.rest == "it was late."


def test_normalize_drops_whisper_punctuation_and_case():
    assert normalize("  Scratch—that!! ") == "scratch that"
