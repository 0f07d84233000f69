"""Personas for training and evaluating the persona projector, from real offline text.

A persona is a body of writing by one author on one subject: each Austen novel,
Moby Dick, and the Reuters news set. Each persona's paragraphs are split
contiguously: the first 85% are its *history* (what the style memory would
hold), the last 15% are *held-out* paragraphs whose continuation the LM must
predict. Two personas are never trained on (UNSEEN).

    corpora (austen, moby_dick, reuters) -> Persona(name, author, history, heldout)
    embed_texts(texts) -> MiniLM vectors, cached under cache_dir()/persona_training/
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import paths

MIN_WORDS = 25  # shorter paragraphs (dialogue lines, headings) carry too little to predict
PREFIX_WORDS = 12  # the context the user has typed: its embedding is the aggregation query
HISTORY_FRACTION = 0.85
MAX_PARAGRAPHS = 1200  # per persona, to bound embedding time on one core

SEEN = (
    "Austen: Emma",
    "Austen: Mansfield Park",
    "Austen: Pride and Prejudice",
    "Austen: Sense and Sensibility",
    "Austen: Northanger Abbey",
    "Melville: Moby Dick",
)
# Persuasion: an unseen novel of a seen author. Reuters: an author and genre never seen in training.
UNSEEN = ("Austen: Persuasion", "Reuters: news")
SEEN_CORPORA = ("austen", "moby_dick")  # the corpora the SEEN personas come from (manifest sources)


@dataclass
class Persona:
    name: str
    author: str
    history: list[str]
    heldout: list[str]


def build_personas() -> dict[str, Persona]:
    from training.data.corpora import load_corpus

    raw: dict[str, tuple[str, list[str]]] = {}
    for title, paras in load_corpus("austen").items():
        raw[f"Austen: {title}"] = ("Austen", paras)
    for title, paras in load_corpus("moby_dick").items():
        raw[f"Melville: {title}"] = ("Melville", paras)
    raw["Reuters: news"] = ("Reuters", [p for paras in load_corpus("reuters").values() for p in paras])
    personas = {}
    for name, (author, paras) in raw.items():
        kept = [p for p in paras if len(p.split()) >= MIN_WORDS]
        if len(kept) > MAX_PARAGRAPHS:  # thin evenly, keeping the book's order
            step = len(kept) / MAX_PARAGRAPHS
            kept = [kept[int(i * step)] for i in range(MAX_PARAGRAPHS)]
        cut = int(len(kept) * HISTORY_FRACTION)
        personas[name] = Persona(name, author, kept[:cut], kept[cut:])
    return personas


def split_prefix(paragraph: str, words: int = PREFIX_WORDS) -> tuple[str, str]:
    """(typed context, continuation to predict): the first ``words`` words and the rest."""
    parts = paragraph.split()
    return " ".join(parts[:words]), " " + " ".join(parts[words:])


def _cache_dir() -> Path:
    path = paths.cache_dir() / "persona_training"
    path.mkdir(parents=True, exist_ok=True)
    return path


def embed_texts(texts: Sequence[str], encoder=None) -> np.ndarray:
    """MiniLM vectors of ``texts`` [n, 384], cached on disk by the texts' hash."""
    from engine.persona.encoder import default_encoder

    encoder = encoder or default_encoder()
    digest = hashlib.sha256(("\x00".join(texts) + encoder.name).encode()).hexdigest()[:20]
    cache = _cache_dir() / f"emb-{digest}.npy"
    if cache.exists():
        return np.load(cache)
    vectors = encoder.encode(list(texts), batch_size=64)
    np.save(cache, vectors)
    return vectors
