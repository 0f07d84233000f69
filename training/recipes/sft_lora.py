"""SFT of one LoRA adapter on the frozen base: task_autocomplete, task_continue, task_rephrase, task_dictation,
persona.

    python -m training.recipes.sft_lora --config training/configs/gemma3-270m/task_continue.yaml \
        train.max_steps=40 lora.r=16

    # the same recipe on 2 processes (gloo on CPU; NCCL on GPUs)
    torchrun --standalone --nproc_per_node 2 -m training.recipes.sft_lora --config ... train.max_steps=2

Top to bottom: config -> base model (engine.models) -> examples (training.data.tasks,
in the engine's prompt format) -> tokens -> peft LoRA -> transformers Trainer with a
completion-only loss (training.loss) and an intruder-dimension monitor -> held-out NLL
of base vs adapter -> adapter saved in peft format (fp16) -> manifest entry.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import torch

from training.config import REPO, load_config
from training.data import tasks
from training.loss import CompletionLM, mean_completion_nll, pad_batch, tokenize_example

RECIPE = "training/recipes/sft_lora.py"


# ---------------------------------------------------------------- data


def build_examples(cfg: dict, part: str, n: int) -> list[tasks.Example]:
    data = cfg["data"]
    task, corpora, seed = cfg["task"], data.get("corpora", ["austen"]), int(data.get("seed", 0))
    seed += 0 if part == "train" else 1000
    if task == "autocomplete":
        return tasks.autocomplete_examples(corpora, part, n, seed, rest=data.get("rest", "sentence"))
    if task == "continue":
        return tasks.continue_examples(corpora, part, n, seed, int(data.get("context_paragraphs", 3)))
    if task == "persona":
        return tasks.persona_examples(corpora, part, n, seed)
    if task == "dictation":
        return tasks.dictation_examples(corpora, part, n, seed)
    if task == "rephrase":
        from training.data.corpora import split
        from training.data.rephrase import load_pairs

        # The pairs come from training-part sentences only; a tenth of them is held out for the val NLL.
        train_pairs, val_pairs = split(load_pairs(data["pairs"], "train"), seed=0, fractions=(0.9, 0.1))
        pairs = train_pairs if part == "train" else val_pairs
        return [tasks.rephrase_example(p["source"], p["paraphrase"], p["origin"]) for p in pairs[:n]]
    raise ValueError(f"unknown task {task!r}")


def attach_persona(cfg: dict, rows: list[dict], examples: list[tasks.Example], loaded) -> str:
    """Add persona soft tokens to each row when the persona projector artifact is installed.

    Returns a sentence for the data description saying which conditioning was used.
    """
    pcfg = cfg.get("persona") or {}
    if not pcfg.get("soft_tokens", False):
        return "no soft tokens (author conditioning is the author's own passage in the prompt)"
    from training.data.persona_tokens import persona_soft_tokens

    soft, note = persona_soft_tokens(
        loaded, examples, cfg["data"].get("corpora", ["austen"]), pcfg.get("projector", "persona_projector")
    )
    if soft is None:
        return note
    for row, s in zip(rows, soft, strict=True):
        row["soft_tokens"] = s
    return note


# ---------------------------------------------------------------- training


def should_ship(cfg: dict, metrics: dict, data_desc: str = "") -> tuple[bool, str]:
    """Ship (overwrite assets/ + manifest) only an adapter that beats the base on its held-out NLL and
    improves on the adapter already shipped under that name, when both were scored on the same
    held-out set (its fingerprint; entries older than the fingerprint: same size and data line)."""
    out = cfg["output"]
    if not out.get("require_improvement", True):
        return True, "improvement not required (output.require_improvement=false)"
    new, base = metrics["heldout_completion_nll_adapter"], metrics["heldout_completion_nll_base"]
    if base is not None and new >= base:
        return False, f"held-out NLL {new} does not beat the base's {base}"
    below = metrics.get("heldout_completion_nll_below")
    if below is not None and new >= below:
        return False, f"held-out NLL {new} does not beat the adapters it is stacked on ({below})"
    from engine.manifest import load_manifest

    old = load_manifest(manifest_root(cfg)).get(cfg["name"])
    if old is not None and (
        old.metrics.get("heldout_set") == metrics.get("heldout_set")
        if "heldout_set" in old.metrics
        else old.metrics.get("heldout_examples") == metrics["heldout_examples"] and old.data == data_desc
    ):
        previous = old.metrics.get("heldout_completion_nll_adapter")
        if previous is not None and previous <= new:
            return False, f"the shipped {cfg['name']} is as good or better (held-out NLL {previous} <= {new})"
    return True, f"held-out NLL {new} beats the base's {base}"


def stack_below(cfg: dict, loaded) -> list:
    """The shipped adapters (manifest artifacts, verified, same base) named in ``lora.stack_on``."""
    from engine.manifest import artifact

    below = [artifact(name, manifest_root(cfg)) for name in cfg["lora"].get("stack_on") or []]
    for a in below:
        a.require_base(loaded.info)
    return below


def manifest_root(cfg: dict) -> Path | None:
    """The assets folder whose manifest.json the recipe reads and writes (None: the repo's)."""
    root = cfg["output"].get("manifest_root")
    return Path(root) if root else None


def heldout_fingerprint(rows: list[dict]) -> str:
    """Which held-out examples an NLL was measured on: NLLs are comparable only on the same set."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update(json.dumps([row["input_ids"], row["labels"]]).encode())
    return digest.hexdigest()[:16]


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def run(cfg: dict) -> dict:
    from peft import get_peft_model
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from engine.models import load_model
    from training import lora

    train_cfg, lora_cfg, data_cfg = cfg["train"], cfg["lora"], cfg["data"]
    torch.set_num_threads(int(train_cfg.get("threads", 1)))
    torch.manual_seed(int(train_cfg.get("seed", 0)))
    started = time.monotonic()

    loaded = load_model(cfg["base"])
    tokenizer = loaded.tokenizer
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id

    def rows_for(part: str, n: int) -> tuple[list[tasks.Example], list[dict]]:
        examples = build_examples(cfg, part, n)
        rows = [
            tokenize_example(
                tokenizer,
                e.prompt,
                e.completion,
                int(data_cfg.get("max_prompt_tokens", 192)),
                int(data_cfg.get("max_completion_tokens", 64)),
            )
            for e in examples
        ]
        return examples, rows

    train_examples, train_rows = rows_for("train", int(data_cfg.get("train_examples", 512)))
    val_examples, val_rows = rows_for("test", int(data_cfg.get("eval_examples", 32)))
    conditioning = attach_persona(cfg, train_rows, train_examples, loaded)
    attach_persona(cfg, val_rows, val_examples, loaded)

    peft_config = lora.lora_config(
        int(lora_cfg.get("r", 64)),
        int(lora_cfg.get("alpha", 128)),
        float(lora_cfg.get("dropout", 0.0)),
        lora_cfg.get("target_modules", lora.ALL_LINEAR),
    )
    below = stack_below(cfg, loaded)
    if below:
        model = lora.stacked_peft_model(loaded.model, [(a.name, a.folder) for a in below], peft_config)
    else:
        model = get_peft_model(loaded.model, peft_config)
    if lora_cfg.get("freeze_a", False):
        lora.freeze_lora_a(model)
    trainable = lora.count_trainable(model)
    wrapper = CompletionLM(model)

    monitor_cfg = cfg.get("monitor") or {}
    monitor = lora.IntruderMonitor(
        model,
        monitor_cfg.get("modules"),
        int(monitor_cfg.get("top_k", 10)),
        float(monitor_cfg.get("threshold", 0.5)),
    )
    log_rows: list[dict] = []

    class Logger(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            row = {"step": state.global_step, **(logs or {})}
            every = int(monitor_cfg.get("every", 10))
            if every and state.global_step % every == 0 or state.global_step == state.max_steps:
                row.update(monitor.measure())
            log_rows.append(row)
            if is_main_process():
                print(json.dumps(row), flush=True)

    run_dir = Path(cfg.get("run_dir") or REPO / ".data" / "runs" / cfg["name"])
    args = TrainingArguments(
        output_dir=str(run_dir),
        max_steps=int(train_cfg.get("max_steps", 50)),
        per_device_train_batch_size=int(train_cfg.get("batch_size", 4)),
        gradient_accumulation_steps=int(train_cfg.get("grad_accum", 1)),
        learning_rate=float(train_cfg.get("lr", 2e-4)),
        lr_scheduler_type=train_cfg.get("scheduler", "cosine"),
        warmup_steps=int(train_cfg.get("warmup_steps", 0)),
        weight_decay=0.0,
        logging_steps=int(train_cfg.get("logging_steps", 5)),
        save_strategy="no",
        eval_strategy="no",
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        # gloo between CPU processes (torchrun); NCCL is picked by default on GPUs. Single process: none.
        ddp_backend=("gloo" if not torch.cuda.is_available() else "nccl") if world_size() > 1 else None,
        ddp_find_unused_parameters=False,
        dataloader_num_workers=0,
        remove_unused_columns=False,
        seed=int(train_cfg.get("seed", 0)),
        disable_tqdm=not is_main_process(),
    )
    trainer = Trainer(
        model=wrapper,
        args=args,
        train_dataset=train_rows,
        data_collator=lambda rows: pad_batch(rows, pad_id),
        callbacks=[Logger()],
    )

    wrapper.eval()
    nll_base = nll_below = None
    if cfg.get("eval_base", True) and is_main_process():
        with model.disable_adapter():
            nll_base = mean_completion_nll(wrapper, val_rows, pad_id)
    if below and is_main_process():
        # What the new adapter must improve on: the composition it is trained on top of.
        lora.activate_stack(model, [a.name for a in below], None)
        nll_below = mean_completion_nll(wrapper, val_rows, pad_id)
        lora.activate_stack(model, [a.name for a in below])
    trainer.train()
    wrapper.eval()
    metrics = {}
    if is_main_process():
        nll_adapter = mean_completion_nll(wrapper, val_rows, pad_id)
        metrics = {
            "heldout_completion_nll_base": round(nll_base, 4) if nll_base is not None else None,
            "heldout_completion_nll_adapter": round(nll_adapter, 4),
            **({"heldout_completion_nll_below": round(nll_below, 4)} if nll_below is not None else {}),
            "heldout_examples": len(val_rows),
            "heldout_set": heldout_fingerprint(val_rows),
            "train_examples": len(train_rows),
            "steps": int(trainer.state.global_step),
            "trainable_params": trainable,
            "final_train_loss": next((r["loss"] for r in reversed(log_rows) if "loss" in r), None),
            **{k: round(v, 4) for k, v in monitor.measure().items()},
            "train_seconds": round(time.monotonic() - started, 1),
            "world_size": world_size(),
        }
        out_dir = Path(cfg["output"]["dir"])
        out_dir = out_dir if out_dir.is_absolute() else REPO / out_dir
        data_desc = (
            f"task={cfg['task']}; corpora={data_cfg.get('corpora')}; split=contiguous tail per book "
            f"(train/val/test {tasks.SPLIT_FRACTIONS}); {len(train_rows)} train examples; "
            f"prompts from engine.prompts; persona conditioning: {conditioning}"
        )
        if cfg["task"] == "rephrase":
            data_desc += f"; pairs: {data_cfg['pairs']}"
        if cfg["task"] == "autocomplete":
            data_desc += f"; ghost text = rest of the {data_cfg.get('rest', 'sentence')}"
        if below:
            data_desc += "; trained on top of " + " + ".join(f"{a.name} (frozen, active)" for a in below)
        ship, why = should_ship(cfg, metrics, data_desc)
        metrics_note = {"shipped": ship, "ship_decision": why}
        if not ship:  # keep the run's adapter for inspection, leave the shipped one alone
            out_dir = run_dir / "adapter"
        lora.save_adapter(model, out_dir, dtype=getattr(torch, cfg["output"].get("dtype", "float16")))
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log_rows))
        metrics["adapter_bytes"] = sum(p.stat().st_size for p in out_dir.iterdir() if p.is_file())
        if ship and cfg["output"].get("register", False):
            from engine.export.compose import adapter_sha256
            from engine.manifest import register_artifact

            register_artifact(
                cfg["name"],
                "lora_adapter",
                [out_dir],
                base_model=loaded.info.name,
                base_sha256=loaded.info.source_sha256,
                recipe=RECIPE,
                config=cfg.get("_config_path", ""),
                data=data_desc,
                metrics=metrics,
                extra={
                    "lora": {k: lora_cfg.get(k) for k in ("r", "alpha", "target_modules", "freeze_a")},
                    "task": cfg["task"],
                    # The adapters it was trained on top of, by content: retraining them invalidates it.
                    **({"stack_on": {a.name: adapter_sha256(a.folder) for a in below}} if below else {}),
                },
                root=manifest_root(cfg),
            )
        print(json.dumps({"done": cfg["name"], **metrics, **metrics_note}), flush=True)
    return metrics


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, help="training/configs/<base>/<name>.yaml")
    parser.add_argument("overrides", nargs="*", help="key.sub=value")
    ns = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    return run(load_config(ns.config, ns.overrides))


if __name__ == "__main__":
    main(sys.argv[1:])
