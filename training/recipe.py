"""The staged recipe every training script follows (torchtune's shape).

    setup -> data -> model -> train -> evaluate -> ship

A recipe subclasses ``Recipe``, names its typed config class, and fills in the
stages; each stage reads what the earlier ones left on ``self``. ``run`` calls
them in order, and only rank 0 ships (saves and registers) under torchrun or
accelerate. ``main`` is the command line: ``--config PATH`` then positional
``key.sub=value`` overrides (training/config.py).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import ClassVar

import torch

from training.config import RecipeConfig, recipe_config_from_argv
from training.distributed import is_main_process


class Recipe:
    config_class: ClassVar[type[RecipeConfig]]

    def __init__(self, cfg: RecipeConfig) -> None:
        self.cfg = cfg

    def run(self) -> dict:
        self.setup()
        self.data()
        self.model()
        self.train()
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
        return recipe_config_from_argv(cls.config_class, argv, description)

    @classmethod
    def main(cls, argv: Sequence[str] | None, description: str) -> dict:
        return cls(cls.config_from_argv(argv, description)).run()


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
