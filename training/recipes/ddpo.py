"""DPO and diversified DPO (DDPO) of a writing adapter, on WQRM-scored preference pairs.

    python -m training.data.preference_pairs --task continue --out .data/ddpo/continue.jsonl
    python -m training.recipes.ddpo --config training/configs/gemma3-270m/ddpo_continue.yaml
    python -m training.recipes.ddpo --config ... data.weighting=dpo output.name=task_continue_dpo

    torchrun --standalone --nproc_per_node 2 -m training.recipes.ddpo --config ... train.max_steps=2

Top to bottom: config -> base model -> the adapters below the refined one (persona) merged into
the base, as the app sums them at run time -> the SFT adapter loaded trainable; TRL keeps a frozen
copy of it as the reference p_SFT -> pairs (JSONL of training.data.preference_pairs; DPO sets every
weight to 1) -> DDPOTrainer (training/ddpo.py, a TRL DPOTrainer subclass) -> held-out preference
accuracy and margin -> adapter saved; registered only when ``output.register`` is set, which the
held-out comparison of training/eval/ddpo.py decides (quality up, diversity not down).
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from training.config import (
    OutputConfig,
    RecipeConfig,
    TrainConfig,
    option,
    repo_path,
    section,
)
from training.recipe import Recipe, time_budget_callback, trainer_arguments, write_run_log

RECIPE = "training/recipes/ddpo.py"


@dataclass(frozen=True, kw_only=True)
class PairData:
    pairs: str = option(help="JSONL of preference pairs (training/data/preference_pairs.py), repo-relative")
    weighting: Literal["ddpo", "dpo"] = option("ddpo", help="ddpo: each pair's deviation weight; dpo: all 1")
    eval_fraction: float = option(0.15, help="pairs held out for the preference accuracy")
    seed: int = option(0, help="seed of the train/eval split")


@dataclass(frozen=True, kw_only=True)
class Refine:
    adapter: str = option(help="manifest name of the SFT adapter refined (task_continue, task_rephrase)")
    below: list[str] = option(["persona"], help="adapters active under it at run time, merged and frozen")


@dataclass(frozen=True, kw_only=True)
class DpoTrain(TrainConfig):
    beta: float = option(0.1, help="DPO's inverse temperature on the log-ratio margin")
    max_length: int = option(384, help="longest prompt + answer in tokens (prompt start kept)")


@dataclass(frozen=True, kw_only=True)
class DdpoConfig(RecipeConfig):
    data: PairData = section(PairData, "the preference pairs")
    refine: Refine = section(Refine, "which adapter is refined, over which")
    train: DpoTrain = section(DpoTrain, "optimisation")
    output: OutputConfig = section(OutputConfig, "the refined adapter")


class DdpoRecipe(Recipe):
    config_class = DdpoConfig
    cfg: DdpoConfig

    def setup(self) -> None:
        from engine.models import load_model

        super().setup()
        self.loaded = load_model(self.cfg.base)

    def data(self) -> None:
        d = self.cfg.data
        rows = [json.loads(line) for line in repo_path(d.pairs).read_text().splitlines() if line.strip()]
        if len(rows) < 4:
            raise ValueError(f"{d.pairs} holds {len(rows)} pairs: too few to train and evaluate")
        keep = ("prompt", "chosen", "rejected", "weight")
        rows = [{k: (r[k] if d.weighting == "ddpo" or k != "weight" else 1.0) for k in keep} for r in rows]
        random.Random(d.seed).shuffle(rows)
        n_eval = max(2, round(len(rows) * d.eval_fraction))
        self.eval_rows, self.train_rows = rows[:n_eval], rows[n_eval:]

    def model(self) -> None:
        from peft import PeftModel

        from engine.manifest import artifact

        base = self.loaded.model
        for name in self.cfg.refine.below:  # frozen and always on under the refined adapter: merge them
            below = artifact(name, self.cfg.output.manifest_path)
            below.require_base(self.loaded.info)
            base = PeftModel.from_pretrained(base, str(below.folder)).merge_and_unload()
        sft = artifact(self.cfg.refine.adapter, self.cfg.output.manifest_path)
        sft.require_base(self.loaded.info)
        self.peft_model = PeftModel.from_pretrained(base, str(sft.folder), is_trainable=True)

    def train(self) -> None:
        from datasets import Dataset
        from trl import DPOConfig

        from training.ddpo import DDPOTrainer

        t = self.cfg.train
        args = trainer_arguments(
            DPOConfig,
            self.cfg,
            beta=t.beta,
            max_length=t.max_length,
            per_device_eval_batch_size=t.batch_size,
            bf16=False,
        )
        self.trainer = DDPOTrainer(
            model=self.peft_model,
            args=args,
            train_dataset=Dataset.from_list(self.train_rows),
            eval_dataset=Dataset.from_list(self.eval_rows),
            processing_class=self.loaded.tokenizer,
            callbacks=[time_budget_callback(t.time_budget_s)],
        )
        self.before = self.trainer.evaluate()
        self.trainer.train()

    def evaluate(self) -> dict:
        after = self.trainer.evaluate()
        pick = lambda m, k: round(float(m.get(f"eval_{k}", float("nan"))), 4)  # noqa: E731
        return {
            "weighting": self.cfg.data.weighting,
            "pairs_train": len(self.train_rows),
            "pairs_eval": len(self.eval_rows),
            "eval_accuracy_before": pick(self.before, "rewards/accuracies"),
            "eval_accuracy_after": pick(after, "rewards/accuracies"),
            "eval_margin_before": pick(self.before, "rewards/margins"),
            "eval_margin_after": pick(after, "rewards/margins"),
            "train_seconds": round(time.monotonic() - self.started),
        }

    def ship(self, metrics: dict) -> None:
        from training import lora

        out = self.cfg.output
        folder = out.path if out.register else out.run_path / "adapter"
        lora.save_adapter(self.peft_model, folder, dtype=getattr(torch, out.dtype))
        write_run_log(out.run_path, self.trainer.state.log_history)
        if out.register:
            self.register(folder, metrics)
        print(json.dumps({"done": out.name, "folder": str(folder), **metrics}), flush=True)

    def register(self, folder, metrics: dict) -> None:
        from engine.manifest import register_artifact

        cfg, info = self.cfg, self.loaded.info
        register_artifact(
            cfg.output.name,
            "lora_adapter",
            [folder],
            base_model=info.name,
            base_sha256=info.source_sha256,
            recipe=RECIPE,
            config=cfg.source,
            data=f"preference pairs {cfg.data.pairs} ({cfg.data.weighting}); refined {cfg.refine.adapter} "
            f"over {' + '.join(cfg.refine.below) or 'the base'} (merged, frozen)",
            metrics=metrics,
            extra={"task": cfg.refine.adapter.removeprefix("task_"), "refines": cfg.refine.adapter},
            root=cfg.output.manifest_path,
        )


def run(cfg: DdpoConfig) -> dict:
    return DdpoRecipe(cfg).run()


def main(argv: Sequence[str] | None = None) -> dict:
    return DdpoRecipe.main(argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    main(sys.argv[1:])
