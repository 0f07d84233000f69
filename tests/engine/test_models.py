"""User-supplied models: a Gemma 3 4B-style folder and a GGUF path, through the same facade."""

from __future__ import annotations

import shutil

import pytest

from engine import models
from engine.api import Engine
from engine.errors import ModelError
from engine.modes import Mode


@pytest.fixture(scope="module")
def gemma3_multimodal_folder(tmp_path_factory):
    """A tiny random model with Gemma 3 4B's architecture (Gemma3ForConditionalGeneration) and Gemma's tokenizer."""
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    folder = tmp_path_factory.mktemp("gemma-3-4b-like")
    config = Gemma3Config(
        text_config=dict(
            vocab_size=262208, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=2, num_key_value_heads=1, head_dim=32, sliding_window=16,
            layer_types=["sliding_attention", "full_attention"],
        ),
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=32, patch_size=16),
        mm_tokens_per_image=4,
    )
    Gemma3ForConditionalGeneration(config).save_pretrained(folder)
    converted = models.load_model("gemma3-270m").info.folder
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(converted / name, folder / name)
    return folder


def test_a_gemma3_4b_style_folder_loads_and_generates(gemma3_multimodal_folder):
    engine = Engine(gemma3_multimodal_folder, use_adapters=False)
    assert engine.info.architecture == "gemma3"
    assert engine.info.folder == gemma3_multimodal_folder
    params = engine.mode_params[Mode.CONTINUE].with_overrides(seed=0, max_new_tokens=5)
    list(engine.continue_text("Once upon a time", params=params))  # random weights: any text, but it runs
    assert engine.last_stats.new_tokens >= 1


def test_a_user_gguf_path_is_converted_once_and_cached(tmp_path):
    src = models.resolve("smollm2-135m").path
    user_copy = tmp_path / "my-model.gguf"
    user_copy.symlink_to(src)
    source = models.resolve(str(user_copy))
    assert source.kind == "gguf"
    stages = []
    folder, sha = models.ensure_converted(source, progress=lambda s, f: stages.append(s))
    assert folder.name.startswith("my-model-") and (folder / models.MARKER).exists()
    again, sha2 = models.ensure_converted(source, progress=lambda s, f: stages.append(s))
    assert again == folder and sha2 == sha
    loaded = models.load_model(str(user_copy))
    assert loaded.info.architecture == "llama" and loaded.info.has_chat_template


def test_a_folder_without_weights_is_refused(tmp_path, gemma3_multimodal_folder):
    empty = tmp_path / "no-weights"
    empty.mkdir()
    shutil.copy(gemma3_multimodal_folder / "config.json", empty / "config.json")
    with pytest.raises(ModelError, match="no weight files"):
        models.load_model(str(empty))


def test_a_damaged_converted_copy_is_rebuilt_not_loaded(tmp_path):
    src = models.resolve("smollm2-135m").path
    user_copy = tmp_path / "again.gguf"
    user_copy.symlink_to(src)
    folder, _ = models.ensure_converted(models.resolve(str(user_copy)))
    weights = folder / "model.safetensors"
    with open(weights, "r+b") as fh:  # truncate: a crash in the middle of a copy
        fh.truncate(weights.stat().st_size // 2)
    assert not models._folder_is_complete(folder)
    rebuilt, _ = models.ensure_converted(models.resolve(str(user_copy)))
    assert models._folder_is_complete(rebuilt)
