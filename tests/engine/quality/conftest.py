"""A tiny random Gemma 3 with the real Gemma tokenizer, for the Rephrase decoding tests."""

from __future__ import annotations

import shutil

import pytest
import torch

from engine import models
from engine.api import Engine


@pytest.fixture(scope="session")
def random_gemma(tmp_path_factory):
    """A tiny random Gemma 3 with Gemma's real 262k tokenizer: its draws are noise over the whole
    vocabulary, the hardest case for a rule (digits, names and negators come up all the time)."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    folder = tmp_path_factory.mktemp("random-gemma")
    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=262144, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=16,
        layer_types=["full_attention"],
    )
    Gemma3ForCausalLM(config).save_pretrained(folder)
    converted = models.load_model("gemma3-270m").info.folder
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(converted / name, folder / name)
    return Engine(folder, use_adapters=False, threads=1)


