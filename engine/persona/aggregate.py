"""Persona vector: the user's paragraph embeddings summarised for one request.

PPlug's input-aware aggregation: the paragraphs most like the current context
count most. With unit vectors h_i and the context embedding q,

    s_i = cos(q, h_i) = q . h_i           (top-k of them kept)
    w   = softmax(s / temperature)
    p   = sum_i w_i h_i                   [dim]

The plain mean of all paragraphs is the baseline (``mean_persona``).
"""

from __future__ import annotations

import numpy as np
import torch

DEFAULT_TOP_K = 32
DEFAULT_TEMPERATURE = 0.1


def mean_persona(history: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Mean of the paragraph vectors [n, dim] -> [dim]."""
    history = torch.as_tensor(history, dtype=torch.float32)
    if history.shape[0] == 0:
        raise ValueError("no paragraphs to aggregate")
    return history.mean(dim=0)


def attention_persona(
    query: np.ndarray | torch.Tensor,
    history: np.ndarray | torch.Tensor,
    top_k: int = DEFAULT_TOP_K,
    temperature: float = DEFAULT_TEMPERATURE,
    exclude: torch.Tensor | None = None,
) -> torch.Tensor:
    """Input-aware persona vector(s).

    query: [dim] or [b, dim] context embeddings (unit vectors);
    history: [n, dim] paragraph embeddings (unit vectors);
    exclude: optional bool [b, n] (or [n]) mask of paragraphs not to use for that query
    (in training: the target paragraph itself).
    Returns [dim] or [b, dim].
    """
    q = torch.as_tensor(query, dtype=torch.float32)
    h = torch.as_tensor(history, dtype=torch.float32)
    if h.shape[0] == 0:
        raise ValueError("no paragraphs to aggregate")
    single = q.dim() == 1
    q = q[None] if single else q
    scores = q @ h.T  # [b, n] cosine similarities
    if exclude is not None:
        scores = scores.masked_fill(exclude if exclude.dim() == 2 else exclude[None], float("-inf"))
    k = min(top_k, h.shape[0])
    top_scores, top_idx = scores.topk(k, dim=-1)  # [b, k]
    weights = torch.softmax(top_scores / temperature, dim=-1)  # -inf (excluded) -> weight 0
    persona = torch.einsum("bk,bkd->bd", weights, h[top_idx])
    return persona[0] if single else persona
