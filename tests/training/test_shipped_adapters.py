"""The adapters shipped in assets/: intact, small, made for the default base, loadable by the registry."""

import pytest

from engine.manifest import load_manifest

MB = 1024 * 1024
EXPECTED = {"task_autocomplete", "task_continue", "task_rephrase", "task_dictation", "persona"}


def _adapters():
    """The LoRA adapters this recipe shipped (other recipes' artifacts are checked by their own tests)."""
    return {
        n: a
        for n, a in load_manifest().items()
        if a.kind == "lora_adapter" and a.recipe == "training/recipes/sft_lora.py"
    }


def test_every_shipped_adapter_is_intact_small_and_for_the_default_base():
    adapters = _adapters()
    if not adapters:
        pytest.skip("no adapter has been trained into assets/ yet")
    for name, art in adapters.items():
        art.verify()  # sha256 of every file
        assert art.base_model == "gemma3-270m", name
        assert sum(f.size for f in art.files) <= 10 * MB, name
        assert {"heldout_completion_nll_base", "heldout_completion_nll_adapter"} <= set(art.metrics), name
        # Replace an adapter only when it beats the base on its own held-out metric.
        assert art.metrics["heldout_completion_nll_adapter"] < art.metrics["heldout_completion_nll_base"], (
            name
        )
    assert set(adapters) <= EXPECTED


def test_all_of_assets_stays_under_60_mb():
    from engine.paths import repo_assets_dir

    root = repo_assets_dir()
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file()) if root.exists() else 0
    assert total <= 60 * MB
