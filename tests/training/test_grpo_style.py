"""The Dr.GRPO style recipe on a tiny model: TRL's GRPOTrainer runs with the dr_grpo loss and no KL."""

import json

import pytest
import yaml

from tests.export.tiny_models import save_tiny_llama, save_word_tokenizer
from training.config import load_recipe_config
from training.recipes.grpo_style import GrpoStyleConfig, GrpoStyleRecipe


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    save_tiny_llama(folder)
    save_word_tokenizer(folder)
    return folder


@pytest.mark.parametrize("bitlora", [False, True])
def test_grpo_style_runs_dr_grpo_and_ships_an_adapter(tiny, tmp_path, bitlora):
    config = tmp_path / "grpo.yaml"
    config.write_text(yaml.safe_dump({
        "base": str(tiny),
        "data": {"inputs": ["reuters"], "references": ["austen", "moby_dick"], "train_prompts": 4,
                 "reference_sentences": 8, "exemplars": 1, "sentences": 2 if bitlora else 1},
        "warmup": {"adapter": ""},
        "lora": {"r": 4, "alpha": 8},
        "train": {"max_steps": 2, "batch_size": 4, "num_generations": 4, "max_completion_tokens": 8,
                  "num_iterations": 2, "log_every": 1, "bitlora": bitlora},
        "output": {"name": "grpo_test", "dir": str(tmp_path / "adapter"), "manifest_root": str(tmp_path / "assets"),
                   "run_dir": str(tmp_path / "run"), "dtype": "float32", "register": False},
    }))
    cfg = load_recipe_config(GrpoStyleConfig, config)
    recipe = GrpoStyleRecipe(cfg)
    metrics = recipe.run()
    trainer = recipe.grpo
    assert trainer.loss_type == "dr_grpo" and metrics["loss_type"] == "dr_grpo"
    assert trainer.args.scale_rewards == "none" and trainer.beta == 0.0 and trainer.num_iterations == 2
    assert recipe.rows[0]["reference"] in ("austen", "moby_dick") and "Rewritten:" in recipe.rows[0]["prompt"]
    rewarded = recipe.reward_fn.last
    assert rewarded and all(-3.0 <= p.length + p.punctuation <= 0.0 for p in rewarded)
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any("spread/per_sentence" in row for row in log)
    assert any("dropout/dropped" in row and "dropout/safeguard" in row for row in log)
    split = recipe.reward_fn.split
    assert all(len(split(row["source"])) == (2 if bitlora else 1) for row in recipe.rows)
    packed = (tmp_path / "adapter" / "bitlora.safetensors").exists()
    assert packed == bitlora and (tmp_path / "adapter" / "adapter_config.json").exists()
