"""The DDPO recipe end to end on a tiny model: persona merged below, the SFT adapter refined, registered."""

import json

import pytest
import yaml

from engine.manifest import artifact, register_artifact
from engine.models import load_model
from tests.export.tiny_models import save_random_lora, save_tiny_llama, save_word_tokenizer
from training.config import load_recipe_config
from training.recipes.ddpo import DdpoConfig, DdpoRecipe


@pytest.fixture(scope="module")
def tiny_assets(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddpo")
    base = save_tiny_llama(root / "base")
    save_word_tokenizer(base)
    info = load_model(base).info
    assets = root / "assets"
    for seed, name in enumerate(("persona", "task_continue")):
        folder = save_random_lora(base, assets / "adapters" / name, seed, ["q_proj", "v_proj"], std=0.05)
        register_artifact(name, "lora_adapter", [folder], info.name, info.source_sha256, root=assets)
    pairs = root / "pairs.jsonl"
    rows = [
        {"prompt": f"w{i} w{i + 1} w{i + 2}", "chosen": f" w{i + 3} w{i + 4}", "rejected": " w9 w9 w9", "weight": 0.5 + i / 10}
        for i in range(10)
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return base, assets, pairs


@pytest.mark.parametrize("weighting", ["ddpo", "dpo"])
def test_ddpo_recipe_refines_the_sft_adapter_over_merged_persona(tiny_assets, tmp_path, weighting):
    base, assets, pairs = tiny_assets
    config = tmp_path / "ddpo.yaml"
    config.write_text(yaml.safe_dump({
        "base": str(base),
        "data": {"pairs": str(pairs), "weighting": weighting, "eval_fraction": 0.2},
        "refine": {"adapter": "task_continue", "below": ["persona"]},
        "train": {"max_steps": 4, "batch_size": 2, "lr": 5e-3, "log_every": 1, "beta": 0.5},
        "output": {"name": f"task_continue_{weighting}", "dir": str(assets / "adapters" / f"refined_{weighting}"),
                   "manifest_root": str(assets), "run_dir": str(tmp_path / "run"), "dtype": "float32"},
    }))
    recipe = DdpoRecipe(load_recipe_config(DdpoConfig, config))
    metrics = recipe.run()
    weights = recipe.trainer.train_dataset["weight"]
    assert (set(weights) == {1.0}) == (weighting == "dpo")
    assert metrics["pairs_train"] == 8 and metrics["pairs_eval"] == 2
    assert metrics["eval_margin_after"] > metrics["eval_margin_before"]
    refined = artifact(f"task_continue_{weighting}", assets)
    assert refined.extra["refines"] == "task_continue"
    assert {p.name for p in refined.folder.iterdir()} >= {"adapter_config.json", "adapter_model.safetensors"}
