"""Token sampling: min-p with temperature, and repetition control.

min-p (Nguyen et al., 2024) keeps the tokens whose probability is at least
``min_p`` times the top token's probability. The cut-off scales with the
model's confidence: a confident step keeps one or two tokens, an open one keeps
many, which suits creative writing better than a fixed top-p or top-k.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 0.8
    min_p: float = 0.1
    repetition_penalty: float = 1.1  # CTRL-style, over the last `repetition_window` tokens
    repetition_window: int = 64
    no_repeat_ngram: int = 0  # forbid repeating an n-gram of this size (0 = off)

    def __post_init__(self) -> None:
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0 (0 means greedy)")
        if not 0.0 <= self.min_p <= 1.0:
            raise ValueError("min_p must be in [0, 1]")
        if self.repetition_penalty < 1.0:
            raise ValueError("repetition_penalty must be >= 1")


def min_p_filter(probs: torch.Tensor, min_p: float) -> torch.Tensor:
    """Zero the probabilities below ``min_p * max(probs)`` and renormalize. probs: [vocab]."""
    if min_p <= 0.0:
        return probs
    threshold = min_p * probs.max()
    kept = torch.where(probs >= threshold, probs, torch.zeros_like(probs))
    return kept / kept.sum()


def apply_repetition_penalty(logits: torch.Tensor, recent: list[int], penalty: float) -> torch.Tensor:
    """Divide positive logits (multiply negative ones) of recently seen tokens by ``penalty``."""
    if penalty == 1.0 or not recent:
        return logits
    ids = torch.tensor(sorted(set(recent)), dtype=torch.long)
    picked = logits[ids]
    logits = logits.clone()
    logits[ids] = torch.where(picked > 0, picked / penalty, picked * penalty)
    return logits


def banned_ngram_tokens(history: list[int], n: int) -> set[int]:
    """Tokens that would complete an n-gram already present in ``history``."""
    if n <= 0 or len(history) < n:
        return set()
    prefix = tuple(history[-(n - 1) :]) if n > 1 else ()
    banned = set()
    for i in range(len(history) - n + 1):
        if tuple(history[i : i + n - 1]) == prefix:
            banned.add(history[i + n - 1])
    return banned


def next_token_distribution(logits: torch.Tensor, history: list[int], params: SamplingParams) -> torch.Tensor:
    """The distribution the sampler draws from, after every control. logits: [vocab] float."""
    logits = logits.float()
    logits = apply_repetition_penalty(logits, history[-params.repetition_window :], params.repetition_penalty)
    banned = banned_ngram_tokens(history, params.no_repeat_ngram)
    if banned:
        logits = logits.clone()
        logits[list(banned)] = float("-inf")
    if params.temperature == 0:
        probs = torch.zeros_like(logits)
        probs[int(torch.argmax(logits))] = 1.0
        return probs
    probs = torch.softmax(logits / params.temperature, dim=-1)
    return min_p_filter(probs, params.min_p)


def sample(
    logits: torch.Tensor,
    history: list[int],
    params: SamplingParams,
    generator: torch.Generator | None = None,
    forbidden: set[int] | None = None,
) -> int:
    """Draw one token id. ``forbidden`` ids (e.g. end-of-text before any output) are never drawn."""
    if forbidden:
        logits = logits.clone()
        logits[list(forbidden)] = float("-inf")
    probs = next_token_distribution(logits, history, params)
    if params.temperature == 0:
        return int(torch.argmax(probs))
    return int(torch.multinomial(probs, 1, generator=generator))
