"""Train the writer's personal LoRA adapter by DPO on their recorded choices (engine/preferences.py).

    python -m training.recipes.personal_dpo --config training/configs/gemma3-270m/personal_dpo.yaml
    python -m training.recipes.personal_dpo --config ... base=/path/to/model data.log=/tmp/prefs.jsonl

The app starts it as a background process ("Learn from my choices"). It prints one JSON line per
stage and per optimizer step on stdout ({"stage": "train", "step": 3, "of": 50, "loss": ...}), the
last one {"done": "personal", ...metrics} or {"error": "..."} (exit code 2 for bad input such as
"not enough choices yet"); tqdm's bar goes to stderr.

Stages: setup (threads, seed, base model) -> data (the log's pairs, prompts cut to their last
tokens) -> model (a new LoRA "default" on top of the frozen, active adapters the pairs were made
with: task_autocomplete) -> train (training.ddpo.DDPOTrainer, weight 1 = plain DPO; the reference is
the composition below, which the new adapter starts from) -> evaluate (log-prob margin chosen -
rejected over the reference, before = 0 by construction, after; and the check below) -> ship (fp16
adapter in the user's data dir + an entry in the user's manifest, same form as the shipped one;
engine/adapters.py reads it).

The check: the writer's most recent suggestions (taken or replaced: ``data.check_share`` of them) are
held out of training, and the update ships only if greedy suggestions on their contexts get the
writer's next word right at least as often as without it. Otherwise it exits with an "error" line
that says so and the adapter already in use is left as it was: an update that makes suggestions
worse is never switched on (docs/adapters.md measured one that did).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback, ProgressCallback

from engine.errors import KillahError
from engine.preferences import MIN_PAIRS, SCHEMA_VERSION, WORSE_UPDATE, record_pairs
from training.config import (
    LoraAdapterConfig,
    OutputConfig,
    RecipeConfig,
    TrainConfig,
    option,
    repo_path,
    section,
)
from training.ddpo import WEIGHT, DDPOTrainer
from training.lora import activate_stack
from training.recipe import Recipe, trainer_arguments

RECIPE = "training/recipes/personal_dpo.py"


# ---------------------------------------------------------------- config


@dataclass(frozen=True, kw_only=True)
class PersonalData:
    log: str = option(
        "", help="the preference log (JSONL); '' = the user's (engine.preferences.default_log_path)"
    )
    kinds: list[str] = option(
        ["ghost", "edit"],
        help="record kinds whose pairs train it: the autocomplete ones (rephrase pairs need a rephrase stack)",
    )
    min_pairs: int = option(MIN_PAIRS, help="fewer pairs than this: 'not enough choices yet' (exit 2)")
    max_pairs: int = option(400, help="the most recent pairs used")
    prompt_tokens: int = option(
        32, help="prompt cut to its last tokens: a sentence of context, and the cost of a step stays small"
    )
    completion_tokens: int = option(16, help="chosen/rejected cut to this many tokens")
    eval_pairs: int = option(
        32, help="the most recent pairs whose log-prob margin is reported before and after (training pairs)"
    )
    check_share: float = option(
        0.0,
        help="share of the most recent suggestions (taken or replaced) held out of training to check the "
        "update (0: no check)",
    )
    check_min: int = option(
        8, help="the fewest held-out suggestions a check uses; with fewer, no check (and the metrics say so)"
    )


@dataclass(frozen=True, kw_only=True)
class PersonalLora(LoraAdapterConfig):
    stack_on: list[str] = option(
        ["task_autocomplete"],
        help="shipped adapters kept active and frozen below it (the composition it joins at run time)",
    )
    shipped_root: str | None = option(None, help="assets folder of the adapters below (None: the repo's)")
    top_layers: int = option(
        0,
        help="adapt only the last N transformer layers (0 = all): the backward pass stops there, so a "
        "step costs less on one core",
    )


@dataclass(frozen=True, kw_only=True)
class PersonalTrain(TrainConfig):
    epochs: float = option(1.0, help="passes over the pairs; max_steps caps the steps")
    beta: float = option(0.1, help="DPO beta: how far from the reference the adapter may move")
    dpo_weight: float = option(
        1.0, help="weight of the DPO term (0 with sft_weight > 0: plain SFT on the chosen side)"
    )
    sft_weight: float = option(
        0.0, help="weight of the chosen side's per-token NLL added to the loss (RPO); see docs/adapters.md"
    )


@dataclass(frozen=True, kw_only=True)
class PersonalOutput(OutputConfig):
    name: str = option("personal", help="artifact name in the user's manifest (engine.adapters.PERSONAL)")
    dir: str = option("", help="adapter folder; '' = <user artifacts>/adapters/<name>")
    manifest_root: str | None = option(
        None, help="manifest folder; None = engine.adapters.user_artifacts_root()"
    )

    @property
    def root(self) -> Path:
        from engine.adapters import user_artifacts_root

        return repo_path(self.manifest_root) if self.manifest_root else user_artifacts_root()

    @property
    def path(self) -> Path:
        return repo_path(self.dir) if self.dir else self.root / "adapters" / self.name

    @property
    def manifest_path(self) -> Path | None:
        return self.root


@dataclass(frozen=True, kw_only=True)
class PersonalConfig(RecipeConfig):
    data: PersonalData = section(PersonalData, "the recorded choices it learns from")
    lora: PersonalLora = section(PersonalLora, "the personal adapter")
    train: PersonalTrain = section(PersonalTrain, "optimisation")
    output: PersonalOutput = section(PersonalOutput, "where the adapter goes")


def cpu_seconds() -> float:
    """This process's CPU time: its cost on one core, whatever else shares the machine."""
    return round(time.process_time(), 1)


def emit(**row) -> None:
    """One progress line for the app (stdout is the app's channel; tqdm writes to stderr)."""
    print(json.dumps(row, ensure_ascii=False), flush=True)


# ---------------------------------------------------------------- stages


class PersonalDpoRecipe(Recipe):
    """Evaluates before and after training, so its ``run`` orders the stages itself."""

    config_class = PersonalConfig
    cfg: PersonalConfig

    def setup(self) -> None:
        from engine.models import load_model

        super().setup()
        emit(stage="setup", message="loading the model")
        self.loaded = load_model(self.cfg.base)

    def data(self) -> None:
        from engine.preferences import NotEnoughChoices, PreferenceLog

        d = self.cfg.data
        log = PreferenceLog(Path(d.log) if d.log else None)
        records = [r for r in log.records() if r.get("v") == SCHEMA_VERSION]
        pairs = self._pairs(records)
        if log.set_aside_message:
            emit(stage="data", message=log.set_aside_message)
        if len(pairs) < d.min_pairs:  # counted over the kinds this adapter learns from
            raise NotEnoughChoices(
                f"Not enough choices yet to learn from ({len(pairs)} of {d.min_pairs} needed). Keep writing "
                'with "Record my choices" on: each suggestion you replace with your own words and each '
                "accepted suggestion you rework counts."
            )
        cut, self.checks = self._checks(records)
        pairs = self._pairs(records[:cut])
        self.pairs = [self._cut(p.as_row()) for p in pairs[-d.max_pairs :]]
        emit(stage="data", pairs=len(self.pairs), held_out_suggestions=len(self.checks))

    def _pairs(self, records: list[dict]) -> list:
        return [p for r in records for p in record_pairs(r) if p.kind in self.cfg.data.kinds]

    def _checks(self, records: list[dict]) -> tuple[int, list[tuple[str, str]]]:
        """(index where the held-out records start, [(prompt, the writer's next words)]) for the check.

        The most recent ghost records, taken (the suggestion was right) or replaced (what was typed):
        the only records that say what the writer wrote next. Never more than half of them.
        """
        from engine.prompts import autocomplete_prompt

        d = self.cfg.data
        ghosts = [
            i for i, r in enumerate(records) if r["kind"] == "ghost" and (r["accepted"] or r.get("typed"))
        ]
        n = max(d.check_min, round(d.check_share * len(ghosts))) if d.check_share > 0 else 0
        if n == 0 or n > len(ghosts) // 2:
            return len(records), []
        held = [records[i] for i in ghosts[-n:]]
        checks = [
            (
                self._cut_prompt(autocomplete_prompt(r["context"])),
                r["suggestion"] if r["accepted"] else r["typed"],
            )
            for r in held
        ]
        return ghosts[-n], checks

    def _cut(self, row: dict) -> dict:
        """Prompt: its last ``prompt_tokens`` tokens (as text); answers: their first ``completion_tokens``."""
        tok, d = self.loaded.tokenizer, self.cfg.data

        def head(text: str) -> str:
            ids = tok(text, add_special_tokens=False)["input_ids"]
            return tok.decode(ids[: d.completion_tokens]) if len(ids) > d.completion_tokens else text

        return {
            "prompt": self._cut_prompt(row["prompt"]),
            "chosen": head(row["chosen"]),
            "rejected": head(row["rejected"]),
        }

    def _cut_prompt(self, prompt: str) -> str:
        """The prompt's last ``prompt_tokens`` tokens, as text (what training and the check both see)."""
        tok, keep = self.loaded.tokenizer, self.cfg.data.prompt_tokens
        ids = tok(prompt, add_special_tokens=False)["input_ids"]
        return tok.decode(ids[-keep:]) if len(ids) > keep else prompt

    def model(self) -> None:
        from engine.manifest import artifact
        from training import lora

        spec = self.cfg.lora
        root = repo_path(spec.shipped_root) if spec.shipped_root else None
        self.below = [artifact(name, root) for name in spec.stack_on]
        for a in self.below:
            a.require_base(self.loaded.info)
        config = lora.lora_config(spec.r, spec.alpha, spec.dropout, spec.target_modules)
        if spec.top_layers:
            n_layers = self.loaded.model.config.get_text_config().num_hidden_layers
            config.layers_to_transform = list(range(max(0, n_layers - spec.top_layers), n_layers))
        if self.below:  # TRL names the policy adapter "default" and copies it as its "ref"
            self.peft_model = lora.stacked_peft_model(
                self.loaded.model, [(a.name, a.folder) for a in self.below], config
            )
        else:
            from peft import get_peft_model

            self.peft_model = get_peft_model(self.loaded.model, config)
        self.below_names = [a.name for a in self.below]
        self.trainable = lora.count_trainable(self.peft_model)
        t = self.cfg.train
        self.steps = min(t.max_steps, math.ceil(t.epochs * len(self.pairs) / t.batch_size))
        self.trainer = self._trainer(self.steps)

    def _trainer(self, max_steps: int):
        from datasets import Dataset
        from trl import DPOConfig

        t = self.cfg.train
        d = self.cfg.data
        args = trainer_arguments(
            DPOConfig,
            self.cfg,
            max_steps=max(1, max_steps),
            beta=t.beta,
            logging_steps=1,
            use_cpu=True,
            dataloader_num_workers=0,
            bf16=False,
            max_length=d.prompt_tokens + d.completion_tokens + 8,
            # TRL turns it on by default: on ~50-token sequences memory is no issue, and recomputing the
            # forward in the backward (plus input grads through every layer) is pure cost on one core.
            gradient_checkpointing=False,
        )
        # No DDPO weights: every pair counts alike.
        rows = [dict(p, **{WEIGHT: t.dpo_weight}) for p in self.pairs]
        trainer = StackedDDPOTrainer(
            below=self.below_names,
            sft_weight=t.sft_weight,
            model=self.peft_model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            processing_class=self.loaded.tokenizer,
            callbacks=[JsonProgress()],
        )
        trainer.remove_callback(ProgressCallback)
        # transformers prints Python-dict log lines to stdout instead of a bar when its logger is
        # quieter than WARNING (engine.models quiets it): stdout is the app's JSON-line protocol.
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(QuietProgress())
        return trainer

    def train(self) -> None:
        self.before = self.pair_margins()  # the same pairs scored again after training
        # The new adapter starts at B = 0: the composition below, i.e. the suggestions the writer had.
        self.next_word_before = self.next_word_rate()
        emit(stage="train", step=0, of=self.steps)
        self.trainer.train()

    def evaluate(self) -> dict:
        metrics = {**{f"{k}_before": v for k, v in self.before.items()}, **self.pair_margins()}
        metrics.update(
            checked_suggestions=len(self.checks),
            next_word_before=self.next_word_before,
            next_word_after=self.next_word_rate(),
        )
        metrics["train_seconds"] = round(time.monotonic() - self.started, 1)
        metrics["cpu_seconds"] = cpu_seconds()
        return metrics

    @torch.no_grad()
    def pair_margins(self) -> dict:
        """Mean log-prob margin over the reference of chosen minus rejected, and the share above 0."""
        trainer, margins = self.trainer, []
        was_training = self.peft_model.training
        self.peft_model.eval()
        rows = trainer.train_dataset
        first = max(0, len(rows) - self.cfg.data.eval_pairs)
        for i in range(first, len(rows), 8):
            batch = trainer.data_collator([rows[j] for j in range(i, min(i + 8, len(rows)))])
            batch = {k: v for k, v in batch.items() if k != "weight"}
            chosen, rejected = trainer.sequence_logps(self.peft_model, batch).chunk(2)
            ref_c, ref_r = trainer.compute_ref_log_probs(self.peft_model, batch)
            margins += ((chosen - ref_c) - (rejected - ref_r)).tolist()
        self.peft_model.train(was_training)
        return {
            "pair_logp_margin": round(sum(margins) / len(margins), 4),
            "pair_accuracy": round(sum(m > 0 for m in margins) / len(margins), 4),
        }

    @torch.no_grad()
    def next_word_rate(self) -> float | None:
        """Share of the held-out suggestions whose greedy ghost starts with the writer's next word."""
        from training.eval.adapters import accepted_chars, ghost_texts

        if not self.checks:
            return None
        model, tok = self.peft_model, self.loaded.tokenizer
        was_training, side = model.training, tok.padding_side
        model.eval()
        try:  # the LoRA layers sit in loaded.model's modules: its generate runs the active stack
            ghosts = ghost_texts(self.loaded, [prompt for prompt, _ in self.checks])
        finally:
            model.train(was_training)
            tok.padding_side = side
        # Words, not spacing: whether the ghost repeats the space before the next word depends on the tokenizer.
        right = [
            accepted_chars(g.lstrip(), words.lstrip()) > 0
            for g, (_, words) in zip(ghosts, self.checks, strict=True)
        ]
        return round(sum(right) / len(right), 4)

    def ship(self, metrics: dict) -> None:
        from engine.export.compose import adapter_sha256
        from engine.manifest import register_artifact
        from training import lora

        before, after = metrics["next_word_before"], metrics["next_word_after"]
        if before is not None and after < before:
            raise WorseUpdate(
                f"{WORSE_UPDATE}: on your {len(self.checks)} most recent "
                f"suggestions the next word was right {before:.0%} of the time without it and {after:.0%} "
                "with it. Nothing was changed: your suggestions stay as they were.",
                metrics,
            )

        out, spec, info = self.cfg.output, self.cfg.lora, self.loaded.info
        folder = out.path
        staging = folder.with_name(folder.name + ".new")
        shutil.rmtree(staging, ignore_errors=True)
        lora.save_adapter(self.peft_model, staging, adapter_name="default", dtype=getattr(torch, out.dtype))
        shutil.rmtree(
            folder, ignore_errors=True
        )  # the engine holds the old weights in memory until it reloads
        os.replace(staging, folder)
        metrics.update(
            pairs=len(self.pairs), steps=int(self.trainer.state.global_step), trainable_params=self.trainable
        )
        if out.register:
            register_artifact(
                out.name,
                "lora_adapter",
                [folder],
                base_model=info.name,
                base_sha256=info.source_sha256,
                recipe=RECIPE,
                config=self.cfg.source,
                data=f"{len(self.pairs)} pairs from the writer's recorded choices ({', '.join(self.cfg.data.kinds)})",
                metrics=metrics,
                extra={
                    "lora": {
                        "r": spec.r,
                        "alpha": spec.alpha,
                        "target_modules": spec.target_modules,
                        "top_layers": spec.top_layers,
                    },
                    "applies_to": ["autocomplete"],
                    "stack_on": {a.name: adapter_sha256(a.folder) for a in self.below},
                },
                root=out.root,
            )
        emit(done=out.name, folder=str(folder), **metrics)


class WorseUpdate(KillahError):
    """The trained update fails the held-out check: not shipped (the message says by how much)."""

    def __init__(self, message: str, metrics: dict) -> None:
        super().__init__(message)
        self.metrics = metrics


# ---------------------------------------------------------------- trainer pieces


class StackedDDPOTrainer(DDPOTrainer):
    """DDPO whose reference is the composition below (base + frozen adapters), not TRL's lone "ref" copy.

    TRL's reference switches to its "ref" adapter alone, which would drop the adapters below from
    p_ref; the new adapter starts at B = 0, so the composition below IS its starting point.
    """

    def __init__(self, *args, below: list[str], **kwargs) -> None:
        self.below = below
        super().__init__(*args, **kwargs)

    def compute_ref_log_probs(self, model, inputs):
        peft = self.accelerator.unwrap_model(self.model)
        with torch.no_grad():
            if not self.below:
                with peft.disable_adapter():
                    return self.sequence_logps(model, inputs).chunk(2, dim=0)
            activate_stack(peft, self.below, None)
            try:
                return self.sequence_logps(model, inputs).chunk(2, dim=0)
            finally:
                activate_stack(peft, self.below, "default")


class QuietProgress(ProgressCallback):
    """transformers' tqdm bar (stderr) without its log dicts, which it prints on stdout: the app's channel."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        return


class JsonProgress(TrainerCallback):
    """One stdout line per optimizer step (logging_steps=1), for the app's progress bar."""

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        if "loss" in logs:
            emit(
                stage="train",
                step=state.global_step,
                of=state.max_steps,
                loss=round(logs["loss"], 4),
                margin=round(logs.get("rewards/margins", 0.0), 4),
                cpu_seconds=cpu_seconds(),
            )


def run(cfg: PersonalConfig) -> dict:
    return PersonalDpoRecipe(cfg).run()


def main(argv: Sequence[str] | None = None) -> int:
    cfg = PersonalDpoRecipe.config_from_argv(argv, __doc__.splitlines()[0])
    try:
        run(cfg)
    except KillahError as exc:  # bad input or a worse update: a message for the writer, not a traceback
        emit(error=str(exc), **getattr(exc, "metrics", {}))
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
