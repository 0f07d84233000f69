"""Parking the eager base weights (engine/backends/parking.py) on a real tiny model with LoRA layers."""

from __future__ import annotations

import torch

from engine.backends.eager import EagerBackend
from engine.backends.parking import checkpoint_name
from engine.models import load_model


def _logits(backend, ids):
    backend.reset()
    return backend.forward_tokens(ids, 0, rows=len(ids))


def test_checkpoint_names_drop_the_peft_wrapping():
    assert checkpoint_name("base_model.model.model.layers.0.mlp.up_proj.base_layer.weight") == (
        "model.layers.0.mlp.up_proj.weight"
    )
    assert checkpoint_name("model.embed_tokens.weight") == "model.embed_tokens.weight"


def test_parking_frees_the_base_and_restores_it_bit_for_bit_under_adapters(tiny_gemma_dir, gemma_adapters):
    from peft import PeftModel

    loaded = load_model(tiny_gemma_dir)
    PeftModel.from_pretrained(loaded.model, str(gemma_adapters[0]), adapter_name="persona")
    eager = EagerBackend(loaded)
    ids = [5, 9, 31, 7, 200, 3]
    before = _logits(eager, ids)
    total = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    lora = {n: p.clone() for n, p in loaded.model.named_parameters() if "lora_" in n}

    freed = eager.park()
    assert eager.weights.parked and freed == total - sum(p.numel() * p.element_size() for p in lora.values())
    assert all(p.numel() for n, p in loaded.model.named_parameters() if "lora_" in n)  # LoRA stays
    after = _logits(eager, ids)  # the first use reads them back
    assert not eager.weights.parked
    assert torch.equal(after, before)
    assert all(torch.equal(p, lora[n]) for n, p in loaded.model.named_parameters() if "lora_" in n)
    assert eager.park() > 0  # and again
    eager.weights.restore()
    assert torch.equal(_logits(eager, ids), before)
