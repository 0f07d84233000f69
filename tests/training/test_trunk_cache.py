"""Cheaper Dr.GRPO updates (training/rl/trunk_cache.py): LoRA trained on the top layers only, the frozen
trunk run once per sequence; the loss and the gradients are those of the uncached model."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from tests.export.tiny_models import save_tiny_llama
from training.rl.trunk_cache import TrunkCache, freeze_below


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny_llama(tmp_path_factory.mktemp("tiny"))


def lora_model(tiny, top_layers: int, cache: bool):
    torch.manual_seed(0)
    config = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32), config)
    trunk = freeze_below(model, top_layers)
    return model, (TrunkCache(model, trunk) if cache else None), trunk


def loss_and_grads(model, ids, mask):
    model.zero_grad()
    out = model(input_ids=ids, attention_mask=mask, use_cache=False)
    loss = out.logits.log_softmax(-1).mean()
    loss.backward()
    return out.logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def test_freeze_below_leaves_only_the_top_layers_trainable(tiny):
    model, _, trunk = lora_model(tiny, top_layers=1, cache=False)
    assert trunk == 1
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(".layers.1." in n and "lora_" in n for n in trainable)


def test_cached_trunk_gives_the_same_loss_and_gradients_on_repeated_and_shuffled_rows(tiny):
    plain, _, _ = lora_model(tiny, top_layers=1, cache=False)
    cached, cache, _ = lora_model(tiny, top_layers=1, cache=True)
    ids = torch.randint(4, 500, (4, 10))
    mask = torch.ones_like(ids)
    mask[0, :3] = 0  # a left-padded row, as TRL pads prompts
    with torch.no_grad():  # the old-log-prob pass stores the trunk's output
        cached(input_ids=ids, attention_mask=mask, use_cache=False)
    assert (cache.hits, cache.misses) == (0, 1)
    for order in ([0, 1, 2, 3], [2, 0, 3, 1]):  # the update passes see the rows shuffled
        want_logits, want_grads = loss_and_grads(plain, ids[order], mask[order])
        got_logits, got_grads = loss_and_grads(cached, ids[order], mask[order])
        torch.testing.assert_close(got_logits, want_logits, rtol=0, atol=1e-5)
        assert got_grads.keys() == want_grads.keys()
        for name in want_grads:
            torch.testing.assert_close(got_grads[name], want_grads[name], rtol=1e-4, atol=1e-6)
    assert (cache.hits, cache.misses) == (2, 1)
    new = torch.randint(4, 500, (4, 10))  # a new batch: computed, not served
    torch.testing.assert_close(
        loss_and_grads(cached, new, mask)[0], loss_and_grads(plain, new, mask)[0], rtol=0, atol=1e-5
    )
    assert cache.misses == 2


def test_generation_runs_the_trunk_as_usual(tiny):
    plain, _, _ = lora_model(tiny, top_layers=1, cache=False)
    cached, cache, _ = lora_model(tiny, top_layers=1, cache=True)
    ids = torch.randint(4, 500, (2, 6))
    with torch.no_grad():
        cached(input_ids=ids, attention_mask=torch.ones_like(ids), use_cache=False)
        kwargs = {"max_new_tokens": 5, "do_sample": False, "pad_token_id": 0}
        got = cached.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
        want = plain.generate(input_ids=ids, attention_mask=torch.ones_like(ids), **kwargs)
    assert torch.equal(got, want)
    assert cache.hits == 0  # the prefill of the same ids went through the layers, with a KV cache
