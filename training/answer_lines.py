"""One answer line per few-shot prompt, generated in batches: shared by data builders and evals.

The engine streams one request at a time; building data or scoring a composition needs hundreds of
answers, so this batches them through Hugging Face ``generate`` (left padding) and stops at the end
of the first line, where the engine's line-answer modes (rephrase, dictation) stop too.
"""

from __future__ import annotations

from collections.abc import Callable

import torch


def line_stop_ids(tokenizer) -> list[int]:
    """EOS and the single-token encodings of a line or paragraph break."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    for newline in ("\n", "\n\n"):
        enc = tokenizer(newline, add_special_tokens=False)["input_ids"]
        if len(enc) == 1:
            ids.add(enc[0])
    return sorted(ids)


def first_line(text: str) -> str:
    return text.split("\n", 1)[0].strip()


@torch.no_grad()
def answer_lines(
    loaded,
    prompt_texts: list[str],
    *,
    batch_size: int,
    max_new_tokens: int,
    samples: int = 1,
    progress: Callable[[int, int], None] | None = None,
    **generate_kwargs,
) -> list[list[str]]:
    """``samples`` first lines per prompt. ``generate_kwargs``: sampling settings for ``generate``."""
    tok, model = loaded.tokenizer, loaded.model
    tok.padding_side = "left"
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    stops = line_stop_ids(tok)
    out: list[list[str]] = []
    for i in range(0, len(prompt_texts), batch_size):
        enc = tok(prompt_texts[i : i + batch_size], return_tensors="pt", padding=True)
        gen = model.generate(
            **enc,
            max_new_tokens=max_new_tokens,
            num_return_sequences=samples,
            eos_token_id=stops,
            pad_token_id=pad,
            **generate_kwargs,
        )
        lines = [first_line(tok.decode(row, skip_special_tokens=True)) for row in gen[:, enc["input_ids"].shape[1] :]]
        out.extend(lines[j : j + samples] for j in range(0, len(lines), samples))
        if progress:
            progress(len(out), len(prompt_texts))
    return out
