"""Where a Dr.GRPO step's time goes: rollout generation, the reference pass, the update passes.

    nice -n 10 .venv/bin/python -m training.profile_grpo --config training/configs/gemma3-270m/grpo_style.yaml \
        --out .data/profile/grpo_before.json train.max_steps=4

Builds the recipe's trainer exactly as ``training.recipes.grpo_style`` does (same config, same
overrides), trains ``train.max_steps`` optimizer steps (one generation cycle is ``num_iterations``
steps: one batch of rollouts, one pass for the old log-probs, then ``num_iterations`` updates on it)
and times, per step:

- ``generate``: ``model.generate`` of the rollouts (prompts repeated ``num_generations`` times);
- ``reference``: the no-grad pass for the old policy's log-probs (TRL computes it when the batch is
  reused, ``num_iterations > 1``; the KL reference model is off, ``beta = 0``);
- ``score``: the rest of ``_generate_and_score_completions`` (reward, tokenization, advantages);
- ``update``: forward + backward of the loss (``training_step`` less the generation above);
- ``optimizer``: the rest of the step (clip, AdamW, schedule, callbacks);
- ``load``: the 1-minute load average at the step's start and end (the machine is shared).

Nothing is saved or registered. One JSON line a step on stdout, and all rows in ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path


def _timed(acc: dict, name: str, fn: Callable, inside: dict | None = None) -> Callable:
    def wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        if inside is not None:
            inside[name] = True
        try:
            return fn(*args, **kwargs)
        finally:
            if inside is not None:
                inside[name] = False
            acc[name] += time.perf_counter() - t0

    return wrapper


def profile(argv: Sequence[str] | None = None) -> list[dict]:
    from transformers import TrainerCallback

    from training.recipes.grpo_style import GrpoStyleRecipe

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the rows")
    parser.add_argument("overrides", nargs="*")
    ns = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cfg = GrpoStyleRecipe.config_from_argv(
        ["--config", ns.config, *ns.overrides, "output.register=false"], "profile"
    )
    recipe = GrpoStyleRecipe(cfg)
    recipe.setup()
    recipe.data()
    recipe.model()
    trainer = recipe.trainer()

    acc: dict[str, float] = defaultdict(float)
    inside = {"score": False}
    model = recipe.peft_model
    model.generate = _timed(acc, "generate", model.generate)
    logps = trainer._get_per_token_logps_and_entropies

    def logps_wrapper(*args, **kwargs):
        t0 = time.perf_counter()
        try:
            return logps(*args, **kwargs)
        finally:
            if inside["score"]:
                acc["reference"] += time.perf_counter() - t0

    trainer._get_per_token_logps_and_entropies = logps_wrapper
    trainer._generate_and_score_completions = _timed(
        acc, "score", trainer._generate_and_score_completions, inside
    )
    trainer.training_step = _timed(acc, "training_step", trainer.training_step)
    rows: list[dict] = []

    class StepTimer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kwargs):
            acc.clear()
            self.t0, self.load0 = time.perf_counter(), os.getloadavg()[0]

        def on_step_end(self, args, state, control, **kwargs):
            total = time.perf_counter() - self.t0
            gen_and_score = acc["score"]
            row = {
                "step": state.global_step,
                "seconds": round(total, 1),
                "generate": round(acc["generate"], 1),
                "reference": round(acc["reference"], 1),
                "score": round(gen_and_score - acc["generate"] - acc["reference"], 1),
                "update": round(acc["training_step"] - gen_and_score, 1),
                "optimizer": round(total - acc["training_step"], 1),
                "load": [round(self.load0, 2), round(os.getloadavg()[0], 2)],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)

    trainer.add_callback(StepTimer())
    trainer.train()
    summary = {
        "config": cfg.source,
        "overrides": list(ns.overrides),
        "steps": len(rows),
        "seconds_per_step": round(sum(r["seconds"] for r in rows) / max(len(rows), 1), 1),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "threads": cfg.train.threads,
        "trunk_cache": (
            {"hits": recipe.trunk_cache.hits, "misses": recipe.trunk_cache.misses} if recipe.trunk_cache else None
        ),
        "nice": os.nice(0),
        "rows": rows,
    }
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}), flush=True)
    if ns.out:
        ns.out.parent.mkdir(parents=True, exist_ok=True)
        ns.out.write_text(json.dumps(summary, indent=1) + "\n")
    return rows


if __name__ == "__main__":
    profile(sys.argv[1:])
