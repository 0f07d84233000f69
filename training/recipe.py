"""The staged recipe every training script follows (torchtune's shape).

    setup -> data -> model -> train -> evaluate -> ship

A recipe subclasses ``Recipe``, names its typed config class, and fills in the
stages; each stage reads what the earlier ones left on ``self``. ``run`` calls
them in order, and only rank 0 ships (saves and registers) under torchrun or
accelerate; a recipe whose evaluation is local sets ``rank0_evaluates`` so that
the other ranks skip it. ``main`` is the command line: ``--config PATH`` (or the
recipe's ``default_config``) then positional ``key.sub=value`` overrides
(training/config.py).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import ClassVar

import torch

from training.config import RecipeConfig, recipe_config_from_argv
from training.distributed import is_main_process


class Recipe:
    config_class: ClassVar[type[RecipeConfig]]
    #: the YAML read when the command line gives no ``--config`` (None: ``--config`` is required)
    default_config: ClassVar[str | None] = None
    #: True where ``evaluate`` is local work (no collectives, unlike a Trainer's evaluate): the other
    #: ranks then skip it and return {} instead of repeating rank 0's scoring
    rank0_evaluates: ClassVar[bool] = False

    def __init__(self, cfg: RecipeConfig) -> None:
        self.cfg = cfg

    def run(self) -> dict:
        self.setup()
        self.data()
        self.model()
        self.train()
        if self.rank0_evaluates and not is_main_process():
            return {}
        metrics = self.evaluate()
        if is_main_process():
            self.ship(metrics)
        return metrics

    def setup(self) -> None:
        """Threads, seed and the clock; recipes extend it to load their models."""
        torch.set_num_threads(self.cfg.train.threads)
        torch.manual_seed(self.cfg.train.seed)
        self.started = time.monotonic()

    def data(self) -> None:
        raise NotImplementedError

    def model(self) -> None:
        raise NotImplementedError

    def train(self) -> None:
        raise NotImplementedError

    def evaluate(self) -> dict:
        raise NotImplementedError

    def ship(self, metrics: dict) -> None:
        raise NotImplementedError

    @classmethod
    def config_from_argv(cls, argv: Sequence[str] | None, description: str) -> RecipeConfig:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network
        return recipe_config_from_argv(cls.config_class, argv, description, cls.default_config)

    @classmethod
    def main(cls, argv: Sequence[str] | None, description: str) -> dict:
        return cls(cls.config_from_argv(argv, description)).run()


def trainer_arguments(args_class: type, cfg, **specific):
    """``args_class`` (transformers' TrainingArguments or a TRL config) from the shared ``train`` and
    ``output`` sections, plus the recipe's own ``specific`` arguments (which win). No checkpoints and
    no reporting: the recipe ships the artifact itself; the CPU unless a GPU is there."""
    t = cfg.train
    return args_class(
        **{
            "output_dir": str(cfg.output.run_path),
            "max_steps": t.max_steps,
            "per_device_train_batch_size": t.batch_size,
            "learning_rate": t.lr,
            "warmup_steps": t.warmup_steps,
            "max_grad_norm": t.grad_clip,
            "logging_steps": t.log_every,
            "seed": t.seed,
            "report_to": [],
            "save_strategy": "no",
            "use_cpu": not torch.cuda.is_available(),
            **specific,
        }
    )


def write_run_log(run_path: Path, rows: Iterable[dict]) -> None:
    """The run's log, one JSON object a line, in ``run_path/log.jsonl`` (the folder made if need be)."""
    run_path.mkdir(parents=True, exist_ok=True)
    (run_path / "log.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))


def time_budget_callback(seconds: float):
    """A transformers callback that ends training after the step that passes ``seconds`` (0: never).

    A run sized in steps on a shared CPU can take twice as long as planned; a budget makes it end in
    time with everything it learned saved, and the recipe reports the steps it really made."""
    from transformers import TrainerCallback

    class TimeBudget(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            if seconds and time.monotonic() - self.started >= seconds:
                control.should_training_stop = True

    return TimeBudget()
