"""Persona conditioning: a persona vector becomes k soft tokens for the frozen LM.

    p [384] --(p - center) * in_scale--> Linear(384, inner) -> GELU -> Linear(inner, k*hidden)
            --> soft = base + out_scale * mlp(p)          [k, hidden]

The soft tokens live in the space of ``model.get_input_embeddings()(ids)``:
for Gemma that is *after* its sqrt(hidden) scaling, so they are fed with
``inputs_embeds`` as is. The generator places them right after BOS.
``base`` is a persona-independent prefix (initialised from real token
embeddings); the persona-specific part starts at zero, so an untrained
projector only adds a fixed prefix.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

WEIGHTS_FILE = "projector.safetensors"
CONFIG_FILE = "projector.json"


@dataclass
class PersonaContext:
    """What the engine needs to condition one request on the user's style."""

    soft_tokens: torch.Tensor  # [k, hidden], input-embedding space of the loaded model
    n_paragraphs: int = 0  # paragraphs in the style memory the vector was drawn from
    sources: list[str] = field(default_factory=list)  # documents of the most-weighted paragraphs


@dataclass
class ProjectorConfig:
    encoder: str = "all-MiniLM-L6-v2"
    encoder_dim: int = 384
    hidden_size: int = 640
    num_tokens: int = 4
    inner: int = 256
    aggregation: str = "attention"  # "attention" (PPlug, input-aware) or "mean"
    top_k: int = 32
    temperature: float = 0.1

    def to_json(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, raw: dict) -> ProjectorConfig:
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class PersonaProjector(nn.Module):
    def __init__(self, config: ProjectorConfig) -> None:
        super().__init__()
        self.config = config
        k, hidden = config.num_tokens, config.hidden_size
        self.mlp = nn.Sequential(
            nn.Linear(config.encoder_dim, config.inner),
            nn.GELU(),
            nn.Linear(config.inner, k * hidden),
        )
        nn.init.zeros_(self.mlp[2].weight)
        nn.init.zeros_(self.mlp[2].bias)
        self.base = nn.Parameter(torch.zeros(k, hidden))
        # Mean persona vector of the training data: MiniLM vectors share a large common part.
        self.register_buffer("center", torch.zeros(config.encoder_dim))
        # 1 / RMS norm of centred training personas: persona differences are small (~0.1) otherwise.
        self.register_buffer("in_scale", torch.ones(()))
        # RMS of the LM's real input embeddings, so the MLP works at unit scale.
        self.register_buffer("out_scale", torch.ones(()))

    def forward(self, persona: torch.Tensor) -> torch.Tensor:
        """[dim] -> [k, hidden]; [b, dim] -> [b, k, hidden]."""
        single = persona.dim() == 1
        x = persona[None] if single else persona
        delta = self.mlp((x - self.center) * self.in_scale).view(
            x.shape[0], self.config.num_tokens, self.config.hidden_size
        )
        soft = self.base + self.out_scale * delta
        return soft[0] if single else soft

    @torch.no_grad()
    def init_from_embeddings(
        self, token_embeds: torch.Tensor, center: torch.Tensor, in_scale: float = 1.0
    ) -> None:
        """Start ``base`` at real token embeddings [k, hidden] (post-scaling) and set the scales."""
        self.base.copy_(token_embeds[: self.config.num_tokens])
        self.out_scale.fill_(float(token_embeds.pow(2).mean().sqrt()))
        self.center.copy_(center)
        self.in_scale.fill_(in_scale)

    def save(self, folder: Path) -> list[Path]:
        from safetensors.torch import save_file

        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / WEIGHTS_FILE
        save_file({k: v.detach().contiguous() for k, v in self.state_dict().items()}, str(weights))
        os.chmod(weights, 0o644)  # a shipped asset, readable by all (safetensors writes it 0600)
        config = folder / CONFIG_FILE
        config.write_text(json.dumps(self.config.to_json(), indent=2) + "\n")
        return [weights, config]

    @classmethod
    def load(cls, folder: Path) -> PersonaProjector:
        from safetensors.torch import load_file

        config = ProjectorConfig.from_json(json.loads((folder / CONFIG_FILE).read_text()))
        projector = cls(config)
        projector.load_state_dict(load_file(str(folder / WEIGHTS_FILE)))
        projector.eval()
        projector.requires_grad_(False)
        return projector
