"""Dr.GRPO for "Rephrase in my style": rewrite a sentence so it reads like a reference writer.

    python -m training.recipes.grpo_style --config training/configs/gemma3-270m/grpo_style.yaml \
        train.max_steps=20 train.dropout=false

    torchrun --standalone --nproc_per_node 2 -m training.recipes.grpo_style --config ... train.max_steps=2

Top to bottom: config -> base + warm-up adapter (task_rephrase, trainable; or a fresh LoRA), with
Bit-LoRA's ternary forward if asked -> prompts: a training writer's paragraphs as exemplars
(engine.prompts.with_exemplars, as the app puts the writer's style memory before the prompt) + the
rephrase prompt of a sentence by another writer -> TRL GRPOTrainer with loss_type="dr_grpo",
scale_rewards="none", beta=0 (no KL), num_iterations=4 (PPO epochs per batch) and the reward
R_style + R_length + R_punctuation + R_ne_overlap (training/rl/style_reward.py), style reward dropout
on or off -> per-step spread diagnostics -> adapter saved (packed for Bit-LoRA) -> manifest entry.

Long runs: the ``runner`` section (training/runner.py) checkpoints every few minutes and resumes
exactly (``runner.every_minutes=10``, then ``runner.resume=true``). Cheaper steps: ``train.top_layers``
trains the LoRA of the top layers only and runs the frozen layers below once per rollout batch
(training/rl/trunk_cache.py), ``train.share_prefill`` reads each prompt once for its group of
rollouts (training/rl/group_prefill.py), ``train.gradient_checkpointing=false`` drops TRL's recomputation;
``python -m training.profile_grpo`` times a step's parts.

The reference is not fixed as in the seed paper: each prompt carries its writer's exemplars, so
the adapter learns to follow whichever writer's memory it is shown, held-out writers included.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from training.config import (
    LoraAdapterConfig,
    OutputConfig,
    RecipeConfig,
    TrainConfig,
    option,
    section,
)
from training.recipe import Recipe, time_budget_callback, trainer_arguments, write_run_log
from training.runner import RunnerConfig

RECIPE = "training/recipes/grpo_style.py"


@dataclass(frozen=True, kw_only=True)
class StyleData:
    inputs: list[str] = option(["reuters", "debian_reference"], help="writers whose sentences are rewritten")
    references: list[str] = option(
        ["austen", "moby_dick", "shakespeare", "jargon_file"], help="writers whose style is the target"
    )
    exemplars: int = option(2, help="reference paragraphs put before the prompt (the style memory's k)")
    reference_sentences: int = option(48, help="sentences of each reference scored by R_style")
    train_prompts: int = option(64, help="training prompts (sentence, reference) pairs")
    min_words: int = option(8, help="shortest input sentence")
    max_words: int = option(30, help="longest input sentence")
    sentences: int = option(1, help="consecutive sentences per input (> 1 lets the dropout act)")
    seed: int = option(0, help="seed of the prompt sampling")


@dataclass(frozen=True, kw_only=True)
class GrpoTrain(TrainConfig):
    num_generations: int = option(4, help="samples per prompt (the group of GRPO's advantage)")
    num_iterations: int = option(4, help="PPO epochs per generated batch (the seed paper: 4)")
    max_completion_tokens: int = option(48, help="longest rewrite")
    temperature: float = option(1.0, help="sampling temperature of the rollouts")
    min_p: float = option(0.05, help="min-p of the rollouts (the engine's sampler)")
    dropout: bool = option(True, help="style reward dropout (gamma=10, eps_max=0.9)")
    bitlora: bool = option(False, help="ternary (1.58-bit) LoRA matrices, shipped packed at 2 bits")
    top_layers: int = option(
        0, help="train the LoRA of the top N decoder layers only, the rest frozen (0: every layer)"
    )
    cache_trunk: bool = option(
        True,
        help="with top_layers: run the frozen layers once per rollout batch, not in every update pass (exact)",
    )
    share_prefill: bool = option(
        False, help="prefill each prompt once for its group of rollouts and share the KV cache (same draws)"
    )
    gradient_checkpointing: bool = option(
        True,
        help="recompute activations in the backward pass (TRL's default); false: less compute, more memory",
    )


@dataclass(frozen=True, kw_only=True)
class Warmup:
    adapter: str = option("task_rephrase", help="manifest name of the SFT warm-up adapter; '' = a fresh LoRA")


@dataclass(frozen=True, kw_only=True)
class GrpoStyleConfig(RecipeConfig):
    data: StyleData = section(StyleData, "inputs and reference writers")
    warmup: Warmup = section(Warmup, "the adapter RL starts from")
    lora: LoraAdapterConfig = section(LoraAdapterConfig, "a fresh LoRA when there is no warm-up adapter")
    train: GrpoTrain = section(GrpoTrain, "Dr.GRPO settings")
    output: OutputConfig = section(OutputConfig, "the adapter and its manifest entry")
    runner: RunnerConfig = section(
        RunnerConfig, "checkpoints, resume and niceness of a long run (training/runner.py)"
    )


def sentence_splitter():
    from training.data.tasks import sentences

    return sentences


class GrpoStyleRecipe(Recipe):
    """One Dr.GRPO run, stage by stage; each stage reads what the earlier ones left on ``self``."""

    config_class = GrpoStyleConfig
    cfg: GrpoStyleConfig

    def __init__(self, cfg: GrpoStyleConfig) -> None:
        super().__init__(cfg)
        self.log_rows: list[dict] = []

    def setup(self) -> None:
        from engine.models import load_model
        from training.runner import cooperate

        super().setup()
        cooperate(self.cfg.runner.nice, self.cfg.train.threads)
        self.loaded = load_model(self.cfg.base)

    # -- data: (exemplars + rephrase prompt, source sentence, reference writer)

    def data(self) -> None:
        from engine.prompts import rephrase_prompt, with_exemplars
        from training.data import tasks

        data, rng = self.cfg.data, random.Random(self.cfg.data.seed)
        split = sentence_splitter()
        refs = {name: _paragraphs(tasks.corpus_part([name], "train")[name]) for name in data.references}
        inputs = [
            span
            for name in data.inputs
            for paragraph in _paragraphs(tasks.corpus_part([name], "train")[name])
            for span in tasks.sentence_spans(paragraph, data.sentences, data.min_words, data.max_words)
        ]
        rows = []
        for _ in range(data.train_prompts):
            writer = rng.choice(data.references)
            shown = rng.sample(refs[writer], data.exemplars)
            source = rng.choice(inputs)
            rows.append(
                {
                    "prompt": with_exemplars(shown, rephrase_prompt(source)),
                    "source": source,
                    "reference": writer,
                }
            )
        self.rows = rows
        self.reference_sentences = {
            w: rng.sample(s := [x for p in refs[w] for x in split(p)], min(len(s), data.reference_sentences))
            for w in data.references
        }

    # -- model: the warm-up adapter, trainable (Bit-LoRA: ternary forward from the first step)

    def model(self) -> None:
        from peft import PeftModel, get_peft_model

        from engine.manifest import artifact
        from training import lora
        from training.bitlora import make_ternary

        if self.cfg.warmup.adapter:
            warm = artifact(self.cfg.warmup.adapter, self.cfg.output.manifest_path)
            warm.require_base(self.loaded.info)
            self.peft_model = PeftModel.from_pretrained(
                self.loaded.model, str(warm.folder), is_trainable=True
            )
        else:
            spec = self.cfg.lora
            config = lora.lora_config(spec.r, spec.alpha, spec.dropout, spec.target_modules)
            self.peft_model = get_peft_model(self.loaded.model, config)
        self.ternary = make_ternary(self.peft_model) if self.cfg.train.bitlora else 0
        if self.cfg.train.share_prefill:
            from training.rl.group_prefill import share_group_prefill

            share_group_prefill(self.peft_model)
        self.trunk_cache = None
        if self.cfg.train.top_layers:
            from training.rl.trunk_cache import TrunkCache, freeze_below

            trunk = freeze_below(self.peft_model, self.cfg.train.top_layers)
            if self.cfg.train.cache_trunk and trunk:
                self.trunk_cache = TrunkCache(self.peft_model, trunk)

    # -- train: TRL GRPOTrainer, Dr.GRPO loss

    def reward(self):
        from engine.persona.encoder import default_encoder
        from training.answer_lines import first_line
        from training.rl.entities import named_entities
        from training.rl.style_reward import StyleReward

        encoder = default_encoder()
        return StyleReward(
            self.reference_sentences,
            encode=encoder.encode,
            split=sentence_splitter(),
            entities=named_entities,
            dropout=self.cfg.train.dropout,
            seed=self.cfg.train.seed,
            answer=first_line,  # the app inserts the first line of a Rephrase answer
        )

    def trainer(self):
        from datasets import Dataset
        from trl import GRPOConfig, GRPOTrainer

        from training.answer_lines import line_stop_ids
        from training.runner import ListState, RandomState, TrainerRun

        t = self.cfg.train
        self.reward_fn = self.reward()
        # Checkpoints only where a batch of rollouts is used up (every num_iterations steps): the
        # rollouts reused between steps live in the trainer, not in its checkpoint.
        self.resumable = TrainerRun(
            self.cfg,
            RECIPE,
            self.loaded.info.source_sha256,
            align=t.num_iterations,
            extra={"reward_rng": RandomState(self.reward_fn.rng), "log_rows": ListState(self.log_rows)},
        )
        args = trainer_arguments(
            GRPOConfig,
            self.cfg,
            loss_type="dr_grpo",
            scale_rewards="none",
            beta=0.0,
            num_iterations=t.num_iterations,
            num_generations=t.num_generations,
            max_completion_length=t.max_completion_tokens,
            temperature=t.temperature,
            min_p=t.min_p,
            bf16=False,
            disable_dropout=True,
            gradient_checkpointing=t.gradient_checkpointing,
            # A rollout ends at the end of its line, where the engine's Rephrase stops (a first probe at
            # 270M without this ran every rollout to max_completion_tokens: clipped_ratio 1.0).
            generation_kwargs={"eos_token_id": line_stop_ids(self.loaded.tokenizer)},
            **self.resumable.trainer_arguments(),
        )
        return GRPOTrainer(
            model=self.peft_model,
            reward_funcs=[self.reward_fn],
            args=args,
            train_dataset=Dataset.from_list(self.rows),
            processing_class=self.loaded.tokenizer,
            callbacks=[
                self._diagnostics_callback(),
                time_budget_callback(t.time_budget_s),
                *self.resumable.callbacks(),
            ],
        )

    def _diagnostics_callback(self):
        from transformers import TrainerCallback

        recipe = self

        class Diagnostics(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                recipe.log_rows.append({"step": state.global_step, **(logs or {}), **recipe.spread()})

        return Diagnostics()

    def spread(self) -> dict:
        """The seed paper's two diagnostics on the last rewarded batch's sentences."""
        import numpy as np

        from training.rl.style_reward import dropout_stats, style_spread

        parts = getattr(self.reward_fn, "last", [])
        if not parts:
            return {}
        fn = self.reward_fn
        texts = [s for p in getattr(fn, "last_texts", []) for s in fn.split(p)]
        if not texts:
            return {}
        per_sentence, per_style = style_spread(
            np.asarray(fn.encode(texts)), {k: v for k, (v, _) in fn.refs.items()}
        )
        return {
            "spread/per_sentence": per_sentence,
            "spread/per_style": per_style,
            **dropout_stats([p.style for p in parts]),
        }

    def train(self) -> None:
        self.grpo = self.trainer()
        self.resumable.train(self.grpo)
        # runner.stop_after ended this process before max_steps: nothing is shipped, the run resumes
        self.paused = self.resumable.stopped_at is not None

    def evaluate(self) -> dict:
        rewards = [r["reward"] for r in self.log_rows if "reward" in r]
        return {
            "steps": self.grpo.state.global_step,
            "resumed_from": str(self.resumable.resumed_from) if self.resumable.resumed_from else None,
            "loss_type": self.grpo.loss_type,
            "reward_first": round(rewards[0], 4) if rewards else None,
            "reward_last": round(rewards[-1], 4) if rewards else None,
            "train_seconds": round(time.monotonic() - self.started),
            "ternary_matrices": self.ternary,
        }

    # -- ship: adapter folder (packed for Bit-LoRA), training log, manifest entry

    def ship(self, metrics: dict) -> None:
        from training import lora
        from training.bitlora import export_bitlora

        out = self.cfg.output
        write_run_log(out.run_path, self.log_rows)
        if self.paused:
            print(
                json.dumps({"paused": out.name, "checkpoint": str(self.resumable.saved[-1]), **metrics}),
                flush=True,
            )
            return
        if self.cfg.train.bitlora:
            metrics.update(export_bitlora(self.peft_model, out.path))
        else:
            lora.save_adapter(self.peft_model, out.path, dtype=getattr(torch, out.dtype))
        if out.register:
            self.register(metrics)
        print(json.dumps({"done": out.name, **metrics}), flush=True)

    def register(self, metrics: dict) -> None:
        from engine.manifest import register_artifact
        from training.data.corpora import corpus_sources

        cfg, info = self.cfg, self.loaded.info
        data = cfg.data
        register_artifact(
            cfg.output.name,
            "lora_adapter",
            [cfg.output.path],
            base_model=info.name,
            base_sha256=info.source_sha256,
            recipe=RECIPE,
            config=cfg.source,
            data=f"{len(self.rows)} prompts: sentences of {data.inputs} rewritten towards {data.references}",
            metrics=metrics,
            extra={"task": "rephrase_style", "warmup": cfg.warmup.adapter, "bitlora": cfg.train.bitlora},
            root=cfg.output.manifest_path,
            sources=corpus_sources([*data.inputs, *data.references]),
        )


def _paragraphs(by_title: dict[str, list[str]], min_words: int = 25) -> list[str]:
    return [p for paragraphs in by_title.values() for p in paragraphs if len(p.split()) >= min_words]


def run(cfg: GrpoStyleConfig) -> dict:
    return GrpoStyleRecipe(cfg).run()


def main(argv: Sequence[str] | None = None) -> dict:
    return GrpoStyleRecipe.main(argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    main(sys.argv[1:])
