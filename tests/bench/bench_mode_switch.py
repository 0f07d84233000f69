"""Mode switch time: changing the active adapter set on a loaded base vs reloading the base.

    .venv/bin/python tests/bench/bench_mode_switch.py [--model gemma3-270m] [--rounds 20]

Uses the shipped adapters of assets/manifest.json for the model; if none are
installed for it, four random r=16 all-linear adapters in a temporary assets
folder stand in (same shapes, same cost). Prints a table and the ratio of a
base reload (the reference, measured in the same run) to a mode switch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

MODES = ["autocomplete", "continue", "rephrase", "dictation"]


def stand_in_adapters(loaded, root: Path, r: int = 16) -> None:
    import copy

    from peft import LoraConfig, get_peft_model

    from engine.manifest import register_artifact

    for i, name in enumerate(["persona", "task_autocomplete", "task_continue", "task_rephrase"]):
        torch.manual_seed(i)
        model = get_peft_model(
            copy.deepcopy(loaded.model), LoraConfig(r=r, lora_alpha=2 * r, target_modules="all-linear")
        )
        folder = root / "adapters" / name
        model.save_pretrained(str(folder))
        register_artifact(
            name, "lora_adapter", [folder], loaded.info.name, loaded.info.source_sha256, root=root
        )


def main() -> None:
    from engine.adapters import AdapterRegistry
    from engine.models import load_model

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    ns = parser.parse_args()
    torch.set_num_threads(ns.threads)

    t = time.perf_counter()
    loaded = load_model(ns.model)
    reload_s = time.perf_counter() - t

    root = None
    t = time.perf_counter()
    registry = AdapterRegistry(loaded)
    if not registry.installed:
        root = Path(tempfile.mkdtemp(prefix="bench-adapters-"))
        stand_in_adapters(loaded, root)
        t = time.perf_counter()
        registry = AdapterRegistry(loaded, root=root)
    load_s = time.perf_counter() - t
    source = "shipped" if root is None else "stand-in r=16"

    switches = []
    for _ in range(ns.rounds):
        for mode in MODES:
            got = registry.activate(mode)
            if got.changed:
                switches.append(got.seconds)
    ids = loaded.tokenizer("The morning was fine and", return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        t = time.perf_counter()
        loaded.model(input_ids=ids, logits_to_keep=1)
        forward_s = time.perf_counter() - t

    med = statistics.median(switches)
    print("| what | time | note |\n|---|---|---|")
    print(
        f"| mode switch (set_adapter), median of {len(switches)} | {med * 1e3:.2f} ms | adapters: {source}, "
        f"{len(registry.installed)} loaded: {', '.join(registry.installed)} |"
    )
    print(f"| mode switch, max | {max(switches) * 1e3:.2f} ms | |")
    print(f"| load all adapters once (verify sha256 + peft) | {load_s:.2f} s | at engine start |")
    print(f"| base reload (reference, load_model) | {reload_s:.2f} s | converted folder, warm disk |")
    print(f"| one 6-token forward with a composition active | {forward_s * 1e3:.0f} ms | for scale |")
    print(f"\nbase reload / mode switch = {reload_s / med:.0f}x")
    print(registry.activate("continue").status)


if __name__ == "__main__":
    main()
