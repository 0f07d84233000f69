"""Rollouts that read each prompt once (training/rl/group_prefill.py): the same tokens as TRL's plain
generate, greedy and sampled, on a tiny Llama and a tiny Gemma 3 (sliding window shorter than the
prompt), with the prompt computed once per distinct row."""

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from tests.export.tiny_models import save_tiny_gemma3, save_tiny_llama
from training.rl.group_prefill import share_group_prefill


@pytest.fixture(scope="module", params=[save_tiny_llama, save_tiny_gemma3], ids=["llama", "gemma3"])
def tiny(request, tmp_path_factory):
    return request.param(tmp_path_factory.mktemp("tiny"))


def lora(tiny):
    torch.manual_seed(0)
    config = LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    return get_peft_model(AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32), config).eval()


@pytest.mark.parametrize("sample", [False, True], ids=["greedy", "sampled"])
def test_shared_prefill_draws_the_same_rollouts_reading_each_prompt_once(tiny, sample):
    plain, shared = lora(tiny), lora(tiny)
    share_group_prefill(shared)
    prompts = torch.randint(4, 500, (2, 12))
    mask = torch.ones_like(prompts)
    prompts[0, :3], mask[0, :3] = 0, 0  # a left-padded prompt, as TRL pads them
    ids, masks = prompts.repeat_interleave(4, 0), mask.repeat_interleave(4, 0)  # groups of 4 rollouts
    seen = []
    inner = shared.get_base_model().model
    inner.register_forward_pre_hook(lambda m, a, k: seen.append(tuple(k["input_ids"].shape)), with_kwargs=True)
    kwargs = {"max_new_tokens": 10, "do_sample": sample, "pad_token_id": 0}
    torch.manual_seed(1)
    want = plain.generate(input_ids=ids, attention_mask=masks, **kwargs)
    torch.manual_seed(1)
    got = shared.generate(input_ids=ids, attention_mask=masks, **kwargs)
    assert torch.equal(got, want)
    # the 2 distinct prompts but their last token, once; then one token a step for the 8 rollouts
    assert seen[0] == (2, 11) and set(seen[1:]) == {(8, 1)}


def test_distinct_prompts_generate_as_usual(tiny):
    shared = lora(tiny)
    share_group_prefill(shared)
    ids = torch.randint(4, 500, (3, 6))
    out = shared.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=3, do_sample=False)
    assert out.shape == (3, 9)
