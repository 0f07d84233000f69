"""The resumable runner (training/runner.py) on a tiny model: 2 + 2 steps with a resume in between give
the weights of 4 unbroken steps, for a TRL Trainer (Dr.GRPO) and for a plain loop (accelerate);
a truncated checkpoint is skipped; another recipe, base or config is refused with the field named."""

import json
import random
import shutil
from dataclasses import dataclass, field

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.export.tiny_models import save_tiny_llama, save_word_tokenizer
from training.config import REPO, load_recipe_config
from training.recipes.grpo_style import GrpoStyleConfig, GrpoStyleRecipe
from training.runner import (
    META,
    Cadence,
    ResumeError,
    RunnerConfig,
    Status,
    check_compatible,
    checkpoints,
    latest_complete,
    read_meta,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    save_tiny_llama(folder)
    save_word_tokenizer(folder)
    return folder


def grpo_config(tiny, tmp_path, name: str, **runner) -> GrpoStyleConfig:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "base": str(tiny),
        "data": {"inputs": ["reuters"], "references": ["austen", "moby_dick"], "train_prompts": 8,
                 "reference_sentences": 8, "exemplars": 1},
        "warmup": {"adapter": ""},
        "lora": {"r": 4, "alpha": 8},
        # lr high enough that every step moves the weights visibly
        "train": {"max_steps": 4, "batch_size": 4, "num_generations": 4, "max_completion_tokens": 8,
                  "num_iterations": 2, "log_every": 1, "lr": 1e-2},
        "output": {"name": "grpo_runner_test", "dir": str(tmp_path / name / "adapter"),
                   "manifest_root": str(tmp_path / "assets"), "run_dir": str(tmp_path / name / "log"),
                   "dtype": "float32", "register": False},
        "runner": {"dir": str(tmp_path / "runs" / "grpo"), "nice": 0, **runner},
    }))
    return load_recipe_config(GrpoStyleConfig, path)


def adapter(folder) -> dict[str, torch.Tensor]:
    return load_file(folder / "adapter_model.safetensors")


@pytest.fixture(scope="module")
def unbroken(tiny, tmp_path_factory):
    """4 Dr.GRPO steps in one process, the runner off."""
    tmp = tmp_path_factory.mktemp("unbroken")
    cfg = grpo_config(tiny, tmp, "whole")
    recipe = GrpoStyleRecipe(cfg)
    recipe.run()
    assert not (tmp / "runs").exists()  # no runner option: no checkpoint written
    return adapter(tmp / "whole" / "adapter"), recipe.log_rows


@pytest.fixture(scope="module")
def paused(tiny, tmp_path_factory):
    """The same run stopped after 2 steps by runner.stop_after (as a killed run would be, with its checkpoint)."""
    tmp = tmp_path_factory.mktemp("paused")
    first = GrpoStyleRecipe(grpo_config(tiny, tmp, "first", stop_after=2))
    metrics = first.run()
    return tmp, first, metrics


def resumable_copy(paused, tmp_path):
    """A fresh copy of the paused run's folder under ``tmp_path`` (tests change it)."""
    shutil.copytree(paused[0] / "runs", tmp_path / "runs")
    return tmp_path / "runs" / "grpo"


def test_grpo_two_plus_two_steps_with_a_resume_equal_four_steps(tiny, tmp_path, unbroken, paused):
    whole, whole_log = unbroken
    _, first, metrics = paused
    assert metrics["steps"] == 2 and first.paused
    assert not (paused[0] / "first" / "adapter").exists()  # a paused run ships nothing
    run = resumable_copy(paused, tmp_path)
    assert [p.name for p in checkpoints(run)] == ["checkpoint-2"]
    saved = run / "checkpoint-2"
    meta = read_meta(saved)
    assert meta["recipe"] == "training/recipes/grpo_style.py" and meta["step"] == 2 and meta["git"]
    assert meta["config"]["train.lr"] == 0.01 and "runner.stop_after" not in meta["config"]
    names = set(meta["files"])
    assert {"adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "rng_state.pth", "trainer_state.json",
            "extra_state.pt"} <= names
    assert not any(n.startswith("tokenizer") for n in names)  # only what trains: no tokenizer, no base
    assert not (paused[0] / "runs" / "grpo" / ".staging" / "checkpoint-2").exists()

    second = GrpoStyleRecipe(grpo_config(tiny, tmp_path, "second", resume=True))
    metrics = second.run()
    assert metrics["steps"] == 4 and metrics["resumed_from"] == str(saved)
    assert second.resumable.status.start_step == 2  # the time left is estimated from this process's steps
    resumed = adapter(tmp_path / "second" / "adapter")
    assert resumed.keys() == whole.keys()
    for name in whole:
        assert torch.equal(resumed[name], whole[name]), name
    moved = adapter(saved)  # the checkpoint's weights are not the final ones: the resume trained on
    assert any(not torch.equal(moved[n].float(), whole[n]) for n in whole)
    # the run log goes on from the checkpoint's rows: the same rows as the unbroken run
    assert [r["step"] for r in second.log_rows] == [r["step"] for r in whole_log]
    assert [r.get("reward") for r in second.log_rows] == [r.get("reward") for r in whole_log]
    status = json.loads((run / "status.json").read_text())
    assert status["step"] == 4 and status["max_steps"] == 4
    assert [p.name for p in checkpoints(run)] == ["checkpoint-4", "checkpoint-2"]


def prepared(cfg) -> GrpoStyleRecipe:
    """A recipe with its trainer built, not trained."""
    recipe = GrpoStyleRecipe(cfg)
    recipe.setup()
    recipe.data()
    recipe.model()
    recipe.grpo = recipe.trainer()
    return recipe


def test_a_truncated_checkpoint_is_skipped_and_the_previous_one_resumed(tiny, tmp_path, paused):
    run = resumable_copy(paused, tmp_path)
    # a later checkpoint killed mid-write: its optimizer state cut short after the metadata was sealed
    broken = run / "checkpoint-3"
    shutil.copytree(run / "checkpoint-2", broken)
    optimizer = broken / "optimizer.pt"
    optimizer.write_bytes(optimizer.read_bytes()[:100])
    # and one killed before its metadata was written (never renamed out of .staging in practice)
    shutil.copytree(run / "checkpoint-2", run / "checkpoint-5")
    (run / "checkpoint-5" / META).unlink()
    found, skipped = latest_complete(run)
    assert found == run / "checkpoint-2"
    size = (run / "checkpoint-2" / "optimizer.pt").stat().st_size
    assert skipped == [
        f"checkpoint-5 skipped: no readable {META}",
        f"checkpoint-3 skipped: optimizer.pt is 100 bytes, {size} expected",
    ]
    recipe = prepared(grpo_config(tiny, tmp_path, "second", resume=True))
    assert recipe.resumable.resume_from() == str(run / "checkpoint-2")


def test_resume_refuses_another_config_naming_the_field(tiny, tmp_path, paused):
    resumable_copy(paused, tmp_path)
    grpo_config(tiny, tmp_path, "other", resume=True)
    other = prepared(load_recipe_config(GrpoStyleConfig, tmp_path / "other.yaml", ["train.lr=0.02"]))
    with pytest.raises(ResumeError, match=r"train\.lr differs \(checkpoint: 0\.01, this run: 0\.02\)"):
        other.resumable.resume_from()


def test_resume_refuses_another_recipe_or_base(tmp_path):
    meta = {"recipe": "training/recipes/grpo_style.py", "base": "gemma3-270m", "base_sha256": "aa",
            "config": {"train.lr": 1e-5}}
    same = {**meta}
    check_compatible(meta, same, tmp_path)
    with pytest.raises(ResumeError, match="recipe differs"):
        check_compatible(meta, {**meta, "recipe": "training/recipes/sft_lora.py"}, tmp_path)
    with pytest.raises(ResumeError, match=r"base differs \(checkpoint: 'gemma3-270m', this run: 'smollm2-135m'\)"):
        check_compatible(meta, {**meta, "base": "smollm2-135m"}, tmp_path)
    with pytest.raises(ResumeError, match=r"base model \(sha256\) differs"):
        check_compatible(meta, {**meta, "base_sha256": "bb"}, tmp_path)
    with pytest.raises(ResumeError, match=r"data\.seed differs \(checkpoint: '<absent>', this run: 1\)"):
        check_compatible(meta, {**meta, "config": {"train.lr": 1e-5, "data.seed": 1}}, tmp_path)


# ---------------------------------------------------------------- SFT + SFR (a Trainer around a plain module)


def sfr_config(tiny, tmp_path, *extra: str):
    from training.recipes import sft_lora

    return load_recipe_config(
        sft_lora.SftConfig,
        REPO / "training" / "configs" / "gemma3-270m" / "persona.yaml",
        [
            f"base={tiny}", "train.max_steps=4", "train.batch_size=2", "train.warmup_steps=0", "train.log_every=1",
            "data.train_examples=6", "data.eval_examples=2", "data.max_prompt_tokens=32",
            "data.max_completion_tokens=12", "lora.r=4", "lora.alpha=8", "monitor.every=0",
            "persona.soft_tokens=false", "eval_base=false", "output.require_improvement=false",
            "output.register=false", "output.dtype=float32", "sfr.weight=0.5", "sfr.hidden=32",
            f"output.dir={tmp_path / 'adapter'}", f"output.manifest_root={tmp_path / 'assets'}",
            f"output.run_dir={tmp_path / 'log'}", f"runner.dir={tmp_path.parent / 'runs'}", "runner.nice=0",
            *extra,
        ],
    )


def test_sfr_two_plus_two_steps_with_a_resume_equal_four_steps(tiny, tmp_path):
    from training.recipes.sft_lora import SftLoraRecipe

    SftLoraRecipe(sfr_config(tiny, tmp_path / "whole")).run()
    whole = adapter(tmp_path / "whole" / "adapter")
    first = SftLoraRecipe(sfr_config(tiny, tmp_path / "first", "runner.stop_after=2"))
    assert first.run()["paused_at"] == 2 and not (tmp_path / "first" / "adapter").exists()
    checkpoint = tmp_path / "runs" / "checkpoint-2"
    files = read_meta(checkpoint)["files"]
    # the trainable parameters only (LoRA + the flow head), not the base
    saved = load_file(checkpoint / "model.safetensors")
    assert saved and all("lora_" in k or "sfr_head" in k for k in saved)
    assert any("sfr_head" in k for k in saved) and "extra_state.pt" in files
    second = SftLoraRecipe(sfr_config(tiny, tmp_path / "second", "runner.resume=true"))
    second.run()
    assert second.resumable.resumed_from == checkpoint
    resumed = adapter(tmp_path / "second" / "adapter")
    assert resumed.keys() == whole.keys()
    for name in whole:
        assert torch.equal(resumed[name], whole[name]), name


# ---------------------------------------------------------------- a plain loop on accelerate


@dataclass(frozen=True)
class _Train:
    max_steps: int = 4
    log_every: int = 1


@dataclass(frozen=True)
class _Output:
    name: str = "loop_test"


@dataclass(frozen=True)
class _LoopConfig:
    runner: RunnerConfig
    base: str = "tiny"
    train: _Train = field(default_factory=_Train)
    output: _Output = field(default_factory=_Output)


def loop_run(tiny, tmp_path, **runner) -> tuple[dict, int]:
    """The audio projector's loop shape: LoRA + a small head, AdamW + LambdaLR, batches drawn from the
    recipe's own random.Random, dropout drawing from torch's RNG."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from training.runner import LoopRun, RandomState, TrainableParameters

    torch.manual_seed(0)
    lm = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny), LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1,
                                                                               target_modules=["q_proj", "v_proj"]))
    head = torch.nn.Linear(64, 64)
    rng = random.Random(0)
    params = [*head.parameters(), *(p for p in lm.parameters() if p.requires_grad)]
    opt = torch.optim.AdamW(params, lr=1e-2)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1 - s / 8)
    run = LoopRun(_LoopConfig(RunnerConfig(dir=str(tmp_path / "runs"), nice=0, **runner)), "tests/loop")
    head, opt, sched = run.prepare(head, opt, sched)
    run.register(TrainableParameters(lm), RandomState(rng))
    data = torch.randint(4, 500, (32, 12))
    lm.train()
    start = run.start()
    for step in range(start, 4):
        batch = data[rng.sample(range(32), 4)]
        hidden = lm(input_ids=batch, output_hidden_states=True).hidden_states[-1]
        loss = head(hidden).pow(2).mean() + lm(input_ids=batch, labels=batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if run.step_end(step + 1, loss.item()):
            break
    weights = TrainableParameters(lm).state_dict() | {f"head.{k}": v for k, v in head.state_dict().items()}
    return weights, start


def test_plain_loop_two_plus_two_steps_with_a_resume_equal_four_steps(tiny, tmp_path):
    whole, _ = loop_run(tiny, tmp_path / "a")
    assert not (tmp_path / "a" / "runs").exists()
    loop_run(tiny, tmp_path / "b", stop_after=2)
    run = tmp_path / "b" / "runs"
    assert [p.name for p in checkpoints(run)] == ["checkpoint-2"]
    files = set(read_meta(run / "checkpoint-2")["files"])
    assert {"model.safetensors", "optimizer.bin", "scheduler.bin", "random_states_0.pkl"} <= files
    assert len(files & {"custom_checkpoint_0.pkl", "custom_checkpoint_1.pkl"}) == 2
    resumed, start = loop_run(tiny, tmp_path / "b", resume=True)
    assert start == 2
    assert resumed.keys() == whole.keys()
    for name in whole:
        assert torch.equal(resumed[name], whole[name]), name
    assert [p.name for p in checkpoints(run)] == ["checkpoint-4", "checkpoint-2"]


# ---------------------------------------------------------------- cadence and status line


def test_cadence_saves_by_count_at_aligned_steps_and_stops_after():
    cadence = Cadence(RunnerConfig(every_steps=3), max_steps=12, align=2)
    assert [s for s in range(1, 13) if cadence.due(s)[0]] == [4, 6, 10, 12]  # 3 and 9 wait for 4 and 10
    cadence = Cadence(RunnerConfig(every_steps=3, stop_after=5), max_steps=12, align=2)
    assert [cadence.due(s) for s in range(1, 7)] == [(False, False)] * 3 + [(True, False), (False, False), (True, True)]
    cadence = Cadence(RunnerConfig(every_minutes=1e-9), max_steps=4)  # any time has passed: every step
    assert [cadence.due(s)[0] for s in range(1, 5)] == [True] * 4
    assert not RunnerConfig().active and Cadence(RunnerConfig(), 4).due(4) == (False, False)


def test_status_line_names_steps_loss_last_eval_and_eta(tmp_path):
    status = Status(max_steps=10, folder=tmp_path, start_step=4)
    first = status.update(4)
    assert first.startswith("step 4/10 · loss — · last eval — · — s/step · ETA —")
    line = status.update(6, loss=0.51234, last_eval={"eval_reward": 1.25})
    assert line.startswith("step 6/10 · loss 0.5123 · last eval eval_reward=1.25 · ")
    assert "ETA " in line and "load " in line
    saved = json.loads((tmp_path / "status.json").read_text())
    assert saved["step"] == 6 and saved["eta_seconds"] is not None and saved["last_eval"] == {"eval_reward": 1.25}
