"""Learn my style, measured on the held-out writers: NLL for none / exemplars / adapter / both, and cost.

Each writer of ``corpora.HELD_OUT`` (or the named ones) is split as in ``training.eval.style_retrieval``:
the first 85 % (at most 300 paragraphs, thinned evenly) is their style memory, a real SQLite file; the
recipe ``training/recipes/personal_style.py`` trains their adapter on that memory exactly as the app
runs it (its own held-out slice, early stop and refusal included). Then the first ``--per-writer`` of
the writer's held-out tail are scored (mean NLL of the continuation after the first 12 words,
nats/token, base model, full vocabulary) under:

    none       the prefix alone
    exemplars  the writer's own retrieved paragraphs before the prefix (the app's "Write in my style")
    adapter    the prefix alone, with the style adapter
    both       exemplars and the adapter

Cost: the recipe's CPU seconds (one thread; ``time.process_time``, so the machine's load does not count)
from the model load to the written adapter, and per 100 trained paragraphs.

    nice -n 10 python -m training.eval.personal_style [--writers ru_debian_faq debian_history] \
        [--json out.jsonl] [train.max_steps=40 ...]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import torch

CONFIG = "training/configs/gemma3-270m/personal_style.yaml"


def train_adapter(memory_db: Path, root: Path, base: str, overrides: list[str]) -> dict:
    """Run the recipe on one memory; its metrics, plus 'refused' (the message) if it shipped nothing."""
    from engine.errors import KillahError
    from training.config import load_recipe_config
    from training.recipes import personal_style

    cfg = load_recipe_config(
        personal_style.StyleConfig,
        CONFIG,
        [f"base={base}", f"data.memory={memory_db}", f"output.manifest_root={root}", *overrides],
    )
    started = time.process_time()
    try:
        metrics = personal_style.run(cfg)
    except KillahError as exc:
        metrics = dict(getattr(exc, "metrics", {}), refused=str(exc))
    metrics["recipe_cpu_s"] = round(time.process_time() - started, 1)
    return metrics


def score_writer(loaded, writer, memory, adapter_folder: Path | None, per_writer: int) -> dict:
    from engine import prompts
    from engine.persona.exemplars import DEFAULT_BUDGET_TOKENS, DEFAULT_K
    from training.eval.style_retrieval import _counter, nll, retrieve, split_prefix

    count = _counter(loaded.tokenizer)
    splits = [split_prefix(p) for p in writer.heldout[:per_writer]]
    exemplars = [
        retrieve(memory, pre, f"{writer.name}/{i}", DEFAULT_K, DEFAULT_BUDGET_TOKENS, count)
        for i, (pre, _) in enumerate(splits)
    ]
    with_ex = [(prompts.with_exemplars(ex, pre), cont) for ex, (pre, cont) in zip(exemplars, splits, strict=True)]
    row = {"paragraphs": len(splits), "none": nll(loaded, splits), "exemplars": nll(loaded, with_ex)}
    if adapter_folder is not None:
        from peft import PeftModel

        base_model = loaded.model
        loaded.model = PeftModel.from_pretrained(base_model, str(adapter_folder), adapter_name="style").eval()
        try:
            row["adapter"] = nll(loaded, splits)
            row["both"] = nll(loaded, with_ex)
        finally:
            loaded.model = loaded.model.unload()  # the plain base again, for the next writer
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", nargs="*", default=None, help="corpora names (default: corpora.HELD_OUT)")
    parser.add_argument("--per-writer", type=int, default=24)
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--json", type=Path, default=None, help="append one JSON line per writer")
    parser.add_argument("overrides", nargs="*", help="recipe keys, key.sub=value")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    torch.set_num_threads(1)

    from engine.models import load_model
    from training.data.corpora import HELD_OUT
    from training.eval.style_retrieval import build_memory, held_out_writers

    loaded = load_model(args.base)
    for name in args.writers or list(HELD_OUT):
        writer = held_out_writers([name])[name]
        with tempfile.TemporaryDirectory(prefix="style-eval-") as tmp:
            folder = Path(tmp)
            memory = build_memory(writer, folder)
            started = time.strftime("%Y-%m-%d %H:%M", time.gmtime())
            load_before = os.getloadavg()[0]
            metrics = train_adapter(folder / f"{name}.sqlite3", folder / "user", args.base, args.overrides)
            load_after = os.getloadavg()[0]
            adapter = None if "refused" in metrics else Path(metrics.get("folder") or _adapter_folder(folder))
            row = score_writer(loaded, writer, memory, adapter, args.per_writer)
            memory.close()
        trained = metrics.get("trained_paragraphs") or 0
        row.update(
            writer=name,
            memory_paragraphs=len(writer.history),
            started_utc=started,
            load_avg=[round(load_before, 1), round(load_after, 1), round(os.getloadavg()[0], 1)],
            recipe=metrics,
            cpu_s_per_100_paragraphs=round(100 * metrics["recipe_cpu_s"] / trained, 1) if trained else None,
        )
        print(json.dumps(row), flush=True)
        if args.json:
            with args.json.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    return 0


def _adapter_folder(folder: Path) -> Path:
    from engine.manifest import load_manifest

    return load_manifest(folder / "user")["personal_style"].folder


if __name__ == "__main__":
    raise SystemExit(main())
