"""The GGUF-INT4 preset: a GGUF's 4-bit blocks kept exactly as int4 + a per-block offset (engine/export/gguf_int4.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from engine.errors import ModelError
from engine.export.config import PRESETS, QuantConfig
from engine.export.gguf_int4 import (
    Int4SplitLinear,
    decode_int4,
    int4_fallback_reason,
    read_int4_blocks,
)
from engine.export.quantize import use_int4_blocks
from tests.export.gguf_files import random_q4k, save_gguf_pair

gguf = pytest.importorskip("gguf")


def _tiny_gemma(hidden: int = 256):
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(0)
    config = Gemma3TextConfig(
        vocab_size=512,
        hidden_size=hidden,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=64,
        max_position_embeddings=256,
        sliding_window=8,
        layer_types=["sliding_attention", "full_attention"],
        initializer_range=0.05,
    )
    return Gemma3ForCausalLM(config).eval()


def _tiny_llama():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        initializer_range=0.2,
    )
    return LlamaForCausalLM(config).eval()


# Gemma 3 270M's Q4_K_M file has o_proj and half the down_proj as Q4_K, the rest Q5_0 / Q6_K / Q8_0.
GEMMA_TYPES = {
    "o_proj": "Q4_K",
    "down_proj": "Q4_K",
    "gate_proj": "Q4_1",
    "q_proj": "Q4_0",
    "up_proj": "Q8_0",
}


@pytest.fixture(scope="module")
def gemma_pair(tmp_path_factory):
    """(model, folder, gguf path, {linear: type}) for a tiny Gemma 3 whose linears are those blocks."""
    root = tmp_path_factory.mktemp("gguf-gemma")
    model = _tiny_gemma()
    types = save_gguf_pair(model, root / "model", root / "tiny.gguf", GEMMA_TYPES, "gemma3")
    return model, root / "model", root / "tiny.gguf", types


@pytest.mark.parametrize("qtype", ["Q4_K", "Q4_1", "Q4_0"])
def test_decode_equals_the_gguf_packages_dequantize(qtype):
    rows, cols = 8, 512
    kind = gguf.GGMLQuantizationType[qtype]
    if qtype == "Q4_K":
        raw = random_q4k(rows, cols, seed=3)
    else:
        raw = gguf.quantize(np.random.default_rng(1).normal(size=(rows, cols)).astype(np.float32), kind)
    blocks = decode_int4(raw, qtype, rows, cols)
    ref = torch.from_numpy(gguf.dequantize(raw, kind).reshape(rows, cols).astype(np.float32))
    assert blocks.qdata.dtype == torch.int8 and int(blocks.qdata.min()) >= -8 and int(blocks.qdata.max()) <= 7
    assert blocks.scale.shape == blocks.offset.shape == (rows, cols // 32)
    assert float(blocks.scale.min()) > 0  # XNNPACK takes only positive group scales
    assert torch.allclose(blocks.dequantize(), ref, rtol=0, atol=1e-6 * float(ref.abs().max()))


@pytest.mark.parametrize("with_bias", [False, True])
def test_split_linear_reproduces_the_dequantized_linear_without_activation_quantization(with_bias):
    rows, cols = 48, 768
    raw = random_q4k(rows, cols, seed=5)
    ref_w = torch.from_numpy(gguf.dequantize(raw, gguf.GGMLQuantizationType.Q4_K).reshape(rows, cols).copy())
    bias = torch.randn(rows) if with_bias else None
    split = Int4SplitLinear(decode_int4(raw, "Q4_K", rows, cols), bias, activation_quantization=False)
    x = torch.randn(2, 5, cols)
    want = torch.nn.functional.linear(x, ref_w, bias)
    got = split(x)
    # float rounding only: the two sums are ordered differently
    assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())


def test_corrupt_blocks_are_a_clear_error():
    raw = random_q4k(4, 256, seed=7)
    bad = raw.copy()
    bad[2, 0:2] = np.array([np.nan], dtype=np.float16).view(np.uint8)  # block 2's scale
    with pytest.raises(ModelError, match="corrupt: block 2 .*scale of nan"):
        decode_int4(bad, "Q4_K", 4, 256, "blk.0.attn_output.weight")
    with pytest.raises(ModelError, match="corrupt"):
        decode_int4(raw[:, :-1], "Q4_K", 4, 256)  # a short tensor


def test_reads_the_4bit_linears_of_a_gguf_and_checks_them_against_the_model(gemma_pair):
    model, folder, path, types = gemma_pair
    blocks = read_int4_blocks(path, model)
    want = {name for name, t in types.items() if t in ("Q4_K", "Q4_1", "Q4_0")}
    assert set(blocks) == want and len(want) == 8  # 4 types x 2 layers; Q8_0 up_proj and F32 k/v left out
    for name, blk in blocks.items():
        w = dict(model.named_modules())[name].weight
        assert torch.allclose(blk.dequantize(), w, atol=1e-6)


def test_llama_rows_follow_transformers_q_k_permutation(tmp_path):
    model = _tiny_llama()
    types = save_gguf_pair(model, tmp_path / "m", tmp_path / "l.gguf", {"_proj": "Q4_1"}, "llama")
    blocks = read_int4_blocks(tmp_path / "l.gguf", model)  # checks every weight, q/k included
    assert set(blocks) == {n for n, t in types.items() if t == "Q4_1"} and len(blocks) == 14  # 7 per layer


def test_weights_that_are_not_the_files_are_refused(gemma_pair, tmp_path):
    model, _, path, _ = gemma_pair
    other = _tiny_gemma()  # same shapes, other weights: e.g. adapters merged, or another file
    with pytest.raises(ModelError, match="do not give the model's weights"):
        read_int4_blocks(path, other)


def test_whole_model_equals_fp32_with_activation_quantization_off(gemma_pair):
    import copy

    model, _, path, _ = gemma_pair
    ids = torch.randint(0, 512, (1, 12))
    with torch.no_grad():
        want = model(input_ids=ids).logits
        split = copy.deepcopy(model)
        assert use_int4_blocks(split, read_int4_blocks(path, model), activation_quantization=False) == 8
        got = split(input_ids=ids).logits
    assert float((got - want).abs().max()) <= 1e-5 * float(want.abs().max())


def test_a_gguf_without_4bit_linears_falls_back_with_a_reason(tmp_path):
    from engine.export import resolve_quant
    from engine.models import LoadedModel, ModelInfo

    model = _tiny_gemma()
    save_gguf_pair(model, tmp_path / "m", tmp_path / "f.gguf", {"proj": "Q8_0"}, "gemma3")
    reason = int4_fallback_reason(tmp_path / "m", model)
    assert reason == "f.gguf has no Q4_K/Q4_1/Q4_0 linears (types: F32, Q8_0)"
    loaded = LoadedModel(model, None, ModelInfo("m", tmp_path / "m", "x", "gemma3_text", False))
    quant, note = resolve_quant(loaded, "8da4w-q4k")
    assert quant == PRESETS["8da8w-enru"] and note.count("\n") == 0
    assert note == f"8da4w-q4k: {reason}; using the 8-bit 8da8w-enru instead."
    hf_only = LoadedModel(model, None, ModelInfo("m", tmp_path, "x", "gemma3_text", False))
    assert "not a converted GGUF" in resolve_quant(hf_only, "8da4w-q4k")[1]
    assert resolve_quant(loaded, "8da8w") == (PRESETS["8da8w"], "")


def test_preset_key_and_label_say_int4_only_for_the_gguf_preset():
    q4k = PRESETS["8da4w-q4k"]
    assert q4k.int4_source == "gguf" and "int4-gguf" in q4k.label
    assert "int4_source" not in PRESETS["8da8w-enru"].as_dict()  # old programs keep their cache keys
    with pytest.raises(ValueError, match="int4_source"):
        QuantConfig(int4_source="q4k")


def test_lowered_split_linear_matches_eager_within_bf16_scale_error(tmp_path):
    """XNNPACK loads and runs the split (positive group scales) and differs from the eager torchao module,
    int8 activations included, only by its bf16 group scales."""
    from executorch.runtime import Runtime

    from engine.export.pipeline import lower

    rows, cols = 64, 512
    split = Int4SplitLinear(decode_int4(random_q4k(rows, cols, seed=11), "Q4_K", rows, cols), None).eval()
    x = torch.randn(1, 3, cols)
    edge, config = lower({"forward": torch.export.export(split, (x,), strict=True)}, {})
    pte = tmp_path / "split.pte"
    pte.write_bytes(edge.to_executorch(config).buffer)
    got = Runtime.get().load_program(pte).load_method("forward").execute([x])[0]
    want = split(x)
    assert float((got - want).abs().max()) <= 0.01 * float(want.abs().max())


@pytest.mark.slow  # a whole (tiny) program export: minutes on the loaded 2-core VM
def test_exported_program_runs_the_gguf_int4_linears(gemma_pair, tmp_path):
    """The lowered program matches the same modules in eager torchao (int8 activations on), and stays close
    to fp32; the sidecar facts name the linears that run as int4."""
    import copy

    from engine.backends.executorch import ExecuTorchBackend
    from engine.export.pipeline import export_program
    from engine.export.quantize import quantize_lm

    model, folder, _, types = gemma_pair
    quant = QuantConfig(linear="8da8w", embedding="fp32", algorithm="affine", int4_source="gguf")
    pte = tmp_path / "q4k.pte"
    facts = export_program(folder, pte, quant, max_seq=64)
    assert facts["int4_linears"] == sorted(n for n, t in types.items() if t in ("Q4_K", "Q4_1", "Q4_0"))
    backend = ExecuTorchBackend(pte, threads=1)
    ids = [5, 17, 300, 42, 8, 99, 250, 3]
    got = backend.forward_tokens(ids, 0).float().reshape(-1)
    from engine.export.gguf_int4 import read_int4_blocks as read

    eager = copy.deepcopy(model)
    with torch.no_grad():
        fp32 = model(input_ids=torch.tensor([ids])).logits[0, -1]
        quantize_lm(eager, quant, read(Path(str(folder) + "/../tiny.gguf").resolve(), model))
        sim = eager(input_ids=torch.tensor([ids])).logits[0, -1]
    scale = float(fp32.abs().max())
    # XNNPACK's bf16 group scales are the only difference from the eager torchao modules
    assert float((got - sim).abs().max()) <= 0.02 * scale
    assert float((got - fp32).abs().max()) <= 0.05 * scale


def test_export_reads_the_blocks_first_and_refuses_what_it_cannot_keep(gemma_pair, tmp_path):
    from engine.export.pipeline import int4_blocks_for

    model, folder, _, types = gemma_pair
    blocks = int4_blocks_for(folder, model, None)
    assert sorted(blocks) == sorted(n for n, t in types.items() if t in ("Q4_K", "Q4_1", "Q4_0"))
    with pytest.raises(ModelError, match="cannot merge adapters"):
        int4_blocks_for(folder, model, [tmp_path / "adapter"])
    with pytest.raises(ModelError, match="not converted from a GGUF"):
        int4_blocks_for(tmp_path, model, None)
