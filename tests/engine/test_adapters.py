"""Adapter registry: modes compose the right adapters on one base, and a composition equals the summed deltas."""

import copy

import pytest
import torch

from engine.adapters import AdapterRegistry
from engine.errors import ArtifactError
from engine.manifest import register_artifact
from engine.models import load_model

NAMES = ("persona", "task_autocomplete", "task_continue", "task_rephrase")


def _make_adapter(base_model, folder, seed: int, r: int = 4):
    """A small random LoRA (B non-zero, so it changes the output) saved in peft's folder format."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    model = get_peft_model(
        copy.deepcopy(base_model), LoraConfig(r=r, lora_alpha=2 * r, target_modules="all-linear")
    )
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    model.save_pretrained(str(folder))


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    """A private assets folder holding four random adapters made for SmolLM2, plus the base to compare with."""
    root = tmp_path_factory.mktemp("assets")
    loaded = load_model("smollm2-135m")
    for i, name in enumerate(NAMES):
        folder = root / "adapters" / name
        _make_adapter(loaded.model, folder, seed=i)
        register_artifact(
            name, "lora_adapter", [folder], loaded.info.name, loaded.info.source_sha256, root=root
        )
    return root, loaded


@pytest.fixture(scope="module")
def registry(assets):
    root, loaded = assets
    fresh = load_model("smollm2-135m")
    return AdapterRegistry(fresh, root=root), fresh, loaded


def _logits(model, tokenizer, text="The carriage stopped at the door of the house"):
    ids = tokenizer(text, return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        return model(input_ids=ids).logits[0].float()


def _summed_delta_reference(base_model, root, names):
    """W + sum_i (alpha_i / r_i) B_i A_i written into a copy of the base weights by hand."""
    import json

    from safetensors.torch import load_file

    ref = copy.deepcopy(base_model)
    modules = dict(ref.named_modules())
    with torch.no_grad():
        for name in names:
            folder = root / "adapters" / name
            cfg = json.loads((folder / "adapter_config.json").read_text())
            scale = cfg["lora_alpha"] / cfg["r"]
            state = load_file(str(folder / "adapter_model.safetensors"))
            for key, a in state.items():
                if ".lora_A." not in key:
                    continue
                b = state[key.replace(".lora_A.", ".lora_B.")]
                module_name = key.removeprefix("base_model.model.").split(".lora_A.")[0]
                modules[module_name].weight += scale * (b.float() @ a.float())
    return ref


def test_modes_compose_their_adapters_and_name_the_missing_ones(registry):
    reg, _, _ = registry
    got = reg.activate("continue")
    assert got.active == ("persona", "task_continue")
    assert got.missing == ("audio",)
    assert "audio not installed yet" in got.status and "composed without it" in got.status
    assert reg.activate("autocomplete").active == ("task_autocomplete",)
    assert reg.activate("rephrase").active == ("persona", "task_rephrase")
    dictation = reg.activate("dictation")
    assert dictation.active == ("persona",) and set(dictation.missing) == {"audio", "task_dictation"}


def test_style_rephrase_is_served_by_its_stand_in_until_the_rl_adapter_ships_and_says_so(registry):
    reg, _, _ = registry
    got = reg.activate("rephrase_style")
    assert got.active == ("task_rephrase",) and got.missing == ("task_rephrase_style",)
    assert got.stand_ins == (("task_rephrase_style", "task_rephrase"),)
    assert got.status == (
        "rephrase_style: base + task_rephrase "
        "(task_rephrase_style not installed yet: task_rephrase serves in its place)"
    )
    reg.set_enabled("task_rephrase", False)  # the stand-in switched off: nothing stands in
    try:
        off = reg.activate("rephrase_style")
        assert off.active == () and off.stand_ins == ()
        assert "task_rephrase_style not installed yet; composed without it" in off.status
    finally:
        reg.set_enabled("task_rephrase", True)


def test_composed_model_equals_summed_delta_reference(registry, assets):
    reg, fresh, base = registry
    root, _ = assets
    reg.activate("continue")
    composed = _logits(fresh.model, fresh.tokenizer)
    reference = _logits(
        _summed_delta_reference(base.model, root, ["persona", "task_continue"]), base.tokenizer
    )
    only_task = _summed_delta_reference(base.model, root, ["task_continue"])
    assert (composed - reference).abs().max() < 1e-3
    # The check can fail: one adapter alone is far from the composition.
    assert (composed - _logits(only_task, base.tokenizer)).abs().max() > 1e-2


def test_switching_mode_keeps_the_base_loaded_and_is_reversible(registry):
    reg, fresh, base = registry
    weights_before = fresh.model.get_input_embeddings().weight.data_ptr()
    reg.activate("autocomplete")
    first = _logits(fresh.model, fresh.tokenizer)
    # How fast a switch is belongs to the benches; here only that it happened.
    assert reg.activate("rephrase").changed
    assert not reg.activate("rephrase").changed  # same mode again: nothing to do
    reg.activate("autocomplete")
    assert torch.equal(first, _logits(fresh.model, fresh.tokenizer))
    assert fresh.model.get_input_embeddings().weight.data_ptr() == weights_before


def test_disabled_adapter_is_left_out_and_base_only_matches_the_plain_model(registry):
    reg, fresh, base = registry
    reg.set_enabled("task_autocomplete", False)
    try:
        got = reg.activate("autocomplete")
        assert got.active == () and got.disabled == ("task_autocomplete",)
        assert "switched off" in got.status
        assert torch.allclose(
            _logits(fresh.model, fresh.tokenizer), _logits(base.model, base.tokenizer), atol=1e-5
        )
    finally:
        reg.set_enabled("task_autocomplete", True)
    assert reg.activate("autocomplete").active == ("task_autocomplete",)


def test_tampered_adapter_is_rejected_with_a_clear_message(assets, tmp_path):
    import shutil

    root, loaded = assets
    copy_root = tmp_path / "assets"
    shutil.copytree(root, copy_root)
    weights = copy_root / "adapters" / "task_rephrase" / "adapter_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0xFF
    weights.write_bytes(bytes(data))
    fresh = load_model("smollm2-135m")
    with pytest.raises(ArtifactError, match="task_rephrase/adapter_model.safetensors.*altered"):
        AdapterRegistry(fresh, root=copy_root, strict=True)
    lenient = AdapterRegistry(load_model("smollm2-135m"), root=copy_root, names=["task_rephrase", "persona"])
    status = lenient.activate("rephrase").status
    assert "task_rephrase rejected" in status and "altered" in status


def test_adapters_for_another_base_are_not_loaded(assets):
    root, _ = assets
    gemma_like = load_model("smollm2-135m")
    object.__setattr__(gemma_like.info, "source_sha256", "0" * 64)  # pretend another base is loaded
    reg = AdapterRegistry(gemma_like, root=root)
    assert reg.installed == ()
    assert "trained for the base model" in reg.errors["task_continue"]
    assert reg.activate("continue").active == ()
