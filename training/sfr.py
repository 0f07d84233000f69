"""Semantic Flow Regularization (SFR): a training-only flow-matching head on the LM's hidden state.

Seed: "Breaking the Chains of Cross-Style Collapse". Besides cross-entropy, the LM's state before a
continuation must carry enough of the continuation's *meaning* for a small head to transport noise
to the continuation's sentence embedding (rectified flow / flow matching):

    x1 = √384 · MiniLM(target continuation)  [B, 384]      x0 ~ N(0, I)      t ~ U(0, 1)
    x_t = (1 - t) x0 + t x1                                 v* = x1 - x0
    L_sfr = mean_b || v(x_t, t, h_b) - v* ||^2 / 384  (per-dimension mean squared error)
    L = L_ce + weight * L_sfr

h is the final hidden state at the last prompt position (the one that predicts the first completion
token), see ``prefix_state``. x1 is the unit MiniLM vector scaled by √D, so that, like x0, it has
variance ~1 per dimension (diffusion models normalise their data the same way): unscaled, the part
of the velocity that depends on x1, the only part h can help predict, would be ~1/D = 0.3% of its
variance, and the head could learn SFR's loss down to that floor without ever reading h.

The head is dropped after training: the adapter saved by the recipe holds only peft's files, so
inference and deployment cost nothing extra.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from training.loss import CompletionLM

EMB_DIM = 384  # all-MiniLM-L6-v2 (engine.persona.encoder.MiniLMEncoder)
TIME_DIM = 32  # sinusoidal features of t


def time_embedding(t: torch.Tensor, dim: int = TIME_DIM) -> torch.Tensor:
    """[B] in [0, 1] -> [B, dim] sin/cos features at geometric frequencies 1 .. 1000 (as in diffusion)."""
    half = dim // 2
    freqs = torch.exp(torch.linspace(0.0, math.log(1000.0), half, device=t.device))
    angles = t.float()[:, None] * freqs[None, :]
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class FlowHead(nn.Module):
    """v(x_t, t, h): an MLP on [x_t, time features, LayerNorm(h)] -> velocity [B, emb_dim].

    h goes through a LayerNorm so that the head's input scale does not depend on the base model's
    hidden-state scale (x_t and the time features are order 1).
    """

    def __init__(self, hidden: int, emb_dim: int = EMB_DIM, width: int = 512) -> None:
        super().__init__()
        self.emb_dim = emb_dim
        self.norm = nn.LayerNorm(hidden)
        self.mlp = nn.Sequential(
            nn.Linear(emb_dim + TIME_DIM + hidden, width),
            nn.SiLU(),
            nn.Linear(width, width),
            nn.SiLU(),
            nn.Linear(width, emb_dim),
        )

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        features = torch.cat([x_t, time_embedding(t), self.norm(h.float())], dim=-1)
        return self.mlp(features)


def flow_matching_loss(
    head: FlowHead, h: torch.Tensor, x1: torch.Tensor, t: torch.Tensor, x0: torch.Tensor
) -> torch.Tensor:
    """The SFR loss for given t [B] and noise x0 [B, D]: mean over batch and dims of (v - (x1 - x0))^2."""
    x1 = x1.float()
    x_t = (1.0 - t)[:, None] * x0 + t[:, None] * x1
    return ((head(x_t, t, h) - (x1 - x0)) ** 2).mean()


def sfr_loss(
    head: FlowHead, h: torch.Tensor, x1: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """The SFR loss for unit targets ``x1`` [B, D] (scaled here by √D) with t ~ U(0, 1) and
    x0 ~ N(0, I) drawn from ``generator`` (one draw per example)."""
    batch, dim = x1.shape
    x1 = x1.float() * math.sqrt(dim)
    # Drawn on the CPU (where the generator lives), then moved: the same draws on any device.
    t = torch.rand(batch, generator=generator).to(x1.device)
    x0 = torch.randn(batch, dim, generator=generator).to(x1.device)
    return flow_matching_loss(head, h, x1, t, x0)


def prefix_state(hidden: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """[B, T, H] final hidden states -> [B, H] at the last prompt position of each row.

    Why this position: it is the state the model has when it starts writing the continuation, and it
    has seen none of the continuation's tokens. A mean over the continuation's own positions would let
    the head read the target (teacher forcing feeds those tokens in) instead of asking the LM to plan
    it; a mean over the whole prompt would be dominated by the context passage, not the next paragraph.
    """
    first_label = (labels != -100).int().argmax(dim=1)  # index of the first completion token
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, first_label - 1]


class SfrCompletionLM(CompletionLM):
    """CompletionLM whose loss adds ``weight`` times the SFR loss; the head trains with the adapter.

    The head is a submodule of this wrapper (so the Trainer's optimiser updates it) but not of the
    peft model, so ``training.lora.save_adapter`` never writes it.
    """

    def __init__(self, peft_model, head: FlowHead, weight: float, seed: int = 0) -> None:
        super().__init__(peft_model)
        self.sfr_head = head
        self.weight = weight
        self.generator = torch.Generator().manual_seed(seed)  # t and x0, apart from torch's global RNG
        self._sums = {"ce_loss": 0.0, "sfr_loss": 0.0, "n": 0}

    def forward(self, input_ids, attention_mask, labels, soft_tokens=None, sfr_target=None):
        hidden, labels = self.hidden_states(input_ids, attention_mask, labels, soft_tokens)
        out = self.completion_loss(hidden, labels)
        if sfr_target is not None and self.training:
            sfr = sfr_loss(self.sfr_head, prefix_state(hidden, labels), sfr_target, self.generator)
            self._sums["ce_loss"] += float(out["loss"].detach())
            self._sums["sfr_loss"] += float(sfr.detach())
            self._sums["n"] += 1
            out["loss"] = out["loss"] + self.weight * sfr
        return out

    def drain_log(self) -> dict[str, float]:
        """Mean CE and SFR losses of the training forwards since the last call (for the recipe's log)."""
        n = self._sums.pop("n")
        means = {f"sfr/{k}": round(v / n, 4) for k, v in self._sums.items()} if n else {}
        self._sums = {"ce_loss": 0.0, "sfr_loss": 0.0, "n": 0}
        return means
