"""A small content-light style encoder: sentence -> unit vector that is close for the same writer.

    from engine.quality.style_encoder import StyleEncoder
    enc = StyleEncoder.load()            # the "style_encoder" artifact, sha256-checked via the manifest
    enc.encode(["It is a truth universally acknowledged ...", ...])   # [n, 128], unit rows

Input per sentence: the frozen MiniLM embedding (384) and stylometric features (``stylometric``:
relative frequencies of English function words and punctuation, word and sentence length), through
a two-layer head trained contrastively (training/recipes/style_encoder.py): positives are other
sentences of the same writer, the hardest negatives are other writers' sentences on the same
content (nearest by content words). The seed paper's StyleDistance model cannot be had offline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

ARTIFACT = "style_encoder"
EMBED_DIM = 384
# Closed-class English words: what a writer uses without thinking, whatever the topic (Mosteller &
# Wallace; Burrows). Pronouns are included: person and address are part of a voice.
FUNCTION_WORDS = tuple(
    """a about above after again against all also although am an and any are as at be because been
    before being below between both but by can could did do does doing down during each either
    enough even ever every few for from further had has have having he her here hers him his how
    however i if in indeed into is it its itself just least less may me might more most much must
    my neither no nor not now of off often on once only or other ought our out over own perhaps
    rather same shall she should since so some such than that the their them then there therefore
    these they this those though through thus to too under until up upon us very was we were what
    when where whether which while who whom whose why will with within without would yet you your""".split()
)
PUNCTUATION = tuple(".,;:!?-—–()\"'’“”…")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)
N_FEATURES = len(FUNCTION_WORDS) + len(PUNCTUATION) + 3
_INDEX = {w: i for i, w in enumerate(FUNCTION_WORDS)}


def stylometric(sentence: str) -> np.ndarray:
    """[N_FEATURES]: function-word and punctuation rates, mean word length, log length, capitals rate."""
    words = [w.lower() for w in _WORD.findall(sentence)]
    n_words, n_chars = max(1, len(words)), max(1, len(sentence))
    out = np.zeros(N_FEATURES, dtype=np.float32)
    for w in words:
        if w in _INDEX:
            out[_INDEX[w]] += 1.0 / n_words
    base = len(FUNCTION_WORDS)
    for j, mark in enumerate(PUNCTUATION):
        out[base + j] = 10.0 * sentence.count(mark) / n_chars
    base += len(PUNCTUATION)
    out[base] = np.mean([len(w) for w in words]) / 10.0 if words else 0.0
    out[base + 1] = np.log1p(len(words)) / 4.0
    out[base + 2] = sum(ch.isupper() for ch in sentence) / n_chars * 10.0
    return out


class StyleHead(nn.Module):
    """[MiniLM; stylometric] -> unit style vector."""

    def __init__(self, n_features: int = N_FEATURES, hidden: int = 256, out_dim: int = 128) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(EMBED_DIM + n_features, hidden), nn.GELU(), nn.Dropout(0.1), nn.Linear(hidden, out_dim)
        )

    def forward(self, embeddings: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        return nn.functional.normalize(self.net(torch.cat([embeddings, features], dim=-1)), dim=-1)


def inputs(sentences: Sequence[str], encoder) -> tuple[torch.Tensor, torch.Tensor]:
    """(MiniLM embeddings [n, 384], stylometric features [n, F]) as float32 tensors."""
    embeddings = np.asarray(encoder.encode(list(sentences)), dtype=np.float32)
    features = np.stack([stylometric(s) for s in sentences]) if sentences else np.zeros((0, N_FEATURES))
    return torch.from_numpy(embeddings), torch.from_numpy(features.astype(np.float32))


class StyleEncoder:
    def __init__(self, head: StyleHead, encoder=None) -> None:
        self.head = head.eval()
        self.encoder = encoder

    @classmethod
    def load(cls, name: str = ARTIFACT, root: Path | None = None, encoder=None) -> StyleEncoder:
        from engine.manifest import artifact

        return cls.from_folder(artifact(name, root).folder, encoder)

    @classmethod
    def from_folder(cls, folder: Path, encoder=None) -> StyleEncoder:
        from safetensors.torch import load_file

        meta = json.loads((Path(folder) / "style_head.json").read_text())
        head = StyleHead(meta["n_features"], meta["hidden"], meta["out_dim"])
        head.load_state_dict(load_file(str(Path(folder) / "style_head.safetensors")))
        return cls(head, encoder)

    @torch.no_grad()
    def encode(self, sentences: Sequence[str]) -> np.ndarray:
        if not sentences:
            return np.zeros((0, self.head.net[-1].out_features), dtype=np.float32)
        if self.encoder is None:
            from engine.persona.encoder import default_encoder

            self.encoder = default_encoder()
        return self.head(*inputs(sentences, self.encoder)).numpy()


def save_head(head: StyleHead, folder: Path) -> list[Path]:
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    first, last = head.net[0], head.net[-1]
    meta = {"n_features": first.in_features - EMBED_DIM, "hidden": first.out_features, "out_dim": last.out_features}
    (folder / "style_head.json").write_text(json.dumps(meta) + "\n")
    save_file({k: v.contiguous() for k, v in head.state_dict().items()}, str(folder / "style_head.safetensors"))
    return [folder / "style_head.json", folder / "style_head.safetensors"]
