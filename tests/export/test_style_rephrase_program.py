"""Rephrase in my style gets its ExecuTorch program as every mode does: by its adapter composition
(engine/backends/programs.py), on the tiny Gemma 3 with random adapters. No export runs here: a built
fp32 program is filed under the composition's spec (the export itself: test_export_parity.py)."""

from __future__ import annotations

import shutil

from program_files import copy_into

from engine.export import ProgramCache, default_preset_for, preset, spec_for
from engine.manifest import register_artifact
from engine.models import load_model
from engine.modes import Mode


def assets_with(tmp_path, loaded, adapters: dict) -> object:
    root = tmp_path / "assets"
    for name, folder in adapters.items():
        copy = shutil.copytree(folder, root / "adapters" / name)
        register_artifact(
            name, "lora_adapter", [copy], loaded.info.name, loaded.info.source_sha256, root=root
        )
    return root


def style_engine(tiny_gemma_dir, program, tmp_path, monkeypatch, adapters: dict, served_by: str):
    """An engine on ExecuTorch whose cache holds a program filed under ``served_by``'s composition only."""
    from engine.api import Engine

    loaded = load_model(tiny_gemma_dir)
    root = assets_with(tmp_path, loaded, adapters)
    monkeypatch.setenv("KILLAH_CACHE_DIR", str(tmp_path / "cache"))
    spec = spec_for(loaded, preset(default_preset_for(loaded)), [root / "adapters" / served_by])
    copy_into(ProgramCache(), program, spec, loaded.info.name)
    return Engine(tiny_gemma_dir, backend="executorch", threads=1, adapters_root=root)


def test_the_stand_in_composition_is_served_by_its_own_program(
    tiny_gemma_dir, gemma_adapters, tiny_gemma_composed_fp32, tmp_path, monkeypatch
):
    """No RL adapter shipped: base + task_rephrase serves, from the program keyed by that composition;
    Rephrase (persona + task_rephrase) is another composition and does not get it."""
    adapters = {"persona": gemma_adapters[0], "task_rephrase": gemma_adapters[1]}
    engine = style_engine(
        tiny_gemma_dir, tiny_gemma_composed_fp32, tmp_path, monkeypatch, adapters, "task_rephrase"
    )
    engine.run_to_text(engine.generate(Mode.REPHRASE_STYLE, "w5 w6 w7 w8 w9"))
    assert engine.adapters.active == ("task_rephrase",)
    assert engine.backend.name == "executorch", engine.backend_note
    assert "task_rephrase serves in its place" in engine.adapter_status
    engine.run_to_text(engine.generate(Mode.REPHRASE, "w5 w6 w7 w8 w9"))
    assert engine.adapters.active == ("persona", "task_rephrase")
    assert engine.backend is engine.eager and "No ExecuTorch program" in engine.backend_note


def test_a_shipped_style_adapter_replaces_the_stand_in_and_has_its_own_program(
    tiny_gemma_dir, gemma_adapters, tiny_gemma_composed_fp32, tmp_path, monkeypatch
):
    adapters = {"task_rephrase": gemma_adapters[1], "task_rephrase_style": gemma_adapters[0]}
    engine = style_engine(
        tiny_gemma_dir, tiny_gemma_composed_fp32, tmp_path, monkeypatch, adapters, "task_rephrase_style"
    )
    engine.run_to_text(engine.generate(Mode.REPHRASE_STYLE, "w5 w6 w7 w8 w9"))
    assert engine.adapters.active == ("task_rephrase_style",)
    assert engine.adapter_status == "rephrase_style: base + task_rephrase_style"
    assert engine.backend.name == "executorch", engine.backend_note
