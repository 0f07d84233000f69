"""training.recipe.Recipe: every recipe runs through it, stages in order, rank 0 alone ships."""

from __future__ import annotations

import importlib
import inspect
import json
from dataclasses import dataclass

import pytest

from tests.training.test_config import recipe_config_classes
from training.config import RecipeConfig, TrainConfig, build_config, section
from training.recipe import Recipe, write_run_log


def test_every_recipe_module_runs_one_recipe_subclass_with_the_base_run():
    for path, config_class in recipe_config_classes().items():
        module = importlib.import_module(path.removesuffix(".py").replace("/", "."))
        recipes = [
            c
            for c in vars(module).values()
            if inspect.isclass(c) and issubclass(c, Recipe) and c.__module__ == module.__name__
        ]
        assert len(recipes) == 1, f"{path}: one Recipe subclass expected, found {recipes}"
        recipe = recipes[0]
        assert recipe.config_class is config_class, path
        assert "run" not in vars(recipe), f"{path}: {recipe.__name__} carries its own run()"
        assert callable(module.run) and callable(module.main), path


@dataclass(frozen=True, kw_only=True)
class ToyConfig(RecipeConfig):
    train: TrainConfig = section(TrainConfig, "optimisation")


class ToyRecipe(Recipe):
    """Records which stages ran, in order."""

    config_class = ToyConfig

    def setup(self) -> None:
        super().setup()
        self.calls = ["setup"]

    def data(self) -> None:
        self.calls.append("data")

    def model(self) -> None:
        self.calls.append("model")

    def train(self) -> None:
        self.calls.append("train")

    def evaluate(self) -> dict:
        self.calls.append("evaluate")
        return {"score": 1.0}

    def ship(self, metrics: dict) -> None:
        self.calls.append("ship")


class RankZeroEvaluates(ToyRecipe):
    rank0_evaluates = True


@pytest.mark.parametrize(
    "recipe, rank, calls, result",
    [
        (ToyRecipe, "0", ["setup", "data", "model", "train", "evaluate", "ship"], {"score": 1.0}),
        (ToyRecipe, "1", ["setup", "data", "model", "train", "evaluate"], {"score": 1.0}),
        (RankZeroEvaluates, "0", ["setup", "data", "model", "train", "evaluate", "ship"], {"score": 1.0}),
        (RankZeroEvaluates, "1", ["setup", "data", "model", "train"], {}),
    ],
)
def test_stages_run_in_order_and_only_rank_zero_ships(recipe, rank, calls, result, monkeypatch):
    monkeypatch.setenv("RANK", rank)
    toy = recipe(build_config(ToyConfig, {"base": "toy"}))
    assert toy.run() == result
    assert toy.calls == calls


def test_a_default_config_lets_the_command_line_leave_out_config(capsys):
    from training.recipes.audio_projector import AudioProjectorRecipe
    from training.recipes.wqrm import WqrmRecipe

    cfg = AudioProjectorRecipe.config_from_argv(["train.max_steps=3"], "audio")
    assert cfg.source == "training/configs/gemma3-270m/audio_projector.yaml"
    assert cfg.train.max_steps == 3
    with pytest.raises(SystemExit) as exit_:
        WqrmRecipe.config_from_argv(["train.max_steps=3"], "wqrm")
    assert exit_.value.code == 2 and "--config" in capsys.readouterr().err


def test_the_run_log_is_one_json_object_a_line_in_a_new_folder(tmp_path):
    rows = [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 2.25, "note": "a\nb"}]
    write_run_log(tmp_path / "runs" / "x", rows)
    lines = (tmp_path / "runs" / "x" / "log.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_trainer_arguments_come_from_the_shared_sections_and_the_recipe_wins(tmp_path):
    from transformers import TrainingArguments

    from training.config import load_recipe_config
    from training.recipe import trainer_arguments
    from training.recipes.sft_lora import SftConfig

    cfg = load_recipe_config(
        SftConfig,
        "training/configs/gemma3-270m/task_continue.yaml",
        ["train.max_steps=7", "train.lr=1e-3", "train.seed=3", f"output.run_dir={tmp_path}"],
    )
    args = trainer_arguments(TrainingArguments, cfg, logging_steps=1, weight_decay=0.5)
    t = cfg.train
    assert (args.output_dir, args.max_steps, args.learning_rate, args.seed) == (str(tmp_path), 7, 1e-3, 3)
    assert (args.per_device_train_batch_size, args.warmup_steps, args.max_grad_norm) == (
        t.batch_size,
        t.warmup_steps,
        t.grad_clip,
    )
    assert (args.logging_steps, args.weight_decay) == (1, 0.5)  # the recipe's own values win
    assert args.save_strategy == "no" and args.report_to == []
