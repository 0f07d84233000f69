"""The vocabulary rule, and programs whose output layer scores only the kept tokens."""

from __future__ import annotations

import json

import pytest
import torch
from program_files import copy_into
from tiny_models import save_tiny_llama, save_word_tokenizer

from engine.errors import ModelError
from engine.export import ProgramCache, QuantConfig, spec_for
from engine.export.vocab import kept_token_ids, text_allowed

# fp32 so that a pruned program's kept logits equal the full model's exactly.
PRUNED_FP32 = QuantConfig(linear="fp32", lm_head="same", embedding="fp32", vocab="latin-cyrillic")


def _sentencepiece_like_tokenizer(pieces: list[str], special: list[str]):
    """A Gemma-style tokenizer (▁ for spaces, <0xHH> byte fallback) over exactly ``pieces``."""
    from tokenizers import Tokenizer, decoders, models
    from transformers import PreTrainedTokenizerFast

    core = Tokenizer(models.WordLevel({p: i for i, p in enumerate(pieces)}, unk_token="<unk>"))
    core.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse()])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>"
    )
    tok.add_special_tokens({"additional_special_tokens": special})
    return tok


def test_rule_keeps_latin_cyrillic_bytes_and_control_tokens_and_drops_other_scripts():
    kept = [
        "<bos>",
        "<eos>",
        "<unk>",
        "<end_of_turn>",
        "<0x41>",
        "<0xE4>",
        "▁the",
        "ing",
        "▁Мороз",
        "ёж",
        "▁café",
        "▁Łódź",
        "▁—",
        "…",
        "«",
        "1999",
        "\n\n",
        "\t",
        "▁€",
        "№",
        "▁=",
        "<h1>",
    ]
    dropped = ["中文", "▁東京", "▁नमस्ते", "▁مرحبا", "ー", "카", "<unused0>", "▁🙂"]
    tok = _sentencepiece_like_tokenizer(kept + dropped, special=["<end_of_turn>", "<unused0>"])
    keep = {tok.convert_ids_to_tokens(i) for i in kept_token_ids(tok)}
    assert keep == set(kept)
    assert text_allowed("Мороз и солнце; день чудесный! — «Ёлка», № 5, 12 500 ₽, café, naïve.")
    assert not text_allowed("日本語")


@pytest.fixture(scope="module")
def mixed_script_llama(tmp_path_factory):
    """The tiny Llama with a vocabulary where every 5th word is CJK (dropped by the rule)."""
    from engine.models import load_model

    folder = save_tiny_llama(tmp_path_factory.mktemp("tiny-llama-cjk"))
    save_word_tokenizer(folder, cjk_every=5)
    return load_model(folder)


@pytest.fixture(scope="module")
def pruned_program(mixed_script_llama, program_cache):
    spec = spec_for(mixed_script_llama, PRUNED_FP32, max_seq=128)
    return program_cache.ensure(mixed_script_llama, spec)


def test_pruned_program_scores_kept_tokens_as_the_full_model_and_nothing_else(
    mixed_script_llama, pruned_program
):
    from engine.backends.eager import EagerBackend
    from engine.backends.executorch import ExecuTorchBackend

    keep = kept_token_ids(mixed_script_llama.tokenizer)
    assert 300 < len(keep) < 512  # the CJK words are gone, the rest (specials included) stays
    dropped = sorted(set(range(512)) - set(keep))
    eager, program = (
        EagerBackend(mixed_script_llama),
        ExecuTorchBackend(pruned_program),
    )  # ids from the sidecar
    # Teacher-forced on the full model's own greedy sequence, so both see the same inputs.
    ids, logits_full, logits_pruned = [1, 17, 230, 45, 99, 311], [], []
    full = eager.forward_tokens(ids, 0)
    pruned = program.forward_tokens(ids, 0)
    for pos in range(len(ids), len(ids) + 40):
        logits_full.append(full)
        logits_pruned.append(pruned)
        token = int(torch.argmax(full))
        full, pruned = eager.forward_tokens([token], pos), program.forward_tokens([token], pos)
    same_pick = in_set = 0
    for full, pruned in zip(logits_full, logits_pruned, strict=True):
        assert torch.isneginf(pruned[dropped]).all()
        assert torch.allclose(pruned[keep], full[keep], atol=1e-4)
        if int(torch.argmax(full)) in keep:
            in_set += 1
            same_pick += int(torch.argmax(pruned)) == int(torch.argmax(full))
    assert in_set > 10 and same_pick == in_set


def test_pruned_program_has_its_own_cache_key(mixed_script_llama):
    full = spec_for(mixed_script_llama, QuantConfig(linear="fp32", lm_head="same", embedding="fp32"))
    pruned = spec_for(mixed_script_llama, PRUNED_FP32)
    assert full.key != pruned.key
    assert pruned.vocab_keep_sha256 and not full.vocab_keep_sha256
    # Unpruned programs built before the vocabulary rule existed keep their keys (no new fields at defaults).
    assert "vocab" not in full.as_dict()["quant"] and "keep_fp32" not in full.as_dict()["quant"]


def test_tampered_kept_ids_are_refused(mixed_script_llama, pruned_program, tmp_path):

    cache = ProgramCache(tmp_path)
    spec = spec_for(mixed_script_llama, PRUNED_FP32, max_seq=128)
    target = copy_into(cache, pruned_program, spec, mixed_script_llama.info.name)
    side = json.loads(target.with_suffix(".json").read_text())
    side["keep_ids"][3] += 1
    target.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(ModelError, match="kept token ids"):
        cache.lookup(mixed_script_llama, spec)


def test_engine_loads_the_kept_ids_from_the_cache_entry(
    mixed_script_llama, pruned_program, tmp_path, monkeypatch
):

    from engine.api import Engine
    from engine.export import default_preset_for, preset

    # The pruned fp32 program stands in for the default preset's program in the engine's cache.
    cache = ProgramCache(tmp_path / "programs")
    spec = spec_for(mixed_script_llama, preset(default_preset_for(mixed_script_llama)))
    copy_into(cache, pruned_program, spec, mixed_script_llama.info.name)
    monkeypatch.setenv("KILLAH_CACHE_DIR", str(tmp_path))
    engine = Engine(mixed_script_llama.info.folder, backend="executorch", threads=1, use_adapters=False)
    assert engine.backend.name == "executorch", engine.backend_note
    keep = kept_token_ids(mixed_script_llama.tokenizer)
    logits = engine.backend.forward_tokens([1, 17, 230], 0)
    assert logits.shape[-1] == 512
    assert torch.isfinite(logits[keep]).all()
    assert int(torch.isneginf(logits).sum()) == 512 - len(keep)
    text = engine.run_to_text(engine.continue_text("w1 w2 w3 w4"))
    assert engine.last_stats.new_tokens > 0
    assert "字" not in text
