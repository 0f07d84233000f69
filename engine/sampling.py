"""Token sampling: min-p with temperature, and repetition control.

min-p (Nguyen et al., 2024) keeps the tokens whose probability is at least
``min_p`` times the top token's probability. The cut-off scales with the
model's confidence: a confident step keeps one or two tokens, an open one keeps
many, which suits creative writing better than a fixed top-p or top-k.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

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


# ---------------------------------------------------------------- rules over the logits


class LogitsRule(Protocol):
    """A per-request rule over the next-token logits (a transformers ``LogitsProcessor`` in spirit,
    but run by our own loop, so it holds on eager and ExecuTorch programs alike)."""

    def adjust(self, logits: torch.Tensor, generated: list[int], text: str) -> torch.Tensor:
        """``logits`` [vocab] before sampling; ``generated`` the take's token ids so far and ``text``
        the take's text so far. Returns the logits to sample from (a copy when changed)."""


@dataclass(frozen=True, eq=False)
class CopyRule:
    """Rephrase's copy-aware rule: copying is the default, and what must stay cannot be lost.

    The edit-based rewriters that do not hallucinate (LaserTagger, FELIX, EdiT5) keep every source
    token unless an edit touches it; a 270M sampler gets the same default from three parts:

    - **must stay**: the take may not end (``end_ids``) while ``missing(text)`` names something of
      the source's it has not yet written: a name, a number or date, a negation;
    - **may not come in**: ``forbidden_ids`` (numerals, number words, months, negators the source
      does not hold) are never drawn; ``name_ids`` (capitalized word starts) are never drawn inside a
      sentence, and ``negator_ids`` once the take has as many negations as the source;
    - **keep close**: ``copy_bias`` nats go to the source token that continues the longest suffix of
      the take found in the source (up to 4 tokens), so a take that is copying a stretch tends to go
      on copying it, and a take that rewords drifts back to the source's words after the reworded span.

    A phrase repeated within the take is banned (``take_ngram``): the prompt-wide n-gram ban it
    replaces forbade copying any 4 tokens of the source, so a long name had to be mangled.
    """

    source_ids: tuple[int, ...]
    missing: Callable[[str], list[str]]  # what the take still lacks (empty: it may end)
    end_ids: frozenset[int]
    forbidden_ids: frozenset[int] = frozenset()
    name_ids: frozenset[int] = frozenset()  # capitalized word-initial tokens the source does not hold
    negator_ids: frozenset[int] = frozenset()
    negations_left: Callable[[str], int] = lambda text: 0  # the source's negations not yet in the take
    # Sentence ends may not be drawn while something is missing (the take must say it in the sentence,
    # not in a run-on after it); once ``finished(text)`` (as many sentences as the source), only an end.
    sentence_end_ids: frozenset[int] = frozenset()
    finished: Callable[[str], bool] = lambda text: False
    copy_bias: float = 1.0
    # Missing facts stop blocking the end after this many tokens (0: always block): a take that lost a
    # number early otherwise runs on inventing more (seen on held-out units); the guard flags it instead.
    hold_limit: int = 0
    max_copy_run: int = 0  # > 0: a copied run of this many source tokens must be broken (a rewrite,
    # not a copy), except by the source's free tokens (names, numbers, negators, punctuation)
    free_ids: frozenset[int] = frozenset()
    take_ngram: int = 3
    _next: dict = field(default_factory=dict, repr=False)  # (n-gram) -> source tokens that follow it

    def __post_init__(self) -> None:
        ids = self.source_ids
        for n in range(1, max(5, self.max_copy_run + 1)):
            for i in range(n, len(ids)):
                self._next.setdefault(tuple(ids[i - n : i]), set()).add(ids[i])
        object.__setattr__(self, "_forbidden", _index(self.forbidden_ids))
        object.__setattr__(self, "_names", _index(self.name_ids))
        object.__setattr__(self, "_negators", _index(self.negator_ids))
        object.__setattr__(self, "_ends", _index(self.end_ids))
        object.__setattr__(self, "_sentence_ends", _index(self.sentence_end_ids))

    def adjust(self, logits: torch.Tensor, generated: list[int], text: str) -> torch.Tensor:
        logits = logits.float().clone()
        vocab = logits.shape[-1]
        follow = [t for t in self.continuation(generated) if t < vocab]
        if self.copy_bias and follow:
            logits[follow] += self.copy_bias
        if self.max_copy_run and len(generated) >= self.max_copy_run:
            run = self._next.get(tuple(generated[-self.max_copy_run :]), set()) - self.free_ids
            if run:
                logits[[t for t in run if t < vocab]] = float("-inf")
        _forbid(logits, self._forbidden)
        if inside_sentence(text):
            _forbid(logits, self._names)
        if self.negations_left(text) <= 0:
            _forbid(logits, self._negators)
        if self.missing(text) and (not self.hold_limit or len(generated) < self.hold_limit):
            _forbid(logits, self._ends)
            copied = logits[follow]  # the source's own full stop ("Mr." in "Mr. Darcy") stays possible
            _forbid(logits, self._sentence_ends)
            logits[follow] = copied
        elif self.finished(text):
            ends = self._ends[self._ends < vocab]
            kept = logits[ends]
            logits.fill_(float("-inf"))
            logits[ends] = kept
            return logits
        banned = banned_ngram_tokens(generated, self.take_ngram)
        if banned:
            logits[[t for t in banned if t < vocab]] = float("-inf")
        return logits

    def continuation(self, generated: list[int]) -> set[int]:
        """The source tokens that follow the longest suffix of ``generated`` found in the source;
        the source's first token when nothing has been generated."""
        if not generated:
            return {self.source_ids[0]} if self.source_ids else set()
        for n in range(min(4, len(generated)), 0, -1):
            follow = self._next.get(tuple(generated[-n:]))
            if follow:
                return follow
        return set()


_SENTENCE_START = re.compile(r"(?:^|[.!?…:][\"'»”’)\]]*|[\"“«(])\s*$")


def inside_sentence(text: str) -> bool:
    """True when the next word would sit inside a sentence, where a capital means a name."""
    return not _SENTENCE_START.search(text)


def _index(ids: frozenset[int]) -> torch.Tensor:
    return torch.tensor(sorted(ids), dtype=torch.long)


def _forbid(logits: torch.Tensor, index: torch.Tensor) -> None:
    if index.numel():
        index = index[index < logits.shape[-1]]
        logits[index] = float("-inf")
