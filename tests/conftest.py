"""Shared test set-up: offscreen Qt, offline hubs, a private KILLAH_HOME per test, one engine per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Converted models are slow to build and never change: one cache for all runs.
os.environ.setdefault("KILLAH_CACHE_DIR", str(REPO / ".data" / "cache"))
# The app serves from ExecuTorch programs built in the background (minutes of CPU each); app tests
# run on eager PyTorch. tests/export covers the programs and the switch.
os.environ.setdefault("KILLAH_BACKEND", "eager")


@pytest.fixture(autouse=True)
def killah_home(tmp_path, monkeypatch) -> Path:
    """Each test gets fresh data and config dirs: it never sees the real user's files or another test's."""
    home = tmp_path / "killah-home"
    monkeypatch.setenv("KILLAH_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def engine():
    """The real engine on the embedded default model (Gemma 3 270M), loaded once."""
    from engine.api import Engine

    return Engine()
