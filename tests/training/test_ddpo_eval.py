"""Diversity measures and the ship rule of training/eval/ddpo.py, against hand-computed values."""

import numpy as np
import pytest

from tests.training.fake_adapters import fake_adapter, register_kept
from training.eval.ddpo import distinct_n, mean_pairwise_distance, mean_pairwise_style_distance, ships


def test_distinct_n_over_a_prompts_samples():
    # bigrams: (a b) (b c) | (a b) (b d) -> 3 distinct of 4
    assert distinct_n(["a b c", "a b d"], 2) == pytest.approx(0.75)
    assert distinct_n(["a"], 3) == 0.0


def test_mean_pairwise_distance_of_unit_vectors():
    v = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    # pairs: (0,1) 1.0, (0,2) 0.0, (1,2) 1.0 -> mean 2/3
    assert mean_pairwise_distance(v) == pytest.approx(2 / 3)


def test_style_distance_is_zero_for_identical_texts():
    assert mean_pairwise_style_distance(["The same words.", "The same words."]) == pytest.approx(0.0)
    assert mean_pairwise_style_distance(["The same words.", "Entirely other prose!"]) > 0.5


def test_a_refined_adapter_ships_only_with_better_quality_and_no_less_diversity():
    sft = {"wqrm": 0.1, "distinct_2": 0.8, "distinct_3": 0.9, "semantic_distance": 0.5, "style_distance": 0.4}
    assert ships(sft, {**sft, "wqrm": 0.2})
    assert not ships(sft, {**sft, "wqrm": 0.2, "distinct_3": 0.85})
    assert not ships(sft, {**sft, "wqrm": 0.05})


def test_a_rephrase_adapter_that_breaks_meaning_more_often_does_not_ship():
    sft = {"wqrm": 0.1, "distinct_2": 0.8, "distinct_3": 0.9, "semantic_distance": 0.3, "style_distance": 0.4, "faithful": 0.3}
    assert ships(sft, {**sft, "wqrm": 0.2, "faithful": 0.35})
    assert not ships(sft, {**sft, "wqrm": 0.2, "faithful": 0.25})


def test_the_comparison_is_recorded_in_the_kept_adapters_manifest_entry(tmp_path):
    from engine.manifest import artifact
    from training.eval.ddpo import record_refinement

    register_kept(tmp_path, "task_rephrase")
    refined = {"dpo": fake_adapter(tmp_path / "runs" / "dpo", b"dpo"), "ddpo": fake_adapter(tmp_path / "runs" / "ddpo", b"x")}
    sft = {"wqrm": 0.1, "distinct_2": 0.8, "distinct_3": 0.9, "semantic_distance": 0.3, "style_distance": 0.4}
    # Rows merged from two runs carry no verdict: the record applies the ship rule to them.
    results = {"SFT": sft, "dpo": {**sft, "wqrm": 0.3, "distinct_3": 0.8}, "ddpo": {**sft, "wqrm": 0.2}}
    record_refinement("rephrase", results, refined, {"prompts": 12}, root=tmp_path)
    entry = artifact("task_rephrase", root=tmp_path).metrics["refinement"]
    assert entry["outcome"] == "ships: ddpo" and entry["prompts"] == 12
    assert entry["rows"]["dpo"]["ships"] is False and entry["rows"]["ddpo"]["ships"] is True
    digests = {label: r["adapter_sha256"] for label, r in entry["tried"].items()}
    assert len(set(digests.values())) == 2 and all(len(d) == 64 for d in digests.values())
