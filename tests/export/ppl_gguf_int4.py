"""Eager perplexity of the GGUF-INT4 split on the real model, on the bench's 2,555 tokens (no program needed).

    .venv/bin/python tests/export/ppl_gguf_int4.py [--model gemma3-270m] [--variants fp32,split,split-bf16]

Variants (each a fresh copy of the model; one thread):
  fp32        the converted GGUF (our reference)
  split       every GGUF 4-bit linear as int4 + block offset, activations fp32: must equal fp32
  split-bf16  the same with the group scales rounded to bf16, as XNNPACK stores them: the bf16 cost
  q4k         the blocks of the 8da4w-q4k program in eager torchao (int8 activations; output layer fp32)
  int8        the blocks of the 8da8w-enru program in eager torchao (output layer fp32: both programs
              quantize it the same way, and HQQ on its 168M weights takes minutes)
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def chunks(tok) -> list[list[int]]:
    from tests.bench.bench_backends import held_out_text, perplexity_chunks

    _, first, more, _ = held_out_text()
    return perplexity_chunks(tok, first, more, 512, 5)


@torch.no_grad()
def perplexity(model, ppl_chunks) -> float:
    nll, n = 0.0, 0
    for ids in ppl_chunks:
        t = torch.tensor([ids])
        logits = model(input_ids=t).logits[0].float()
        nll += float(torch.nn.functional.cross_entropy(logits[:-1], t[0, 1:], reduction="sum"))
        n += len(ids) - 1
    return math.exp(nll / n)


def main() -> None:
    from engine.export.config import PRESETS
    from engine.export.gguf_int4 import Int4Blocks, read_int4_blocks, source_gguf
    from engine.export.quantize import quantize_lm, use_int4_blocks
    from engine.models import load_model

    p = argparse.ArgumentParser()
    p.add_argument("--model", default="gemma3-270m")
    p.add_argument("--variants", default="fp32,split,split-bf16")
    args = p.parse_args()
    torch.set_num_threads(1)
    loaded = load_model(args.model)
    data = chunks(loaded.tokenizer)
    gguf_path, _ = source_gguf(loaded.info.folder)
    blocks = read_int4_blocks(gguf_path, loaded.model)
    head = loaded.model.get_output_embeddings()
    blocks = {k: v for k, v in blocks.items() if dict(loaded.model.named_modules())[k] is not head}
    n_w = sum(b.qdata.numel() for b in blocks.values())
    print(
        f"{len(blocks)} linears from 4-bit blocks ({n_w / 1e6:.1f}M weights); {sum(len(c) - 1 for c in data)} tokens"
    )
    for variant in args.variants.split(","):
        t0, load0 = time.time(), os.getloadavg()[0]
        model = copy.deepcopy(loaded.model)
        if variant in ("split", "split-bf16"):
            use = blocks
            if variant == "split-bf16":
                use = {
                    k: Int4Blocks(b.qdata, b.scale.bfloat16().float(), b.offset) for k, b in blocks.items()
                }
            use_int4_blocks(model, use, activation_quantization=False)
        elif variant == "q4k":
            quantize_lm(model, replace(PRESETS["8da4w-q4k"], lm_head="fp32"), blocks)
        elif variant == "int8":
            quantize_lm(model, replace(PRESETS["8da8w-enru"], lm_head="fp32"))
        ppl = perplexity(model, data)
        print(f"{variant:<12} ppl {ppl:.3f}   ({time.time() - t0:.0f} s, load {load0:.1f})", flush=True)
        del model


if __name__ == "__main__":
    main()
