"""The contract every inference backend fulfils.

A backend owns one KV cache and knows nothing of prompts, sampling or modes:
it runs the model over a span of positions and returns the last position's
logits. The generator (engine/generation.py) decides what to feed, reuses the
cached prefix, and samples.
"""

from __future__ import annotations

from typing import Protocol

import torch


class Backend(Protocol):
    name: str
    vocab_size: int
    hidden_size: int
    max_positions: int  # the longest sequence the cache can hold
    # Optional: a backend with ``max_logits_rows >= 2`` accepts ``forward_tokens(..., rows=k)`` and
    # returns the logits of the last k positions [k, vocab] (speculative token healing uses 2).

    def forward_tokens(self, token_ids: list[int], start_pos: int) -> torch.Tensor:
        """Run ``token_ids`` at positions ``start_pos…``; cache them; return last logits [vocab] (fp32)."""

    def forward_embeds(self, embeds: torch.Tensor, start_pos: int) -> torch.Tensor:
        """Same for input embeddings [n, hidden] (persona soft tokens, audio frames)."""

    def embed_tokens(self, token_ids: list[int]) -> torch.Tensor:
        """The input embeddings of ``token_ids`` [n, hidden], in the space forward_embeds takes."""

    def truncate(self, length: int) -> None:
        """Forget cached positions ``length…`` (positions before stay valid)."""

    def reset(self) -> None:
        """Forget the whole cache."""
