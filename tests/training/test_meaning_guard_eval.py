"""training/eval/meaning_guard.py: the Wilson intervals it reports, the rule-made faults, and that
every stored take of the held-out run carries a hand label (the report counts only labelled takes)."""

import json

import pytest

from training.config import REPO
from training.eval.meaning_guard import LABELS, _rate, perturbations


def test_rate_gives_the_wilson_interval():
    # Wilson 95 %: 0/10 -> [0, 27.8 %] (a plain normal interval would say [0, 0]); 33/35 -> [81.4, 98.4].
    assert _rate(0, 10) == "0/10 = 0.0% [0.0%, 27.8%]"
    assert _rate(33, 35) == "33/35 = 94.3% [81.4%, 98.4%]"
    assert _rate(0, 0) == "-"


def test_perturbations_break_negation_number_name_and_clause():
    edits = perturbations("Emma did not write to Jane for 3 days, because the roads were closed by snow.")
    assert (
        edits["negation removed"]
        == "Emma did write to Jane for 3 days, because the roads were closed by snow."
    )
    assert "for 10 days" in edits["number changed"]
    assert "Harriet" in edits["name changed"] and "Jane" not in edits["name changed"]
    assert edits["clause dropped"] == "Emma did not write to Jane for 3 days."


@pytest.mark.parametrize("takes_file", ["meaning_guard_takes.jsonl", "meaning_guard_et_takes.jsonl"])
def test_every_stored_take_has_a_hand_label(takes_file):
    # Eager takes and the ExecuTorch (INT8) takes, which differ and are reported apart.
    takes = REPO / "training" / "data" / takes_file
    labelled = {
        (row["source"], " ".join(row["output"].split()))
        for row in map(json.loads, LABELS.read_text().splitlines())
    }
    for row in map(json.loads, takes.read_text().splitlines()):
        for take in row["takes"]:
            assert (row["text"], " ".join(take["text"].split())) in labelled, take["text"]
