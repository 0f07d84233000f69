"""Tiny models exported once per session: the export, cache and runtime paths of the real ones, in seconds."""

from __future__ import annotations

import pytest
import torch
from tiny_models import save_random_lora, save_tiny_gemma3, save_tiny_llama, save_word_tokenizer


def _loaded(folder):
    from engine.models import load_model

    return load_model(folder)


@pytest.fixture(scope="session")
def tiny_llama_dir(tmp_path_factory):
    folder = save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
    save_word_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_gemma_dir(tmp_path_factory):
    folder = save_tiny_gemma3(tmp_path_factory.mktemp("tiny-gemma"))
    save_word_tokenizer(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_llama(tiny_llama_dir):
    return _loaded(tiny_llama_dir)


@pytest.fixture(scope="session")
def session_cache_dir(tmp_path_factory):
    """A cache dir of its own (programs/ under it), shared by the tests of this session."""
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="session")
def program_cache(session_cache_dir):
    from engine.export import ProgramCache

    return ProgramCache(session_cache_dir / "programs")


@pytest.fixture(scope="session")
def tiny_llama_fp32(tiny_llama, program_cache):
    from engine.export import preset, spec_for

    torch.set_num_threads(1)
    spec = spec_for(tiny_llama, preset("fp32"), max_seq=128)
    return program_cache.ensure(tiny_llama, spec)


@pytest.fixture(scope="session")
def tiny_llama_quantized(tiny_llama, program_cache):
    """The default preset for its architecture (int8 dynamic activations, int8 weights)."""
    from engine.export import default_preset_for, preset, spec_for

    spec = spec_for(tiny_llama, preset(default_preset_for(tiny_llama)), max_seq=128)
    return program_cache.ensure(tiny_llama, spec)


@pytest.fixture(scope="session")
def gemma_adapters(tiny_gemma_dir, tmp_path_factory):
    """Two peft LoRA adapters on the tiny Gemma (a persona and a task, as the app composes them)."""
    root = tmp_path_factory.mktemp("adapters")
    return [
        save_random_lora(tiny_gemma_dir, root / "persona", seed=1, targets=["q_proj", "v_proj"]),
        save_random_lora(tiny_gemma_dir, root / "task", seed=2, targets=["v_proj", "down_proj"]),
    ]


@pytest.fixture(scope="session")
def tiny_gemma_composed_fp32(tiny_gemma_dir, gemma_adapters, program_cache):
    """Tiny Gemma 3 (sliding window 8) with both adapters merged, fp32."""
    from engine.export import preset, spec_for

    loaded = _loaded(tiny_gemma_dir)
    spec = spec_for(loaded, preset("fp32"), gemma_adapters, max_seq=128)
    return program_cache.ensure(loaded, spec, gemma_adapters)


@pytest.fixture
def fresh_eager(tiny_llama_dir):
    """An eager backend on a fresh copy of the tiny model (backends keep state)."""
    from engine.backends.eager import EagerBackend

    def make(folder=tiny_llama_dir):
        return EagerBackend(_loaded(folder))

    return make
