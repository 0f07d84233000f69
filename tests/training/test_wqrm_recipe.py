"""The WQRM recipe end to end on a few real passages: pairs -> features -> Bradley-Terry -> artifact -> WQRM.load."""

from __future__ import annotations

import pytest

from training.config import load_recipe_config
from training.data.degrade import KINDS, degrade
from training.recipes.wqrm import WqrmConfig, run


def test_degradations_change_the_text_and_heavier_levels_change_more():
    text = (
        "The rain had not stopped for three days. However, the river was still low. "
        "So the farmers waited, because nothing else could be done. Then the wind turned."
    )
    for kind in KINDS:
        light, heavy = degrade(text, kind, 1), degrade(text, kind, 3)
        assert light != text and heavy != text, kind
        assert degrade(text, kind, 3) == heavy  # deterministic
    assert "however" not in degrade(text, "transitions", 2).lower()
    assert sorted(degrade(text, "shuffle", 3).split()) == sorted(text.split())  # same words, new order


@pytest.mark.slow
def test_recipe_trains_registers_and_loads(tmp_path):
    assets = tmp_path / "assets"
    cfg = load_recipe_config(
        WqrmConfig,
        "training/configs/gemma3-270m/wqrm.yaml",
        [
            "data.train_passages=6", "data.test_passages=3", "data.train_drafts=0", "data.test_drafts=0",
            "data.kinds=[repetition, shuffle]", f"data.cache_dir={tmp_path / 'cache'}",
            "train.max_steps=30", "eval.lm_baselines=false",
            f"output.dir={assets / 'wqrm'}", f"output.manifest_root={assets}",
        ],
    )  # fmt: skip
    result = run(cfg)
    assert result["pairs"]["all"] == 3 * 2 * 3  # 3 passages x 2 kinds x (2 levels vs human + 1 gradient)
    assert 0.0 <= result["heldout_accuracy"] <= 1.0

    from engine.quality.wqrm import WQRM

    rm = WQRM.load(root=assets)
    scores = rm.score(["The old man walked down to the harbour at dawn and counted the boats.", "Да."])
    assert isinstance(scores[0], float) and scores[1] is None
