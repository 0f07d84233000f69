"""Per-token NLL of a text under the loaded language model: the input of ``ppl_cv`` and of perplexity.

One forward pass over BOS + text; the logits pass through the final soft-cap Gemma uses, so the
numbers match the model's own sampling distribution.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F


def token_nll(model, tokenizer, text: str, max_tokens: int = 512) -> list[float]:
    """NLL (nats) of each token of ``text`` given BOS and the tokens before it (at most ``max_tokens``)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"][:max_tokens]
    bos = getattr(tokenizer, "bos_token_id", None)
    ids = ([bos] if bos is not None else []) + ids
    if len(ids) < 2:
        return []
    input_ids = torch.tensor([ids])
    with torch.no_grad():
        logits = model(input_ids=input_ids).logits[0, :-1].float()  # [T-1, vocab]
    return F.cross_entropy(logits, input_ids[0, 1:], reduction="none").tolist()


def perplexity(nll: Sequence[float]) -> float | None:
    """exp(mean NLL); None for an empty text."""
    return math.exp(sum(nll) / len(nll)) if nll else None
