"""Semantic Flow Regularization (training.sfr) on a tiny model: the loss by hand, weight 0 = plain SFT,
gradients reach the LoRA through the prefix state, and the flow head never reaches the saved adapter."""

import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.export.tiny_models import save_tiny_llama, save_word_tokenizer
from training.config import REPO, load_recipe_config
from training.loss import CompletionLM, pad_batch
from training.recipes import sft_lora
from training.sfr import FlowHead, SfrCompletionLM, flow_matching_loss, prefix_state, sfr_loss


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    save_tiny_llama(folder)
    save_word_tokenizer(folder)
    return folder


def _peft(tiny: Path):
    from peft import get_peft_model
    from transformers import AutoModelForCausalLM

    from training.lora import lora_config

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.float32)
    peft_model = get_peft_model(model, lora_config(4, 8, 0.0, "all-linear"))
    with torch.no_grad():  # B starts at zero; non-zero B makes every LoRA factor receive gradient
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.05)
    return peft_model


def _batch() -> dict:
    rows = [
        {"input_ids": [1, 10, 11, 12, 13, 14], "labels": [-100, -100, -100, 12, 13, 14]},
        {"input_ids": [1, 20, 21, 22, 23], "labels": [-100, -100, -100, -100, 23]},
    ]
    batch = pad_batch(rows, 0)
    batch["sfr_target"] = torch.nn.functional.normalize(
        torch.randn(2, 384, generator=torch.Generator().manual_seed(3)), dim=-1
    )
    return batch


def _grads(module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in module.named_parameters() if "lora_" in n and p.grad is not None}


def test_the_loss_matches_a_hand_computation_for_a_fixed_t_and_x0():
    head = FlowHead(hidden=3, emb_dim=2)
    with torch.no_grad():  # v(.) = (1, 0) whatever its input: the loss is then computable by hand
        head.mlp[-1].weight.zero_()
        head.mlp[-1].bias.copy_(torch.tensor([1.0, 0.0]))
    seen = []
    head.mlp.register_forward_pre_hook(lambda _m, args: seen.append(args[0][:, :2].clone()))
    t, x0, x1 = torch.tensor([0.25]), torch.tensor([[1.0, -1.0]]), torch.tensor([[3.0, 1.0]])
    loss = flow_matching_loss(head, torch.zeros(1, 3), x1, t, x0)
    # x_t = 0.75 * (1, -1) + 0.25 * (3, 1) = (1.5, -0.5); target x1 - x0 = (2, 2);
    # ((1 - 2)^2 + (0 - 2)^2) / 2 = 2.5
    assert torch.allclose(seen[0], torch.tensor([[1.5, -0.5]]))
    assert loss.item() == pytest.approx(2.5)


def test_sfr_loss_scales_the_target_and_draws_t_and_x0_from_its_generator():
    head, h, x1 = FlowHead(hidden=8), torch.randn(4, 8), torch.randn(4, 384)
    drawn = torch.Generator().manual_seed(7)
    t, x0 = torch.rand(4, generator=drawn), torch.randn(4, 384, generator=drawn)
    expected = flow_matching_loss(head, h, x1 * math.sqrt(384), t, x0)  # unit targets scaled to var ~1
    assert sfr_loss(head, h, x1, torch.Generator().manual_seed(7)).item() == pytest.approx(expected.item())
    assert sfr_loss(head, h, x1, torch.Generator().manual_seed(8)).item() != pytest.approx(expected.item())


def test_prefix_state_is_the_last_prompt_position_of_each_row():
    hidden = torch.arange(2 * 6, dtype=torch.float32).reshape(2, 6, 1)
    labels = torch.tensor([[-100, -100, -100, 5, 6, 7], [-100, -100, -100, -100, -100, 9]])
    assert prefix_state(hidden, labels).flatten().tolist() == [2.0, 10.0]


def test_weight_zero_gives_the_plain_sft_loss_and_gradients(tiny):
    batch = _batch()
    plain = CompletionLM(_peft(tiny)).train()
    ce = plain(**{k: v for k, v in batch.items() if k != "sfr_target"})["loss"]
    ce.backward()
    sfr = SfrCompletionLM(_peft(tiny), FlowHead(64), weight=0.0).train()
    total = sfr(**batch)["loss"]
    total.backward()
    assert total.item() == pytest.approx(ce.item(), abs=0)
    expected, got = _grads(plain), _grads(sfr)
    assert expected.keys() == got.keys() and expected
    assert all(torch.equal(expected[n], got[n]) for n in expected)


def test_with_weight_the_flow_loss_sends_gradients_to_the_lora_through_h(tiny):
    batch = _batch()
    wrapper = SfrCompletionLM(_peft(tiny), FlowHead(64), weight=1.0).train()
    hidden, labels = wrapper.hidden_states(batch["input_ids"], batch["attention_mask"], batch["labels"])
    sfr_loss(wrapper.sfr_head, prefix_state(hidden, labels), batch["sfr_target"]).backward()
    flow_only = _grads(wrapper)
    assert any(g.abs().sum() > 0 for n, g in flow_only.items() if "lora_A" in n)
    assert any(g.abs().sum() > 0 for n, g in flow_only.items() if "lora_B" in n)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in wrapper.sfr_head.parameters())
    # ... and the recipe's total loss is CE + weight * SFR, so its gradient differs from CE alone.
    wrapper.zero_grad()
    (wrapper(**batch)["loss"]).backward()
    total = _grads(wrapper)
    wrapper.zero_grad()
    wrapper(**{k: v for k, v in batch.items() if k != "sfr_target"})["loss"].backward()
    assert any(not torch.allclose(total[n], g) for n, g in _grads(wrapper).items())


def _recipe_cfg(tiny: Path, tmp_path: Path, *extra: str) -> sft_lora.SftConfig:
    return load_recipe_config(
        sft_lora.SftConfig,
        REPO / "training" / "configs" / "gemma3-270m" / "persona.yaml",
        [
            f"base={tiny}",
            "train.max_steps=2",
            "train.batch_size=2",
            "train.warmup_steps=0",
            "train.log_every=1",
            "data.train_examples=6",
            "data.eval_examples=2",
            "data.max_prompt_tokens=32",
            "data.max_completion_tokens=12",
            "lora.r=4",
            "lora.alpha=8",
            "monitor.every=0",
            "persona.soft_tokens=false",
            "eval_base=false",
            "output.require_improvement=false",
            "output.register=false",
            "output.dtype=float32",
            f"output.dir={tmp_path / 'adapter'}",
            f"output.manifest_root={tmp_path / 'assets'}",
            f"output.run_dir={tmp_path / 'run'}",
            *extra,
        ],
    )


def test_the_recipe_trains_the_head_and_saves_only_the_peft_files(tiny, tmp_path):
    recipe = sft_lora.SftLoraRecipe(_recipe_cfg(tiny, tmp_path, "sfr.weight=0.5", "sfr.hidden=32"))
    metrics = recipe.run()
    assert metrics["sfr_weight"] == 0.5 and metrics["final_sfr_loss"] > 0
    assert all(r["sfr_target"].shape == (384,) for r in recipe.train_rows)
    head_params = {id(p) for p in recipe.wrapper.sfr_head.parameters()}
    optimised = {id(p) for group in recipe.trainer.optimizer.param_groups for p in group["params"]}
    assert head_params <= optimised  # trained jointly with the adapter
    folder = tmp_path / "adapter"
    assert {p.name for p in folder.iterdir()} == {"adapter_config.json", "adapter_model.safetensors"}
    saved = load_file(str(folder / "adapter_model.safetensors"))
    assert saved and all("lora_" in k for k in saved)
    assert sum(v.numel() for v in saved.values()) == metrics["trainable_params"]


def test_weight_zero_runs_the_plain_recipe(tiny, tmp_path):
    plain = sft_lora.SftLoraRecipe(_recipe_cfg(tiny, tmp_path / "a"))
    plain.run()
    off = sft_lora.SftLoraRecipe(_recipe_cfg(tiny, tmp_path / "b", "sfr.weight=0"))
    off.run()
    assert type(off.wrapper) is CompletionLM and "sfr_target" not in off.train_rows[0]
    a = load_file(str(tmp_path / "a" / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "b" / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
