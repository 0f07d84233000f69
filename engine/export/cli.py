"""`killah export`: build (or find) the ExecuTorch program for a model and an adapter composition.

killah export                                   # Gemma 3 270M, default INT8 preset (8da8w-enru)
killah export -m smollm2-135m --quant 8da8w
killah export --adapter assets/adapters/a --adapter assets/adapters/b --output /tmp/pushkin.pte
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    from engine.export.config import DEFAULT_PRESET, PRESETS

    p = subparsers.add_parser("export", help="build the ExecuTorch program (INT8 by default, XNNPACK) for a model")
    p.add_argument("--model", "-m", default=None, help="embedded model name or a path (HF folder or .gguf)")
    p.add_argument(
        "--quant",
        default=None,
        choices=sorted(PRESETS),
        help=f"quantization preset (default: measured per architecture, {DEFAULT_PRESET} for Gemma 3)",
    )
    p.add_argument(
        "--adapter",
        action="append",
        default=[],
        type=Path,
        help="peft adapter folder to merge (repeat to compose)",
    )
    p.add_argument("--max-seq", type=int, default=1024, help="KV cache length in positions (default 1024)")
    p.add_argument("--output", "-o", type=Path, default=None, help="also copy the program here")
    p.add_argument("--force", action="store_true", help="rebuild even if a valid cached program exists")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run_export)
    return p


def _tqdm_progress():
    from tqdm import tqdm

    bar = tqdm(total=100, unit="%", bar_format="{desc:<24} {bar} {n:.0f}% [{elapsed}]")

    def update(stage: str, fraction: float) -> None:
        bar.set_description_str(stage)
        bar.n = round(100 * fraction, 1)
        bar.refresh()
        if fraction >= 1.0:
            bar.close()

    return update


def run_export(args: argparse.Namespace) -> int:
    import torch

    from engine.errors import ModelError
    from engine.export import resolve_quant
    from engine.export.program_cache import ProgramCache, spec_for
    from engine.models import load_model

    torch.set_num_threads(1)  # lowering is single-threaded anyway; keep the second core for the user
    loaded = load_model(args.model)
    quant, note = resolve_quant(loaded, args.quant)
    if note and not args.json:
        print(note)
    spec = spec_for(loaded, quant, args.adapter, args.max_seq)
    cache = ProgramCache()
    reused = False
    if not args.force:
        try:
            pte = cache.lookup(loaded, spec)
            reused = True
        except ModelError:
            pass
    if not reused:
        pte = cache.build(loaded, spec, args.adapter, progress=None if args.json else _tqdm_progress())
    if args.output is not None:
        shutil.copyfile(pte, args.output)
        shutil.copyfile(pte.with_suffix(".json"), args.output.with_suffix(".json"))
    result = {
        "program": str(pte),
        "reused": reused,
        "bytes": pte.stat().st_size,
        "quant": spec.quant.label,
        "note": note,
        "adapters": [name for name, _ in spec.adapters],
        "copied_to": str(args.output) if args.output else None,
    }
    if args.json:
        print(json.dumps(result))
    else:
        verb = "reused" if reused else "built"
        print(f"{verb} {pte} ({result['bytes'] / 1e6:.1f} MB, {result['quant']})")
    return 0
