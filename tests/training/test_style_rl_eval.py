"""The style-RL table's measures (training/eval/style_rl.py) against hand-computed values."""

import numpy as np
import pytest

from tests.training.fake_adapters import fake_adapter, register_kept
from training.eval.style_rl import not_rewritten, score_rewrites, svc, word_similarity

REF = np.eye(3)  # three reference sentences, orthogonal unit vectors


def test_svc_is_the_cosine_of_nearest_reference_counts():
    inputs = np.array([[1.0, 0, 0], [0, 1.0, 0]])  # nearest: ref 0, ref 1 -> counts (1, 1, 0)
    outputs = np.array([[0.9, 0.1, 0], [0.8, 0, 0.2]])  # nearest: ref 0, ref 0 -> counts (2, 0, 0)
    assert svc(inputs, outputs, REF) == pytest.approx(2 / (np.sqrt(2) * 2))
    assert svc(inputs, inputs, REF) == pytest.approx(1.0)


def test_not_rewritten_threshold():
    a = "the rain had not stopped for three days and the river was full"
    assert word_similarity(a, a.upper()) == 1.0 and not_rewritten(a, a)
    assert not not_rewritten(a, "for three days it rained without pause and the river rose")


def test_score_rewrites_reports_the_table_columns():
    vocab = {"a": [1.0, 0, 0], "b": [0, 1.0, 0], "c": [0, 0, 1.0]}

    def encode(sents):
        return np.array([vocab[s.split()[0].lower()] for s in sents])

    out = score_rewrites(
        ["a x Paris.", "b y."],
        ["c z Paris.", "b y."],
        [REF, REF],
        encode=encode,
        split=lambda t: [t],
        entities=lambda t: {w for w in t.strip(".").split() if w[0].isupper()},
    )
    assert out["not_rewritten"] == 0.5  # the second output copies its input
    assert out["svc"] == 0.0  # the rewritten one moved from ref 0 to ref 2
    assert out["ne_kept"] == 1.0 and out["length_ratio"] == 1.0
    assert out["style_sim"] == out["input_style_sim"] == 1.0


def test_the_meaning_guard_column_counts_the_outputs_it_passes():
    from engine.quality.guard import MeaningGuard

    vocab = {"a": [1.0, 0, 0], "b": [0, 1.0, 0], "c": [0, 0, 1.0]}

    def encode(sents):
        return np.array([vocab.get(s.split()[0].lower(), [0, 0, 1.0]) for s in sents])

    class WordEncoder:  # the guard's MiniLM replaced by the same toy space: identical sentences are 1.0
        def encode(self, texts, batch_size=32):
            v = np.array([[1.0, 0.0, 0.0] for _ in texts])
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    out = score_rewrites(
        ["She did not leave in 1850.", "b y."],
        ["She left in 1851.", "b y."],  # a dropped negation and a changed year; a faithful copy
        [REF, REF],
        encode=encode,
        split=lambda t: [t],
        entities=lambda t: set(),
        guard=MeaningGuard(WordEncoder()),
    )
    assert out["faithful"] == 0.5


def test_rl_rows_are_recorded_in_task_rephrase_with_the_ship_rule(tmp_path):
    from engine.manifest import artifact
    from training.eval.style_rl import SFT_ROW, record

    register_kept(tmp_path, "task_rephrase")
    tried = {"rl": fake_adapter(tmp_path / "runs" / "rl", b"rl"), "loses": fake_adapter(tmp_path / "runs" / "l", b"l")}
    rows = {
        SFT_ROW: {"style_sim": 0.12, "ne_kept": 0.95},
        "rl": {"style_sim": 0.13, "ne_kept": 0.92},
        "loses": {"style_sim": 0.14, "ne_kept": 0.85},  # more style, but it drops names: does not ship
    }
    record(rows, tried, {"inputs": 24, "sentences": 2}, root=tmp_path)
    entry = artifact("task_rephrase", root=tmp_path).metrics["style_rl_2_sentences"]
    assert entry["outcome"] == "ships: rl" and set(entry["tried"]) == {"rl", "loses"}
    record({"rl": rows["rl"]}, {"rl": tried["rl"]}, {"sentences": 1}, root=tmp_path)
    assert artifact("task_rephrase", root=tmp_path).metrics["style_rl"]["outcome"].startswith("not compared")
