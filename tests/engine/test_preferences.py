"""The writer's recorded choices (engine/preferences.py): real files in a private KILLAH_HOME."""

import json
import stat

import pytest

from engine import prompts
from engine.errors import KillahError
from engine.preferences import MIN_PAIRS, NotEnoughChoices, PreferenceLog, default_log_path


def _log(recording=True) -> PreferenceLog:
    return PreferenceLog(recording=recording)


def test_nothing_is_recorded_without_consent():
    log = _log(recording=False)
    assert not log.record_ghost("The sea was", " calm.", accepted=False, typed=" grey.")
    assert not log.path.exists()
    assert log.count() == 0


def test_the_log_round_trips_private_and_versioned():
    log = _log()
    assert log.record_ghost("The sea was", " calm.", accepted=True)
    assert log.record_ghost("Ночь была", " тёмной.", accepted=False, typed=" ясной.")
    assert log.record_rephrase("He ran fast.", "He sprinted.", ["He ran quickly.", "He sprinted."])
    assert log.record_edit("She said", " hello.", " goodbye.")
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert log.path == default_log_path()
    again = PreferenceLog()  # a fresh reader sees exactly what was written
    records = again.records()
    assert [r["kind"] for r in records] == ["ghost", "ghost", "rephrase", "edit"]
    assert all(r["v"] == 1 for r in records)
    assert records[1]["typed"] == " ясной."
    assert records[2]["rejected"] == ["He ran quickly."]  # the applied one is not also rejected
    assert again.last(1)[0]["edited"] == " goodbye."


def test_pairs_are_built_in_the_engines_prompt_format():
    log = _log()
    context = "Call me Ishmael. Some years ago I went to"
    log.record_ghost(context, " the sea.", accepted=True)  # no pair: nothing rejected
    log.record_ghost(context, " the sea.", accepted=False, typed=" sea.")
    log.record_ghost(context, " the sea.", accepted=False, typed="")  # dismissed, nothing typed: no pair
    log.record_edit(context, " the shop.", " the harbour.")
    log.record_rephrase("He ran fast.", "He sprinted.", ["He ran quickly.", "Quick he ran."])
    pairs = log.pairs(minimum=0)
    assert [(p.kind, p.chosen, p.rejected) for p in pairs] == [
        ("ghost", " sea.", " the sea."),
        ("edit", " the harbour.", " the shop."),
        ("rephrase", " He sprinted.\n", " He ran quickly.\n"),
        ("rephrase", " He sprinted.\n", " Quick he ran.\n"),
    ]
    assert pairs[0].prompt == prompts.autocomplete_prompt(context)
    assert pairs[2].prompt == prompts.rephrase_prompt("He ran fast.")
    assert pairs[0].as_row() == {"prompt": pairs[0].prompt, "chosen": " sea.", "rejected": " the sea."}


def test_an_empty_or_tiny_log_says_not_enough_choices_yet():
    log = _log()
    with pytest.raises(NotEnoughChoices, match=f"0 of {MIN_PAIRS} needed"):
        log.pairs()
    log.record_ghost("A", " b.", accepted=False, typed=" c.")
    with pytest.raises(KillahError, match=f"Not enough choices yet.*1 of {MIN_PAIRS} needed"):
        log.pairs()


def test_a_corrupt_log_is_set_aside_and_its_readable_lines_kept():
    log = _log()
    log.record_ghost("One", " two.", accepted=False, typed=" three.")
    with open(log.path, "ab") as fh:
        fh.write(b"\xff\xfe not utf-8\n")
        fh.write(b'{"v": 1, "kind": "ghost", "context": "x"}\n')  # wrong shape
        fh.write(b'{"v": 1, "kind": "gho')  # a write cut short
    log.record_edit("Four", " five.", " six.")
    records = log.records()
    assert [r["kind"] for r in records] == ["ghost", "edit"]
    aside = list(log.path.parent.glob("preferences.corrupt-*.jsonl"))
    assert len(aside) == 1 and b"\xff\xfe not utf-8" in aside[0].read_bytes()  # nothing is lost
    assert "3 unreadable lines" in log.set_aside_message and aside[0].name in log.set_aside_message
    assert stat.S_IMODE(log.path.stat().st_mode) == 0o600
    assert [json.loads(line)["kind"] for line in log.path.read_text().splitlines()] == ["ghost", "edit"]
    fresh = PreferenceLog(recording=True)
    assert fresh.count() == 2 and fresh.set_aside_message == ""  # the rewritten log is clean
    fresh.record_ghost("Seven", " eight.", accepted=True)
    assert fresh.count() == 3


def test_a_record_from_a_newer_version_is_kept_not_interpreted():
    log = _log()
    log.path.write_text('{"v": 99, "kind": "gesture"}\n')
    log.record_ghost("A", " b.", accepted=False, typed=" c.")
    assert log.count() == 2 and not log.set_aside_message
    assert len(log.pairs(minimum=0)) == 1


def test_delete_all_removes_the_log_and_set_aside_copies():
    log = _log()
    log.record_ghost("One", " two.", accepted=True)
    log.path.write_bytes(log.path.read_bytes() + b"garbage\n")
    log.records()
    assert log.delete_all() == 2
    assert not list(log.path.parent.glob("preferences*.jsonl"))
    assert log.count() == 0
