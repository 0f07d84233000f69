"""Checks of a backend against the eager reference: greedy tokens and perplexity, through the Backend protocol."""

from __future__ import annotations

import math

import torch

from engine.backends.base import Backend


def greedy_tokens(backend: Backend, prompt_ids: list[int], n: int) -> list[int]:
    """``n`` greedy tokens after ``prompt_ids`` (prefill in one call, then one token per call)."""
    backend.reset()
    logits = backend.forward_tokens(list(prompt_ids), 0)
    pos, out = len(prompt_ids), []
    for _ in range(n):
        token = int(torch.argmax(logits))
        out.append(token)
        logits = backend.forward_tokens([token], pos)
        pos += 1
    return out


def perplexity(backend: Backend, ids: list[int], prefix: int = 1) -> float:
    """exp(mean NLL) of ids[prefix:], teacher-forced one position at a time (backends return last logits only)."""
    backend.reset()
    logits = backend.forward_tokens(list(ids[:prefix]), 0)
    nll = 0.0
    for pos in range(prefix, len(ids)):
        nll -= float(torch.log_softmax(logits.float(), dim=-1)[ids[pos]])
        if pos + 1 < len(ids):
            logits = backend.forward_tokens([ids[pos]], pos)
    return math.exp(nll / (len(ids) - prefix))
