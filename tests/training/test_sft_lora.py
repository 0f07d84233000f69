"""The SFT LoRA recipe: every task trains for 2 steps on tiny data, saves a peft adapter and registers it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from engine.manifest import artifact
from engine.models import load_model
from training.config import REPO, build_config, load_recipe_config
from training.recipes import sft_lora

CONFIGS = REPO / "training" / "configs" / "gemma3-270m"
TINY = [
    "base=smollm2-135m",
    "train.max_steps=2",
    "train.batch_size=2",
    "train.warmup_steps=0",
    "data.train_examples=4",
    "data.eval_examples=2",
    "data.max_prompt_tokens=48",
    "data.max_completion_tokens=12",
    "lora.r=4",
    "lora.alpha=8",
    "monitor.every=1",
    "train.log_every=1",
    "output.require_improvement=false",  # 2 steps need not beat the base; shipping rules are tested apart
]


def _tiny(name: str, tmp_path: Path, *extra: str) -> sft_lora.SftConfig:
    root = tmp_path / "assets"
    return load_recipe_config(
        sft_lora.SftConfig,
        CONFIGS / f"{name}.yaml",
        [
            *TINY,
            f"output.dir={root / 'adapters' / name}",
            f"output.manifest_root={root}",
            f"output.run_dir={tmp_path / 'run'}",
            *extra,
        ],
    )


@pytest.fixture(scope="module")
def rephrase_pairs(tmp_path_factory):
    path = tmp_path_factory.mktemp("pairs") / "pairs.jsonl"
    rows = [
        {
            "source": f"The {w} was very old and nobody lived in it.",
            "paraphrase": f"Nobody lived in the ancient {w}.",
            "origin": "test",
            "part": "train",
        }
        for w in (
            "house",
            "castle",
            "farm",
            "mill",
            "barn",
            "church",
            "tower",
            "cottage",
            "inn",
            "lodge",
            "hall",
            "abbey",
        )
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


@pytest.mark.parametrize("name", ["task_autocomplete", "task_continue", "persona", "task_rephrase", "task_dictation"])
def test_recipe_trains_two_steps_saves_and_registers_the_adapter(name, tmp_path, rephrase_pairs):
    extra = [f"data.pairs={rephrase_pairs}"] if name == "task_rephrase" else []
    metrics = sft_lora.run(_tiny(name, tmp_path, *extra))
    assert metrics["steps"] == 2
    assert metrics["heldout_completion_nll_adapter"] > 0
    assert "intruder/mean_match" in metrics
    found = artifact(name, root=tmp_path / "assets")  # files verified by sha256
    assert found.kind == "lora_adapter" and found.base_model == "smollm2-135m"
    assert found.config == f"training/configs/gemma3-270m/{name}.yaml"
    assert {Path(f.path).name for f in found.files} == {"adapter_config.json", "adapter_model.safetensors"}
    cfg = json.loads((found.folder / "adapter_config.json").read_text())
    assert cfg["r"] == 4 and cfg["base_model_name_or_path"] is None
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert any("loss" in row for row in log)


def test_freezing_a_keeps_the_a_matrices_at_their_init(tmp_path):
    from safetensors.torch import load_file

    metrics = sft_lora.run(_tiny("task_autocomplete", tmp_path, "lora.freeze_a=true", "train.lr=1e-2"))
    trained = load_file(
        str(tmp_path / "assets" / "adapters" / "task_autocomplete" / "adapter_model.safetensors")
    )
    # B starts at zero: after training with a frozen A, the B matrices moved and the trainable count halved-ish.
    assert any(v.abs().max() > 0 for k, v in trained.items() if "lora_B" in k)
    assert metrics["trainable_params"] < 2_000_000  # r=4 all-linear with A frozen on SmolLM2: ~0.5M (B only)


def test_an_adapter_stacked_on_a_shipped_one_trains_alone_and_records_what_it_sits_on(tmp_path):
    from safetensors.torch import load_file

    from engine.export.compose import adapter_sha256

    sft_lora.run(_tiny("persona", tmp_path, "persona.soft_tokens=false"))
    persona = artifact("persona", root=tmp_path / "assets")
    metrics = sft_lora.run(
        _tiny("task_continue", tmp_path, "lora.stack_on=[persona]", "train.lr=1e-2", f"output.run_dir={tmp_path / 'r2'}")
    )
    # Scored against the composition below it as well as the bare base.
    assert metrics["heldout_completion_nll_below"] > 0 and metrics["heldout_completion_nll_base"] > 0
    assert metrics["heldout_completion_nll_below"] != metrics["heldout_completion_nll_base"]
    task = artifact("task_continue", root=tmp_path / "assets")
    assert task.extra["stack_on"] == {"persona": adapter_sha256(persona.folder)}
    assert "trained on top of persona (frozen, active)" in task.data
    # Only the new adapter was trained and saved: the one below stayed frozen.
    saved = load_file(str(task.folder / "adapter_model.safetensors"))
    assert metrics["trainable_params"] == sum(v.numel() for v in saved.values())
    assert any(v.abs().max() > 0 for k, v in saved.items() if "lora_B" in k)


def test_completion_loss_equals_the_full_model_loss_on_the_completion_tokens():
    from training.loss import CompletionLM, pad_batch, tokenize_example

    loaded = load_model("smollm2-135m")
    rows = [
        tokenize_example(loaded.tokenizer, "It was a dark and stormy", " night; the rain fell.", 64, 16),
        tokenize_example(loaded.tokenizer, "Call me", " Ishmael.", 64, 16),
    ]
    batch = pad_batch(rows, loaded.tokenizer.eos_token_id)
    ours = CompletionLM(loaded.model)(**batch)["loss"]
    with torch.no_grad():
        reference = loaded.model(
            input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]
        ).loss
    assert torch.allclose(ours, reference, atol=1e-4)
    soft = torch.randn(2, 3, loaded.model.config.hidden_size) * 0.05
    assert not torch.allclose(
        CompletionLM(loaded.model)(**batch, soft_tokens=soft)["loss"], reference, atol=1e-3
    )


def test_two_rank_torchrun_smoke_run(tmp_path):
    root = tmp_path / "assets"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [
        str(Path(sys.executable).parent / "torchrun"),
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "training.recipes.sft_lora",
        "--config",
        str(CONFIGS / "task_autocomplete.yaml"),
        *TINY,
        f"output.dir={root / 'adapters' / 'task_autocomplete'}",
        f"output.manifest_root={root}",
        f"output.run_dir={tmp_path / 'run'}",
        "eval_base=false",
    ]
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    final = [json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"done"')]
    assert len(final) == 1  # only rank 0 saves and reports
    assert final[0]["world_size"] == 2 and final[0]["steps"] == 2
    assert artifact("task_autocomplete", root=root).metrics["world_size"] == 2


def test_only_an_adapter_that_beats_the_base_and_the_shipped_one_is_shipped(tmp_path):
    from engine.manifest import register_artifact

    root = tmp_path / "assets"
    cfg = build_config(
        sft_lora.SftConfig,
        {"base": "b", "task": "continue", "output": {"name": "task_x", "dir": "x", "manifest_root": str(root)}},
    )
    worse = {
        "heldout_completion_nll_adapter": 3.9,
        "heldout_completion_nll_base": 3.7,
        "heldout_examples": 64,
    }
    assert sft_lora.should_ship(cfg, worse)[0] is False
    better = {**worse, "heldout_completion_nll_adapter": 3.5}
    assert sft_lora.should_ship(cfg, better)[0] is True
    (root / "adapters" / "task_x").mkdir(parents=True)
    (root / "adapters" / "task_x" / "adapter_model.safetensors").write_bytes(b"x")
    def ship_task_x(**metrics):
        register_artifact("task_x", "lora_adapter", [root / "adapters" / "task_x"], "b", "0" * 64,
                          metrics={**better, "heldout_completion_nll_adapter": 3.4, **metrics}, root=root)

    ship_task_x()
    ship, why = sft_lora.should_ship(cfg, better)
    assert ship is False and "as good or better" in why
    # NLLs on another held-out set (other data) are not comparable: only the base decides.
    assert sft_lora.should_ship(cfg, better, data_desc="task=x; other data")[0] is True
    ship_task_x(heldout_set="aaaa")
    assert sft_lora.should_ship(cfg, {**better, "heldout_set": "aaaa"})[0] is False
    assert sft_lora.should_ship(cfg, {**better, "heldout_set": "bbbb"})[0] is True
