"""The Writing Quality Reward Model (WQRM): text -> one score, higher = better writing.

    from engine.quality.wqrm import WQRM
    rm = WQRM.load()                        # the "wqrm" artifact, sha256-checked via the manifest
    rm.score(["A human paragraph ...", "A padded copy ..."])   # [0.83, -0.41]; None = not English

Score = sum_i alpha_i * S_i with alpha = softmax(learned logits) (sum 1):
  S_0      a small MLP over [MiniLM(text) (384-d); the standardized metric features]
  S_1..m   each reference-free metric of ``FEATURES``, standardized with the training mean/std
           and signed by its registry direction (so larger S_i always means "better")
Scores are comparable between texts (rank candidates with them), not calibrated probabilities;
``sigmoid(beta * (score_a - score_b))`` is the trained P(a is better than b).

Non-English text (``selection_check.language_of``, the Rephrase dialog's own check) and texts under ``MIN_WORDS`` words get None:
the model saw neither, so a number would mislead. Trained by ``training/recipes/wqrm.py``.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.quality.metrics import BY_NAME, QualityContext, score_texts
from engine.quality.metrics_text import words_of
from engine.quality.selection_check import language_of

ARTIFACT = "wqrm"
MIN_WORDS = 8
# Reference-free, corpus-free, LM-free metrics: what a candidate alone allows, in milliseconds.
FEATURES = (
    "mtld",
    "generic_phrase_rate",
    "ngram_novelty",
    "lzma_ratio",
    "semantic_continuity",
    "entity_diversity",
    "entity_consistency",
    "parse_depth",
    "parse_branching",
    "w1_repetition_emphasis",
    "w2_word_length",
    "pos_richness",
)
EMBED_DIM = 384


class WQRMHead(nn.Module):
    """The trainable part: S_0 = MLP([embedding; z]) and the mixture alpha = softmax(logits)."""

    def __init__(self, n_features: int = len(FEATURES), hidden: int = 64, embed_dim: int = EMBED_DIM) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(embed_dim + n_features, hidden), nn.GELU(), nn.Dropout(0.1), nn.Linear(hidden, 1)
        )
        self.alpha_logits = nn.Parameter(torch.zeros(n_features + 1))
        self.log_beta = nn.Parameter(torch.zeros(()))  # BT temperature: P(a > b) = sigmoid(beta * diff)
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.register_buffer("sign", torch.ones(n_features))

    def standardize(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw metric values [B, m] (NaN = undefined for this text) -> z-scores, NaN -> 0 (the mean)."""
        z = (raw - self.mean) / self.std
        return torch.nan_to_num(z, nan=0.0).clamp(-5.0, 5.0)

    def components(self, embeddings: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        """[B, 1 + m]: the neural score S_0 then the signed standardized metrics S_1..m."""
        z = self.standardize(raw)
        neural = self.mlp(torch.cat([embeddings, z], dim=1))
        return torch.cat([neural, z * self.sign], dim=1)

    def alpha(self) -> torch.Tensor:
        return torch.softmax(self.alpha_logits, dim=0)

    def forward(self, embeddings: torch.Tensor, raw: torch.Tensor) -> torch.Tensor:
        return self.components(embeddings, raw) @ self.alpha()


def feature_matrix(texts: Sequence[str], phrase_weights: dict[str, float] | None = None, encoder=None) -> np.ndarray:
    """Raw FEATURES values [len(texts), m] (NaN where a metric is undefined for a text)."""
    contexts = [QualityContext(phrase_weights=phrase_weights) for _ in texts]
    rows = score_texts(texts, contexts, names=FEATURES, encoder=encoder)
    return np.array([[row.get(name, math.nan) for name in FEATURES] for row in rows], dtype=np.float32)


def feature_signs() -> list[float]:
    return [1.0 if BY_NAME[name].higher_is_better else -1.0 for name in FEATURES]


class WQRM:
    """A loaded reward model; ``score`` is thread-safe and batched."""

    def __init__(self, head: WQRMHead, phrase_weights: dict[str, float], meta: dict, encoder=None) -> None:
        self.head = head.eval().requires_grad_(False)  # inference only: no autograd graph per score
        self.phrase_weights = phrase_weights
        self.meta = meta  # the artifact's metrics and settings, for display
        self._encoder = encoder
        self._lock = threading.Lock()

    @classmethod
    def load(cls, name: str = ARTIFACT, root: Path | None = None, encoder=None) -> WQRM:
        """Load the artifact through the manifest (ArtifactError if missing or altered)."""
        from engine import manifest

        art = manifest.artifact(name, root=root)
        return cls.from_folder(art.folder, meta={"metrics": art.metrics, "created": art.created}, encoder=encoder)

    @classmethod
    def from_folder(cls, folder: Path, meta: dict | None = None, encoder=None) -> WQRM:
        from safetensors.torch import load_file

        config = json.loads((folder / "wqrm.json").read_text())
        if tuple(config["features"]) != FEATURES:
            raise ValueError(f"{folder}: trained on features {config['features']}, this engine has {FEATURES}")
        head = WQRMHead(len(FEATURES), int(config["hidden"]))
        head.load_state_dict(load_file(folder / "wqrm.safetensors"))
        weights = json.loads((folder / "phrase_weights.json").read_text())
        return cls(head, weights, {**(meta or {}), "config": config}, encoder)

    def _encoder_or_default(self):
        from engine.persona.encoder import default_encoder

        return self._encoder or default_encoder()

    @staticmethod
    def meaningful(text: str) -> bool:
        """Whether a score for this text means anything: English and at least MIN_WORDS words."""
        return len(words_of(text)) >= MIN_WORDS and language_of(text) == "en"

    def score(self, texts: Sequence[str]) -> list[float | None]:
        """One score per text (higher = better), None where the text is not meaningful to score."""
        keep = [i for i, t in enumerate(texts) if self.meaningful(t)]
        out: list[float | None] = [None] * len(texts)
        if not keep:
            return out
        chosen = [texts[i] for i in keep]
        encoder = self._encoder_or_default()
        with self._lock:
            raw = torch.from_numpy(feature_matrix(chosen, self.phrase_weights, encoder))
            emb = torch.from_numpy(encoder.encode(chosen))
            with torch.no_grad():
                scores = self.head(emb, raw).tolist()
        for i, s in zip(keep, scores, strict=True):
            out[i] = float(s)
        return out

    def prefer_probability(self, a: str, b: str) -> float | None:
        """The model's P(a is better writing than b); None if either is not meaningful."""
        sa, sb = self.score([a, b])
        if sa is None or sb is None:
            return None
        return float(torch.sigmoid(self.head.log_beta.exp() * (sa - sb)))
