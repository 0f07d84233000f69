"""Several takes of one prompt decoded side by side in one batch (eager backend only).

    prompt --prefill once (batch 1)--> KV cache --repeat x n--> n rows decoded in lockstep

On a CPU a decode step is bound by reading the weights (the 262k-entry output layer alone is 168M
parameters on Gemma 3 270M), so a step over 3 rows costs little more than a step over one: best-of-3
costs about one sample plus a small overhead, where n sequential takes cost n decodes. Each row has
its own sampling parameters (min-p), seed, repetition history and stop; a finished row keeps being
fed a dummy token (cheaper than re-batching the cache) and its output is frozen.

The ExecuTorch programs take one sequence (a static [1, n] input), so on that backend the takes are
drawn one after the other instead, reusing the prompt's cached keys/values (engine/quality/best_of_n.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch
from transformers import DynamicCache

from engine.cancel import CancelToken
from engine.generation import _apply_stops
from engine.modes import GenerationParams
from engine.sampling import sample


def decode_rows(
    model,
    tokenizer,
    eos_ids: set[int],
    prompt_ids: list[int],
    params: list[GenerationParams],
    *,
    newline_ids: set[int] = frozenset(),
    on_piece: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
) -> list[tuple[str, float]]:
    """(text, seconds) per row of ``params``; row 0's pieces go to ``on_piece`` as they come."""
    n = len(params)
    started = time.perf_counter()
    generators = []
    for p in params:
        g = torch.Generator()
        g.manual_seed(p.seed if p.seed is not None else int(torch.randint(0, 2**62, ()).item()))
        generators.append(g)
    cache = DynamicCache()
    positions = torch.arange(len(prompt_ids))
    with torch.inference_mode():
        out = model(
            input_ids=torch.tensor([prompt_ids]), past_key_values=cache, cache_position=positions,
            position_ids=positions[None], use_cache=True, logits_to_keep=1,
        )
    cache = out.past_key_values
    cache.batch_repeat_interleave(n)
    logits = out.logits[0, -1].float().expand(n, -1)
    anchor = prompt_ids[-8:]
    anchor_text = tokenizer.decode(anchor, skip_special_tokens=True)
    generated: list[list[int]] = [[] for _ in range(n)]
    texts = [""] * n
    done_at: list[float | None] = [None] * n
    pos = len(prompt_ids)
    max_new = max(p.max_new_tokens for p in params)
    for step in range(max_new):
        if cancel is not None and cancel.cancelled:
            break
        tokens = []
        for row, p in enumerate(params):
            if done_at[row] is not None:
                tokens.append(tokens[0] if tokens else prompt_ids[-1])
                continue
            forbidden = None
            if step == 0:
                forbidden = set(eos_ids) | (set(newline_ids) if p.stop_at_newline else set())
            token = sample(logits[row], prompt_ids + generated[row], p.sampling, generators[row], forbidden)
            tokens.append(token)
            if token in eos_ids:
                done_at[row] = time.perf_counter() - started
                continue
            generated[row].append(token)
            text = tokenizer.decode(anchor + generated[row], skip_special_tokens=True)
            text = text[len(anchor_text) :] if text.startswith(anchor_text) else text
            if text.endswith("\ufffd"):
                continue
            text, stop = _apply_stops(text, p)
            if row == 0 and on_piece is not None and text.startswith(texts[0]) and len(text) > len(texts[0]):
                on_piece(text[len(texts[0]) :])
            texts[row] = text
            if stop or len(generated[row]) >= p.max_new_tokens:
                done_at[row] = time.perf_counter() - started
        if all(d is not None for d in done_at):
            break
        with torch.inference_mode():
            step_pos = torch.tensor([pos])
            out = model(
                input_ids=torch.tensor(tokens)[:, None], past_key_values=cache, cache_position=step_pos,
                position_ids=step_pos[None].expand(n, 1), use_cache=True, logits_to_keep=1,
            )
        cache = out.past_key_values
        logits = out.logits[:, -1].float()
        pos += 1
    total = time.perf_counter() - started
    return [(texts[row].strip(), done_at[row] if done_at[row] is not None else total) for row in range(n)]
