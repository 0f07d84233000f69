"""The engine's choice of ExecuTorch program per adapter composition (engine/backends/programs.py)."""

from __future__ import annotations

import torch
from program_files import copy_into

from engine.backends.eager import EagerBackend
from engine.backends.programs import ProgramsPerComposition
from engine.export import ProgramCache
from engine.models import load_model


def _forced_logits(backend, ids):
    backend.reset()
    return torch.stack([backend.forward_tokens([t], i)[-1] for i, t in enumerate(ids)])


def test_a_composition_is_served_by_its_own_program_only(
    tiny_gemma_dir, gemma_adapters, tiny_gemma_composed_fp32, program_cache
):
    loaded = load_model(tiny_gemma_dir)
    eager = EagerBackend(loaded)
    programs = ProgramsPerComposition(
        loaded, eager, quant="fp32", build=False, cache=program_cache, max_seq=128
    )
    both, note = programs.backend_for(("persona", "task"), gemma_adapters)
    assert both.name == "executorch" and note == ""
    # The same composition named in another order is the same program (summed deltas commute).
    assert programs.backend_for(("task", "persona"), gemma_adapters[::-1])[0] is both
    # Another composition has no program: eager serves it and says why; it is not retried.
    one, note = programs.backend_for(("persona",), gemma_adapters[:1])
    assert one is eager and "No ExecuTorch program" in note
    assert programs.ready == [("persona", "task")]


def test_a_missing_program_is_built_in_the_background_while_eager_serves(
    tiny_gemma_dir, gemma_adapters, tmp_path
):
    from peft import PeftModel

    loaded = load_model(tiny_gemma_dir)
    eager = EagerBackend(loaded)
    built = []
    programs = ProgramsPerComposition(
        loaded,
        eager,
        quant="fp32",
        build=True,
        threads=1,
        max_seq=128,
        cache=ProgramCache(tmp_path / "programs"),
        on_ready=built.append,
    )
    backend, note = programs.backend_for(("task",), gemma_adapters[1:])
    assert backend is eager and "being built" in note
    assert programs.wait_idle(timeout=600)
    assert built == [("task",)]
    program, note = programs.backend_for(("task",), gemma_adapters[1:])
    assert program.name == "executorch" and note == ""
    # The program holds exactly that composition: the base + task adapter, as peft computes it.
    PeftModel.from_pretrained(loaded.model, str(gemma_adapters[1]), adapter_name="task")
    ids = [int(t) for t in torch.randint(4, 512, (20,), generator=torch.Generator().manual_seed(2))]
    expected = _forced_logits(EagerBackend(loaded), ids)
    got = _forced_logits(program, ids)
    assert torch.allclose(got, expected, atol=1e-3), float((got - expected).abs().max())


def _engine_with_a_continue_program(tiny_gemma_dir, gemma_adapters, composed_fp32, tmp_path, monkeypatch):
    """An engine whose continue composition (persona + task_continue) has a cached program and whose
    autocomplete (no adapter here) has none."""
    import shutil

    from engine.api import Engine
    from engine.export import default_preset_for, preset, spec_for
    from engine.manifest import register_artifact

    loaded = load_model(tiny_gemma_dir)
    assets = tmp_path / "assets"
    for name, folder in (("persona", gemma_adapters[0]), ("task_continue", gemma_adapters[1])):
        copy = shutil.copytree(folder, assets / "adapters" / folder.name)
        register_artifact(
            name, "lora_adapter", [copy], loaded.info.name, loaded.info.source_sha256, root=assets
        )
    # The fp32 program of that composition, filed under the default preset's spec (the choice of
    # program is tested here; the INT8 export itself in test_export_parity.py).
    monkeypatch.setenv("KILLAH_CACHE_DIR", str(tmp_path / "cache"))
    spec = spec_for(
        loaded, preset(default_preset_for(loaded)), [assets / "adapters" / f.name for f in gemma_adapters]
    )
    copy_into(ProgramCache(), composed_fp32, spec, loaded.info.name)
    return Engine(tiny_gemma_dir, backend="executorch", threads=1, adapters_root=assets)


def test_engine_switches_program_with_the_mode_composition(
    tiny_gemma_dir, gemma_adapters, tiny_gemma_composed_fp32, tmp_path, monkeypatch
):
    """continue = persona + task_continue has a program; autocomplete (no adapter here) has none."""
    engine = _engine_with_a_continue_program(
        tiny_gemma_dir, gemma_adapters, tiny_gemma_composed_fp32, tmp_path, monkeypatch
    )
    assert engine.backend.name == "eager" and "No ExecuTorch program" in engine.backend_note  # autocomplete
    engine.run_to_text(engine.continue_text("w5 w6 w7 w8 w9"))
    assert engine.backend.name == "executorch", engine.backend_note
    program = engine.backend
    engine.run_to_text(engine.complete("w5 w6 w7"))
    assert engine.backend is engine.eager
    engine.run_to_text(engine.continue_text("w5 w6 w7 w8 w9"))
    assert engine.backend is program  # loaded once, kept


def test_only_the_most_recently_used_programs_stay_loaded(
    tiny_gemma_dir, gemma_adapters, tiny_gemma_composed_fp32, program_cache, tmp_path
):

    from engine.export import preset, spec_for

    loaded = load_model(tiny_gemma_dir)
    cache = ProgramCache(tmp_path / "programs")
    for folders in (gemma_adapters, gemma_adapters[:1]):  # file the same program under two compositions
        spec = spec_for(loaded, preset("fp32"), folders, max_seq=128)
        copy_into(cache, tiny_gemma_composed_fp32, spec, loaded.info.name)
    programs = ProgramsPerComposition(
        loaded, EagerBackend(loaded), quant="fp32", build=False, cache=cache, max_seq=128, max_loaded=1
    )
    first, _ = programs.backend_for(("persona", "task"), gemma_adapters)
    second, _ = programs.backend_for(("persona",), gemma_adapters[:1])
    assert first.name == second.name == "executorch" and first is not second
    assert programs.ready == [("persona",)]  # the other one was dropped...
    again, note = programs.backend_for(("persona", "task"), gemma_adapters)
    assert again.name == "executorch" and note == "" and again is not first  # ...and reloaded from the cache


def test_eager_weights_leave_memory_while_programs_serve_and_come_back_exactly(
    tiny_gemma_dir, gemma_adapters, tiny_gemma_composed_fp32, tmp_path, monkeypatch
):
    """continue has a program, autocomplete none: parking after a served continue frees the base
    weights; the next autocomplete reads them back and eager's logits are bit for bit the same."""
    engine = _engine_with_a_continue_program(
        tiny_gemma_dir, gemma_adapters, tiny_gemma_composed_fp32, tmp_path, monkeypatch
    )
    ids = [int(t) for t in torch.randint(4, 512, (12,), generator=torch.Generator().manual_seed(3))]
    engine._activate(engine._active_mode)  # autocomplete: eager
    before = _forced_logits(engine.eager, ids)
    embed = engine.eager.model.get_input_embeddings().weight
    engine.park_eager_after_s = 0.0
    engine.run_to_text(engine.continue_text("w5 w6 w7 w8 w9"))
    assert engine.backend.name == "executorch" and engine.eager.weights.parked
    assert embed.numel() == 0  # the largest tensor is gone (and the tied output layer with it)
    engine.run_to_text(engine.complete("w5 w6 w7"))  # autocomplete has no program: eager again
    assert engine.backend is engine.eager and not engine.eager.weights.parked
    assert torch.equal(_forced_logits(engine.eager, ids), before)


def test_a_retrained_adapter_is_not_served_by_the_program_of_its_old_weights(
    tiny_gemma_dir, gemma_adapters, tiny_gemma_composed_fp32, program_cache, tmp_path
):
    """The writer's own adapters (personal, personal_style) change during a session: Learn my style
    writes new weights under the same name; the engine forgets the old program (Engine.reload_user_adapter)."""
    from tests.export.tiny_models import save_random_lora

    loaded = load_model(tiny_gemma_dir)
    eager = EagerBackend(loaded)
    programs = ProgramsPerComposition(loaded, eager, quant="fp32", build=False, cache=program_cache, max_seq=128)
    old, _ = programs.backend_for(("persona", "task"), gemma_adapters)
    assert old.name == "executorch"
    retrained = save_random_lora(tiny_gemma_dir, tmp_path / "task", seed=7, targets=["v_proj", "down_proj"])
    programs.forget("task")
    backend, note = programs.backend_for(("persona", "task"), [gemma_adapters[0], retrained])
    assert backend is eager and "No ExecuTorch program" in note  # (build=True: built in the background)
    assert programs.ready == []
