"""Train one LoRA adapter (a writing task or the persona) on the frozen base by SFT.

    python -m training.recipes.sft_lora --config training/configs/gemma3-270m/task_continue.yaml \
        train.max_steps=40 lora.r=16

    # the same recipe on 2 processes (gloo on CPU; NCCL on GPUs)
    torchrun --standalone --nproc_per_node 2 -m training.recipes.sft_lora --config ... train.max_steps=2

Stages (SftLoraRecipe): setup (threads, seed, base model from engine.models) -> data (examples from
training.data.tasks in the engine's prompt format, tokenized, persona soft tokens) -> model (peft LoRA,
optionally on top of frozen shipped adapters, intruder-dimension monitor) -> train (transformers Trainer
with the completion-only loss of training.loss; plus the training-only flow-matching loss of
training.sfr when sfr.weight > 0) -> evaluate (held-out NLL of base, adapters below and
the new adapter) -> ship (fp16 peft adapter under assets/ + manifest entry, only if it improves).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch

from training.config import (
    LoraAdapterConfig,
    OutputConfig,
    RecipeConfig,
    TrainConfig,
    option,
    section,
)
from training.data import tasks
from training.distributed import is_main_process, world_size
from training.loss import CompletionLM, mean_completion_nll, pad_batch, tokenize_example
from training.recipe import Recipe, trainer_arguments, write_run_log
from training.runner import RunnerConfig

RECIPE = "training/recipes/sft_lora.py"


# ---------------------------------------------------------------- config


@dataclass(frozen=True, kw_only=True)
class SftData:
    corpora: list[str] = option(["austen"], help="corpora of training.data.corpora the examples come from")
    train_examples: int = option(512, help="training examples built from the corpora's training part")
    eval_examples: int = option(32, help="held-out examples (test part) scored before shipping")
    max_prompt_tokens: int = option(192, help="prompt tokens kept (BOS and the tokens nearest the cursor)")
    max_completion_tokens: int = option(64, help="completion tokens kept: the only tokens in the loss")
    context_paragraphs: int = option(3, help="continue: paragraphs of context before the target one")
    rest: Literal["sentence", "paragraph", "text"] = option(
        "sentence", help="autocomplete: the ghost text runs to the end of the sentence, paragraph or budget"
    )
    pairs: str | None = option(None, help="rephrase: JSONL of (source, paraphrase) pairs, repo-relative")
    seed: int = option(0, help="seed of the example sampling (held-out examples use seed + 1000)")


@dataclass(frozen=True, kw_only=True)
class SftLora(LoraAdapterConfig):
    freeze_a: bool = option(False, help="train B only; A stays at its random init (LoRA-FA)")
    stack_on: list[str] = option(
        [], help="shipped adapters (manifest names) kept active and frozen below the new one"
    )


@dataclass(frozen=True, kw_only=True)
class SftTrain(TrainConfig):
    grad_accum: int = option(1, help="micro-batches per optimizer step")
    scheduler: str = option("cosine", help="transformers lr_scheduler_type")


@dataclass(frozen=True, kw_only=True)
class MonitorConfig:
    every: int = option(10, help="measure intruder dimensions every this many steps (0: only at the end)")
    top_k: int = option(10, help="top singular vectors of the adapted weight compared with the base's")
    threshold: float = option(0.5, help="cosine below which a singular vector counts as an intruder")
    modules: list[str] | None = option(None, help="LoRA layers watched (None: a few spread over the depth)")


@dataclass(frozen=True, kw_only=True)
class PersonaConditioning:
    soft_tokens: bool = option(False, help="prefix each example with its author's persona soft tokens")
    projector: str = option(
        "persona_projector", help="manifest name of the persona projector that makes them"
    )


@dataclass(frozen=True, kw_only=True)
class SfrOptions:
    weight: float = option(
        0.0, help="Semantic Flow Regularization (training.sfr): weight of the flow-matching loss; 0 = off"
    )
    hidden: int = option(512, help="width of the flow head's MLP (the head is dropped after training)")


@dataclass(frozen=True, kw_only=True)
class SftOutput(OutputConfig):
    require_improvement: bool = option(
        True, help="ship only an adapter that beats the base and the adapter already shipped"
    )


@dataclass(frozen=True, kw_only=True)
class SftConfig(RecipeConfig):
    task: Literal["autocomplete", "continue", "persona", "dictation", "rephrase"] = option(
        help="which examples (training.data.tasks) and prompt format the adapter learns"
    )
    data: SftData = section(SftData, "the examples")
    lora: SftLora = section(SftLora, "the adapter")
    train: SftTrain = section(SftTrain, "optimisation (transformers Trainer)")
    monitor: MonitorConfig = section(MonitorConfig, "intruder-dimension monitor (training.lora)")
    persona: PersonaConditioning = section(PersonaConditioning, "persona soft-token conditioning")
    sfr: SfrOptions = section(SfrOptions, "Semantic Flow Regularization (training-only flow head)")
    output: SftOutput = section(SftOutput, "the adapter's folder and manifest entry")
    eval_base: bool = option(True, help="score the bare base on the held-out set (the shipping bar)")
    runner: RunnerConfig = section(
        RunnerConfig, "checkpoints, resume and niceness of a long run, e.g. SFR (training/runner.py)"
    )


# ---------------------------------------------------------------- helpers


def build_examples(cfg: SftConfig, part: str, n: int) -> list[tasks.Example]:
    data, task = cfg.data, cfg.task
    seed = data.seed + (0 if part == "train" else 1000)
    if task == "autocomplete":
        return tasks.autocomplete_examples(data.corpora, part, n, seed, rest=data.rest)
    if task == "continue":
        return tasks.continue_examples(data.corpora, part, n, seed, data.context_paragraphs)
    if task == "persona":
        return tasks.persona_examples(data.corpora, part, n, seed)
    if task == "dictation":
        return tasks.dictation_examples(data.corpora, part, n, seed)
    from training.data.corpora import split
    from training.data.rephrase import load_pairs

    if data.pairs is None:
        raise ValueError("task rephrase needs data.pairs (a JSONL of pairs)")
    # The pairs come from training-part sentences only; a tenth of them is held out for the val NLL.
    train_pairs, val_pairs = split(load_pairs(data.pairs, "train"), seed=0, fractions=(0.9, 0.1))
    pairs = train_pairs if part == "train" else val_pairs
    return [tasks.rephrase_example(p["source"], p["paraphrase"], p["origin"]) for p in pairs[:n]]


def attach_persona(cfg: SftConfig, rows: list[dict], examples: list[tasks.Example], loaded) -> str:
    """Add persona soft tokens to each row when the persona projector artifact is installed.

    Returns a sentence for the data description saying which conditioning was used.
    """
    if not cfg.persona.soft_tokens:
        return "no soft tokens (author conditioning is the author's own passage in the prompt)"
    from training.data.persona_tokens import persona_soft_tokens

    soft, note = persona_soft_tokens(loaded, examples, cfg.data.corpora, cfg.persona.projector)
    if soft is None:
        return note
    for row, s in zip(rows, soft, strict=True):
        row["soft_tokens"] = s
    return note


def attach_sfr_targets(cfg: SftConfig, rows: list[dict], tokenizer) -> None:
    """Add each row's SFR target: the MiniLM embedding of its completion as the loss sees it (cut to
    data.max_completion_tokens), embedded once and cached on disk (training.data.personas.embed_texts)."""
    if cfg.sfr.weight <= 0:
        return
    from training.data.personas import embed_texts

    completions = [
        tokenizer.decode([t for t, label in zip(r["input_ids"], r["labels"], strict=True) if label != -100])
        for r in rows
    ]
    for row, vector in zip(rows, torch.from_numpy(embed_texts(completions)), strict=True):
        row["sfr_target"] = vector


def should_ship(cfg: SftConfig, metrics: dict, data_desc: str = "") -> tuple[bool, str]:
    """Ship (overwrite assets/ + manifest) only an adapter that beats the base on its held-out NLL and
    improves on the adapter already shipped under that name, when both were scored on the same
    held-out set (its fingerprint; entries older than the fingerprint: same size and data line)."""
    out = cfg.output
    if not out.require_improvement:
        return True, "improvement not required (output.require_improvement=false)"
    new, base = metrics["heldout_completion_nll_adapter"], metrics["heldout_completion_nll_base"]
    if base is not None and new >= base:
        return False, f"held-out NLL {new} does not beat the base's {base}"
    below = metrics.get("heldout_completion_nll_below")
    if below is not None and new >= below:
        return False, f"held-out NLL {new} does not beat the adapters it is stacked on ({below})"
    from engine.manifest import load_manifest

    old = load_manifest(out.manifest_path).get(out.name)
    if old is not None and (
        old.metrics.get("heldout_set") == metrics.get("heldout_set")
        if "heldout_set" in old.metrics
        else old.metrics.get("heldout_examples") == metrics["heldout_examples"] and old.data == data_desc
    ):
        previous = old.metrics.get("heldout_completion_nll_adapter")
        if previous is not None and previous <= new:
            return False, f"the shipped {out.name} is as good or better (held-out NLL {previous} <= {new})"
    return True, f"held-out NLL {new} beats the base's {base}"


def heldout_fingerprint(rows: list[dict]) -> str:
    """Which held-out examples an NLL was measured on: NLLs are comparable only on the same set."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([row["input_ids"], row["labels"]]).encode())
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------- the recipe


class SftLoraRecipe(Recipe):
    """One SFT run, stage by stage; each stage reads what the earlier ones left on ``self``."""

    config_class = SftConfig
    cfg: SftConfig
    rank0_evaluates = True  # held-out NLL is plain forward passes: rank 0 alone scores, saves, registers

    # -- setup: threads, seed, base model

    def setup(self) -> None:
        from engine.models import load_model
        from training.runner import cooperate

        super().setup()
        cooperate(self.cfg.runner.nice, self.cfg.train.threads)
        self.loaded = load_model(self.cfg.base)
        tokenizer = self.loaded.tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    # -- data: examples -> token rows (+ persona soft tokens)

    def data(self) -> None:
        data = self.cfg.data
        train_examples, self.train_rows = self._rows("train", data.train_examples)
        val_examples, self.val_rows = self._rows("test", data.eval_examples)
        self.conditioning = attach_persona(self.cfg, self.train_rows, train_examples, self.loaded)
        attach_persona(self.cfg, self.val_rows, val_examples, self.loaded)
        attach_sfr_targets(self.cfg, self.train_rows, self.loaded.tokenizer)  # held-out NLL: CE only

    def _rows(self, part: str, n: int) -> tuple[list[tasks.Example], list[dict]]:
        data = self.cfg.data
        examples = build_examples(self.cfg, part, n)
        rows = [
            tokenize_example(
                self.loaded.tokenizer,
                e.prompt,
                e.completion,
                data.max_prompt_tokens,
                data.max_completion_tokens,
            )
            for e in examples
        ]
        return examples, rows

    # -- model: peft LoRA (on top of the frozen shipped adapters in lora.stack_on) + monitor

    def model(self) -> None:
        from peft import get_peft_model

        from engine.manifest import artifact
        from training import lora

        spec = self.cfg.lora
        peft_config = lora.lora_config(spec.r, spec.alpha, spec.dropout, spec.target_modules)
        self.below = [artifact(name, self.cfg.output.manifest_path) for name in spec.stack_on]
        for a in self.below:
            a.require_base(self.loaded.info)
        if self.below:
            self.peft_model = lora.stacked_peft_model(
                self.loaded.model, [(a.name, a.folder) for a in self.below], peft_config
            )
        else:
            self.peft_model = get_peft_model(self.loaded.model, peft_config)
        if spec.freeze_a:
            lora.freeze_lora_a(self.peft_model)
        self.trainable = lora.count_trainable(self.peft_model)
        self.wrapper = self._wrapper()
        mon = self.cfg.monitor
        self.monitor = lora.IntruderMonitor(self.peft_model, mon.modules, mon.top_k, mon.threshold)

    def _wrapper(self) -> CompletionLM:
        """The loss module: plain completion CE, or CE + SFR with a flow head that is never saved."""
        sfr = self.cfg.sfr
        if sfr.weight <= 0:
            return CompletionLM(self.peft_model)
        from training.sfr import FlowHead, SfrCompletionLM

        config = self.loaded.model.config
        hidden = (config.get_text_config() if hasattr(config, "get_text_config") else config).hidden_size
        head = FlowHead(hidden, width=sfr.hidden)
        return SfrCompletionLM(self.peft_model, head, sfr.weight, seed=self.cfg.train.seed)

    # -- train: transformers Trainer (DDP under torchrun)

    def train(self) -> None:
        from transformers import Trainer, TrainerCallback, TrainingArguments

        from training.runner import ListState, RandomState, TrainerRun
        from training.sfr import SfrCompletionLM

        t, every, monitor = self.cfg.train, self.cfg.monitor.every, self.monitor
        self.log_rows: list[dict] = []
        log_rows = self.log_rows
        sfr_wrapper = self.wrapper if isinstance(self.wrapper, SfrCompletionLM) else None
        extra = {"log_rows": ListState(log_rows)}
        if sfr_wrapper is not None:  # the flow loss's own t and x0 draws
            extra["sfr_rng"] = RandomState(sfr_wrapper.generator)
        self.resumable = TrainerRun(self.cfg, RECIPE, self.loaded.info.source_sha256, extra=extra)

        class Logger(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                row = {"step": state.global_step, **(logs or {})}
                if sfr_wrapper is not None and "loss" in row:  # the CE and flow terms apart
                    row.update(sfr_wrapper.drain_log())
                if every and state.global_step % every == 0 or state.global_step == state.max_steps:
                    row.update(monitor.measure())
                log_rows.append(row)
                if is_main_process():
                    print(json.dumps(row), flush=True)

        args = trainer_arguments(
            TrainingArguments,
            self.cfg,
            gradient_accumulation_steps=t.grad_accum,
            lr_scheduler_type=t.scheduler,
            weight_decay=0.0,
            eval_strategy="no",
            # gloo between CPU processes (torchrun); NCCL is picked by default on GPUs. Single process: none.
            ddp_backend=("gloo" if not torch.cuda.is_available() else "nccl") if world_size() > 1 else None,
            ddp_find_unused_parameters=False,
            dataloader_num_workers=0,
            remove_unused_columns=False,
            disable_tqdm=not is_main_process(),
            **self.resumable.trainer_arguments(),
        )
        self.trainer = Trainer(
            model=self.wrapper,
            args=args,
            train_dataset=self.train_rows,
            data_collator=lambda rows: pad_batch(rows, self.pad_id),
            callbacks=[Logger(), *self.resumable.callbacks()],
        )
        self.resumable.train(self.trainer)
        # runner.stop_after ended this process: nothing is evaluated or shipped before the resume
        self.paused = self.resumable.stopped_at is not None

    # -- evaluate: held-out completion NLL of the adapter, the bare base and the adapters below

    def evaluate(self) -> dict:
        from training import lora

        if self.paused:
            return {"paused_at": self.resumable.stopped_at, "checkpoint": str(self.resumable.saved[-1])}
        wrapper, val_rows, pad_id = self.wrapper, self.val_rows, self.pad_id
        wrapper.eval()
        nll_adapter = mean_completion_nll(wrapper, val_rows, pad_id)
        # The base and the adapters below are frozen: scoring them after training gives their
        # scores before it.
        nll_base = nll_below = None
        if self.cfg.eval_base:
            with self.peft_model.disable_adapter():
                nll_base = mean_completion_nll(wrapper, val_rows, pad_id)
        if self.below:  # what the new adapter must improve on: the composition it is trained on top of
            names = [a.name for a in self.below]
            lora.activate_stack(self.peft_model, names, None)
            nll_below = mean_completion_nll(wrapper, val_rows, pad_id)
            lora.activate_stack(self.peft_model, names)
        return {
            "heldout_completion_nll_base": round(nll_base, 4) if nll_base is not None else None,
            "heldout_completion_nll_adapter": round(nll_adapter, 4),
            **({"heldout_completion_nll_below": round(nll_below, 4)} if nll_below is not None else {}),
            "heldout_examples": len(val_rows),
            "heldout_set": heldout_fingerprint(val_rows),
            "train_examples": len(self.train_rows),
            "steps": int(self.trainer.state.global_step),
            "trainable_params": self.trainable,
            "final_train_loss": next((r["loss"] for r in reversed(self.log_rows) if "loss" in r), None),
            **self._sfr_metrics(),
            **{k: round(v, 4) for k, v in self.monitor.measure().items()},
            "train_seconds": round(time.monotonic() - self.started, 1),
            "world_size": world_size(),
        }

    def _sfr_metrics(self) -> dict:
        if self.cfg.sfr.weight <= 0:
            return {}
        last = next((r for r in reversed(self.log_rows) if "sfr/sfr_loss" in r), {})
        return {
            "sfr_weight": self.cfg.sfr.weight,
            "final_sfr_loss": last.get("sfr/sfr_loss"),
            "final_ce_loss": last.get("sfr/ce_loss"),
        }

    # -- ship: save the adapter (assets/ if it improves, else the run folder) and register it

    def ship(self, metrics: dict) -> None:
        from training import lora

        cfg, out = self.cfg, self.cfg.output
        if self.paused:
            write_run_log(out.run_path, self.log_rows)
            print(json.dumps({"paused": out.name, **metrics}), flush=True)
            return
        data_desc = self.data_description()
        ship, why = should_ship(cfg, metrics, data_desc)
        folder = out.path if ship else out.run_path / "adapter"  # a rejected adapter stays for inspection
        lora.save_adapter(self.peft_model, folder, dtype=getattr(torch, out.dtype))
        write_run_log(out.run_path, self.log_rows)
        metrics["adapter_bytes"] = sum(p.stat().st_size for p in folder.iterdir() if p.is_file())
        if ship and out.register:
            self.register(folder, metrics, data_desc)
        print(json.dumps({"done": out.name, **metrics, "shipped": ship, "ship_decision": why}), flush=True)

    def data_description(self) -> str:
        """The manifest's ``data`` line (also how entries older than the held-out fingerprint compare)."""
        cfg, data = self.cfg, self.cfg.data
        desc = (
            f"task={cfg.task}; corpora={data.corpora}; split=contiguous tail per book "
            f"(train/val/test {tasks.SPLIT_FRACTIONS}); {len(self.train_rows)} train examples; "
            f"prompts from engine.prompts; persona conditioning: {self.conditioning}"
        )
        if cfg.task == "rephrase":
            desc += f"; pairs: {data.pairs}"
        if cfg.task == "autocomplete":
            desc += f"; ghost text = rest of the {data.rest}"
        if cfg.sfr.weight > 0:
            desc += f"; SFR weight {cfg.sfr.weight} (flow head on the completion's MiniLM embedding, dropped)"
        if self.below:
            desc += "; trained on top of " + " + ".join(f"{a.name} (frozen, active)" for a in self.below)
        return desc

    def register(self, folder, metrics: dict, data_desc: str) -> None:
        from engine.export.compose import adapter_sha256
        from engine.manifest import register_artifact
        from training.data.corpora import corpus_sources

        cfg, spec, info = self.cfg, self.cfg.lora, self.loaded.info
        register_artifact(
            cfg.output.name,
            "lora_adapter",
            [folder],
            base_model=info.name,
            base_sha256=info.source_sha256,
            recipe=RECIPE,
            config=cfg.source,
            data=data_desc,
            metrics=metrics,
            extra={
                "lora": {
                    "r": spec.r,
                    "alpha": spec.alpha,
                    "target_modules": spec.target_modules,
                    "freeze_a": spec.freeze_a,
                },
                "task": cfg.task,
                # The adapters it was trained on top of, by content: retraining them invalidates it.
                **(
                    {"stack_on": {a.name: adapter_sha256(a.folder) for a in self.below}} if self.below else {}
                ),
            },
            root=cfg.output.manifest_path,
            sources=corpus_sources(cfg.data.corpora),
        )


def run(cfg: SftConfig) -> dict:
    """Train, score and (if it improves) ship one adapter; the metrics on rank 0, {} on the others."""
    return SftLoraRecipe(cfg).run()


def main(argv: Sequence[str] | None = None) -> dict:
    return SftLoraRecipe.main(argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    main(sys.argv[1:])
