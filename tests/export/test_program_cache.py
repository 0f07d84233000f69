"""The program cache: reuse, and a clear refusal of missing, truncated or foreign programs (engine stays on eager)."""

from __future__ import annotations

import json
import shutil
import time

import pytest
from program_files import copy_into

from engine.errors import ModelError
from engine.export import ProgramCache, preset, spec_for


def test_cache_reuses_a_built_program(tiny_llama, tiny_llama_fp32, program_cache):
    before = tiny_llama_fp32.stat().st_mtime_ns
    started = time.monotonic()
    again = program_cache.ensure(tiny_llama, spec_for(tiny_llama, preset("fp32"), max_seq=128))
    assert again == tiny_llama_fp32
    assert again.stat().st_mtime_ns == before
    assert time.monotonic() - started < 10  # a lookup, not a 30-second export


def test_other_settings_get_another_program(tiny_llama):
    fp32 = spec_for(tiny_llama, preset("fp32"))
    assert fp32.key != spec_for(tiny_llama, preset("8da4w")).key
    assert fp32.key != spec_for(tiny_llama, preset("fp32"), max_seq=64).key


def test_missing_program_is_reported(tiny_llama, tmp_path):
    with pytest.raises(ModelError, match="No ExecuTorch program"):
        ProgramCache(tmp_path).lookup(tiny_llama, spec_for(tiny_llama, preset("fp32")))


def test_truncated_program_is_detected(tiny_llama, tiny_llama_fp32, tmp_path):
    cache = ProgramCache(tmp_path)
    spec = spec_for(tiny_llama, preset("fp32"), max_seq=128)
    target = copy_into(cache, tiny_llama_fp32, spec, tiny_llama.info.name)
    with open(target, "r+b") as fh:
        fh.truncate(target.stat().st_size // 2)
    with pytest.raises(ModelError, match="truncated"):
        cache.lookup(tiny_llama, spec)


def test_program_built_for_another_base_model_is_refused(tiny_llama, tiny_llama_fp32, tmp_path):
    cache = ProgramCache(tmp_path)
    spec = spec_for(tiny_llama, preset("fp32"), max_seq=128)
    target = copy_into(cache, tiny_llama_fp32, spec, tiny_llama.info.name)
    side = json.loads(target.with_suffix(".json").read_text())
    side["spec"]["base_sha256"] = "0" * 64
    target.with_suffix(".json").write_text(json.dumps(side))
    with pytest.raises(ModelError, match="another base model"):
        cache.lookup(tiny_llama, spec)


def test_corrupted_program_of_the_same_size_is_detected(tiny_llama, tiny_llama_fp32, tmp_path):
    cache = ProgramCache(tmp_path)
    spec = spec_for(tiny_llama, preset("fp32"), max_seq=128)
    target = copy_into(cache, tiny_llama_fp32, spec, tiny_llama.info.name)
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="corrupt"):
        cache.lookup(tiny_llama, spec)


def _engine_on(tiny_llama_dir, cache_dir, monkeypatch, backend="executorch"):
    from engine.api import Engine

    monkeypatch.setenv("KILLAH_CACHE_DIR", str(cache_dir))
    return Engine(tiny_llama_dir, backend=backend, threads=1, use_adapters=False)


def test_engine_falls_back_to_eager_on_a_truncated_program(
    tiny_llama, tiny_llama_dir, tiny_llama_fp32, tmp_path, monkeypatch
):
    from engine.export import default_preset_for

    cache = ProgramCache(tmp_path / "programs")
    target = copy_into(
        cache,
        tiny_llama_fp32,
        spec_for(tiny_llama, preset(default_preset_for(tiny_llama))),
        tiny_llama.info.name,
    )
    with open(target, "r+b") as fh:
        fh.truncate(1000)
    engine = _engine_on(tiny_llama_dir, tmp_path, monkeypatch)
    assert engine.backend.name == "eager"
    assert "truncated" in engine.backend_note
    engine.run_to_text(engine.continue_text("w1 w2 w3 w4"))  # serves, on eager
    assert engine.last_stats.new_tokens > 0


def test_engine_falls_back_to_eager_without_a_program(tiny_llama_dir, tmp_path, monkeypatch):
    engine = _engine_on(tiny_llama_dir, tmp_path, monkeypatch)
    assert engine.backend.name == "eager"
    assert "No ExecuTorch program" in engine.backend_note


def test_engine_serves_from_a_valid_program(
    tiny_llama, tiny_llama_dir, tiny_llama_fp32, tmp_path, monkeypatch
):
    from engine.export import default_preset_for
    from engine.modes import Mode

    # The fp32 program stands in for the default preset (same model, exact outputs): the engine's
    # choice of program is what is tested here, the INT8 export itself in test_export_parity.py.
    cache = ProgramCache(tmp_path / "programs")
    copy_into(
        cache,
        tiny_llama_fp32,
        spec_for(tiny_llama, preset(default_preset_for(tiny_llama))),
        tiny_llama.info.name,
    )
    engine = _engine_on(tiny_llama_dir, tmp_path, monkeypatch)
    assert engine.backend.name == "executorch", engine.backend_note
    params = engine.mode_params[Mode.CONTINUE].with_overrides(seed=3, max_new_tokens=12)
    text_et = engine.run_to_text(engine.continue_text("w5 w6 w7 w8 w9", params=params))
    from engine.backends.eager import EagerBackend

    engine.use_backend(EagerBackend(engine.loaded))
    assert engine.run_to_text(engine.continue_text("w5 w6 w7 w8 w9", params=params)) == text_et


def test_cli_export_reuses_the_cached_program(
    tiny_llama_dir, tiny_llama_fp32, session_cache_dir, monkeypatch, capsys
):
    from engine.cli import main

    monkeypatch.setenv("KILLAH_CACHE_DIR", str(session_cache_dir))
    code = main(["export", "-m", str(tiny_llama_dir), "--quant", "fp32", "--max-seq", "128", "--json"])
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert out["reused"] is True
    assert out["program"] == str(tiny_llama_fp32)


def test_adapter_identity_ignores_peft_set_order_but_not_weights(gemma_adapters, tmp_path):
    from engine.export.compose import adapter_sha256

    original = gemma_adapters[0]
    reordered = tmp_path / "reordered"
    shutil.copytree(original, reordered)
    config = json.loads((reordered / "adapter_config.json").read_text())
    config["target_modules"] = list(reversed(config["target_modules"]))
    (reordered / "adapter_config.json").write_text(json.dumps(config, indent=3))
    assert adapter_sha256(reordered) == adapter_sha256(original)
    weights = reordered / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    assert adapter_sha256(reordered) != adapter_sha256(original)


def test_the_default_preset_is_chosen_per_architecture(tiny_llama, tiny_gemma_dir):
    from engine.export import DEFAULT_PRESET, default_preset_for
    from engine.models import load_model

    # Measured: HQQ scales help Gemma 3 and hurt SmolLM2 (Llama), docs/executorch.md.
    assert default_preset_for(load_model(tiny_gemma_dir)) == DEFAULT_PRESET == "8da8w-enru"
    assert default_preset_for(tiny_llama) == "8da8w-enru-minmax"
    assert preset("8da8w-enru-minmax").algorithm == "affine"
