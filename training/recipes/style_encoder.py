"""Contrastive training of the style encoder (engine/quality/style_encoder.py) on the training writers.

    python -m training.recipes.style_encoder --config training/configs/style_encoder.yaml train.max_steps=100

Top to bottom: config -> sentences of each training writer (English, 'train' part) -> frozen MiniLM
embeddings + stylometric features, once -> for every sentence, the other writers' sentence nearest
in content (TF-IDF over content words: function words removed) -> batches of anchors, each with a
same-writer positive and that content-matched hard negative -> supervised contrastive loss
(writer = label) on a small head -> held-out writers (training/data/corpora.py HELD_OUT, English):
same-writer retrieval and content-controlled triplets, against plain MiniLM and the raw features
-> ship only if it beats MiniLM on both, else the head stays in the run folder and MiniLM is used.
"""

from __future__ import annotations

import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from training.config import OutputConfig, RecipeConfig, TrainConfig, option, section
from training.recipe import Recipe

RECIPE = "training/recipes/style_encoder.py"
Encode = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True, kw_only=True)
class StyleEncData:
    writers: list[str] = option(
        [
            "austen",
            "moby_dick",
            "reuters",
            "shakespeare",
            "jargon_file",
            "perl_docs",
            "debian_reference",
            "dhammapada",
        ],
        help="training writers (English)",
    )
    sentences_per_writer: int = option(300, help="training sentences drawn from each writer")
    eval_sentences_per_writer: int = option(150, help="held-out writers' sentences scored")
    min_words: int = option(6, help="shortest sentence kept")
    max_words: int = option(60, help="longest sentence kept")
    seed: int = option(0, help="seed of the sentence sampling")


@dataclass(frozen=True, kw_only=True)
class StyleEncTrain(TrainConfig):
    temperature: float = option(0.1, help="temperature of the supervised contrastive loss")
    hidden: int = option(256, help="hidden width of the head")
    out_dim: int = option(128, help="size of the style vector")


@dataclass(frozen=True, kw_only=True)
class StyleEncoderConfig(RecipeConfig):
    data: StyleEncData = section(StyleEncData, "which writers' sentences")
    train: StyleEncTrain = section(StyleEncTrain, "optimisation")
    output: OutputConfig = section(OutputConfig, "the head and its manifest entry")


def writer_sentences(
    names: Sequence[str], part: str | None, n: int, lo: int, hi: int, seed: int
) -> dict[str, list[str]]:
    """Up to ``n`` sentences of ``lo``..``hi`` words per writer (part None: the whole text, held-out writers)."""
    from training.data.corpora import load_corpus
    from training.data.tasks import corpus_part, sentences

    rng, out = random.Random(seed), {}
    for name in names:
        books = corpus_part([name], part)[name] if part else load_corpus(name)
        pool = [s for ps in books.values() for p in ps for s in sentences(p) if lo <= len(s.split()) <= hi]
        out[name] = rng.sample(pool, min(n, len(pool)))
    return out


def content_neighbours(texts: list[str], labels: np.ndarray) -> np.ndarray:
    """For each text, the index of the other-writer text nearest in content words (TF-IDF cosine)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from engine.quality.style_encoder import FUNCTION_WORDS

    tfidf = TfidfVectorizer(stop_words=list(FUNCTION_WORDS), sublinear_tf=True).fit_transform(texts)
    sims = (tfidf @ tfidf.T).toarray()
    sims[labels[:, None] == labels[None, :]] = -1.0  # only other writers
    return sims.argmax(axis=1)


def supcon_loss(vectors: torch.Tensor, labels: torch.Tensor, temperature: float) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al., 2020) over unit rows."""
    logits = vectors @ vectors.T / temperature
    self_mask = torch.eye(len(vectors), dtype=torch.bool)
    logits = logits.masked_fill(self_mask, -1e9)
    positives = (labels[:, None] == labels[None, :]) & ~self_mask
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
    has = positives.any(dim=1)
    return -((log_prob * positives).sum(1)[has] / positives.sum(1)[has]).mean()


def retrieval_accuracy(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Share of sentences whose nearest other sentence is by the same writer."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return float(np.mean(labels[sims.argmax(axis=1)] == labels))


def triplet_accuracy(vectors: np.ndarray, labels: np.ndarray, negatives: np.ndarray, seed: int = 0) -> float:
    """Anchor vs (same writer, other content) and (other writer, same content): is the first closer?"""
    rng = np.random.default_rng(seed)
    wins = []
    for i, label in enumerate(labels):
        same = np.flatnonzero((labels == label) & (np.arange(len(labels)) != i))
        p = rng.choice(same)
        wins.append(vectors[i] @ vectors[p] > vectors[i] @ vectors[negatives[i]])
    return float(np.mean(wins))


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-8)


class StyleEncoderRecipe(Recipe):
    config_class = StyleEncoderConfig
    cfg: StyleEncoderConfig

    def setup(self) -> None:
        from engine.persona.encoder import default_encoder

        super().setup()
        self.encoder = default_encoder()

    def _tensors(self, by_writer: dict[str, list[str]]):
        from engine.quality.style_encoder import inputs

        texts = [s for ss in by_writer.values() for s in ss]
        labels = np.array([i for i, ss in enumerate(by_writer.values()) for _ in ss])
        emb, feats = inputs(texts, self.encoder)
        return texts, labels, emb, feats

    def data(self) -> None:
        from training.data.corpora import HELD_OUT, SOURCES

        d = self.cfg.data
        train = writer_sentences(d.writers, "train", d.sentences_per_writer, d.min_words, d.max_words, d.seed)
        heldout_names = [w for w in HELD_OUT if SOURCES[w].language == "en"]
        heldout = writer_sentences(
            heldout_names, None, d.eval_sentences_per_writer, d.min_words, d.max_words, d.seed
        )
        self.train_texts, self.train_labels, self.train_emb, self.train_feats = self._tensors(train)
        self.hard = content_neighbours(self.train_texts, self.train_labels)
        self.eval_texts, self.eval_labels, self.eval_emb, self.eval_feats = self._tensors(heldout)
        self.eval_negatives = content_neighbours(self.eval_texts, self.eval_labels)
        self.writers = {"train": list(train), "heldout": heldout_names}

    def model(self) -> None:
        from engine.quality.style_encoder import StyleHead

        t = self.cfg.train
        self.head = StyleHead(hidden=t.hidden, out_dim=t.out_dim)

    def train(self) -> None:
        t, rng = self.cfg.train, np.random.default_rng(self.cfg.train.seed)
        opt = torch.optim.AdamW(self.head.parameters(), lr=t.lr, weight_decay=0.01)
        by_label = {k: np.flatnonzero(self.train_labels == k) for k in np.unique(self.train_labels)}
        labels_t = torch.from_numpy(self.train_labels)
        self.head.train()
        self.losses = []
        for _ in tqdm(range(t.max_steps), desc="style encoder", unit="step"):
            anchors = rng.choice(len(self.train_labels), t.batch_size, replace=False)
            positives = [rng.choice(by_label[self.train_labels[a]]) for a in anchors]
            idx = torch.from_numpy(np.concatenate([anchors, positives, self.hard[anchors]]))
            vectors = self.head(self.train_emb[idx], self.train_feats[idx])
            loss = supcon_loss(vectors, labels_t[idx], t.temperature)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.head.parameters(), t.grad_clip)
            opt.step()
            self.losses.append(float(loss))
        self.head.eval()

    @torch.no_grad()
    def evaluate(self) -> dict:
        feats = self.eval_feats.numpy()
        z = (feats - self.train_feats.numpy().mean(0)) / (self.train_feats.numpy().std(0) + 1e-6)
        spaces = {
            "minilm": unit(self.eval_emb.numpy()),
            "stylometric": unit(z),
            "style_encoder": self.head(self.eval_emb, self.eval_feats).numpy(),
        }
        metrics = {
            f"{name}_{measure}": round(fn(v), 4)
            for name, v in spaces.items()
            for measure, fn in (
                ("retrieval", lambda v: retrieval_accuracy(v, self.eval_labels)),
                ("triplets", lambda v: triplet_accuracy(v, self.eval_labels, self.eval_negatives)),
            )
        }
        metrics.update(
            heldout_writers=self.writers["heldout"],
            heldout_sentences=len(self.eval_labels),
            chance_retrieval=round(float(np.mean(np.bincount(self.eval_labels) / len(self.eval_labels))), 4),
            loss_first=round(float(np.mean(self.losses[:10])), 4),
            loss_last=round(float(np.mean(self.losses[-10:])), 4),
            train_seconds=round(time.monotonic() - self.started),
        )
        metrics["beats_minilm"] = all(
            metrics[f"style_encoder_{m}"] > metrics[f"minilm_{m}"] for m in ("retrieval", "triplets")
        )
        return metrics

    def ship(self, metrics: dict) -> None:
        from engine.quality.style_encoder import save_head

        out = self.cfg.output
        ship = metrics["beats_minilm"] and out.register
        folder = out.path if ship else out.run_path / "head"
        files = save_head(self.head, folder)
        out.run_path.mkdir(parents=True, exist_ok=True)
        (out.run_path / "metrics.json").write_text(json.dumps(metrics, indent=2))
        if ship:
            self.register(files, metrics)
        print(json.dumps({"done": out.name, "shipped": ship, **metrics}), flush=True)

    def register(self, files, metrics: dict) -> None:
        from engine.manifest import register_artifact
        from training.data.corpora import corpus_sources

        cfg = self.cfg
        register_artifact(
            cfg.output.name,
            "other",
            files,
            base_model="all-MiniLM-L6-v2",
            base_sha256="",
            recipe=RECIPE,
            config=cfg.source,
            data=f"{cfg.data.sentences_per_writer} sentences per writer",
            metrics=metrics,
            extra={"role": "style_encoder"},
            root=cfg.output.manifest_path,
            sources=corpus_sources(cfg.data.writers),
        )


def run(cfg: StyleEncoderConfig) -> dict:
    return StyleEncoderRecipe(cfg).run()


def main(argv: Sequence[str] | None = None) -> dict:
    return StyleEncoderRecipe.main(argv, __doc__.splitlines()[0])


if __name__ == "__main__":
    main(sys.argv[1:])
