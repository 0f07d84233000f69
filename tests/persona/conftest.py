"""Fixtures for the style memory tests: a private KILLAH_HOME, the real MiniLM encoder, real files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The document builders live with the engine.documents tests.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "engine"))


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KILLAH_HOME", str(tmp_path / "home"))


class CountingEncoder:
    """The real MiniLM encoder, counting the paragraphs it is asked to embed."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.encoded = 0

    def encode(self, texts, batch_size=32):
        self.encoded += len(texts)
        return self.inner.encode(texts, batch_size)


@pytest.fixture(scope="session")
def minilm():
    from engine.persona.encoder import MiniLMEncoder

    encoder = MiniLMEncoder()
    encoder.encode(["warm up"])
    return encoder


@pytest.fixture
def encoder(minilm):
    return CountingEncoder(minilm)


@pytest.fixture
def memory(encoder):
    from engine.persona import StyleMemory

    mem = StyleMemory(encoder=encoder)
    yield mem
    mem.close()
