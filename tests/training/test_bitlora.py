"""Bit-LoRA: ternary QAT trains through the STE, packs exactly at 2 bits, and the engine loads it."""

import torch

from engine.bitlora import pack_ternary, peft_folder, unpack_ternary


def _save_small_llama(folder):
    """Wider than tests/export's tiny model, so file headers do not dominate the size ratio."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=512,
        hidden_size=256,
        intermediate_size=512,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def test_pack_and_unpack_are_exact_for_every_length():
    gen = torch.Generator().manual_seed(0)
    for n in (1, 3, 4, 5, 1000, 1003):
        q = torch.randint(-1, 2, (n,), generator=gen, dtype=torch.int8)
        packed = pack_ternary(q)
        assert packed.dtype == torch.uint8 and packed.numel() == (n + 3) // 4
        assert torch.equal(unpack_ternary(packed, (n,)), q)


def test_ternary_lora_trains_packs_small_and_reloads_exactly(tmp_path):
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM

    from training.bitlora import export_bitlora, lora_linears, make_ternary

    base_dir = _save_small_llama(tmp_path / "base")
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base_dir),
        LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights="gaussian"),
    )
    assert make_ternary(model) == len(lora_linears(model)) > 0
    ids = torch.randint(0, 512, (2, 16), generator=torch.Generator().manual_seed(1))
    opt = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.5)
    masters = {id(p): p.detach().clone() for p in model.parameters() if p.requires_grad}
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward()
    opt.step()
    moved = sum(not torch.equal(masters[id(p)], p.detach()) for p in model.parameters() if p.requires_grad)
    assert moved > 0  # the straight-through estimator passes gradients to the fp32 masters
    for linear in lora_linears(model):  # the forward weight is s * q, q ternary
        w = linear.weight.detach()
        scale = w.abs().max()
        assert torch.all(torch.isclose(w.abs(), scale) | (w == 0))
    model.eval()
    with torch.no_grad():
        expected = model(input_ids=ids).logits

    sizes = export_bitlora(model, tmp_path / "bitlora")
    fp32_file = sizes["fp32_bytes"]  # the weights alone; peft's own fp32 file is a little larger
    assert fp32_file / sizes["packed_bytes"] >= 12, sizes
    assert not (tmp_path / "bitlora" / "adapter_model.safetensors").exists()

    folder = peft_folder(tmp_path / "bitlora", cache_root=tmp_path / "cache")
    reloaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(base_dir), str(folder)).eval()
    with torch.no_grad():
        assert torch.allclose(reloaded(input_ids=ids).logits, expected, atol=1e-5)
    assert peft_folder(tmp_path / "bitlora", cache_root=tmp_path / "cache") == folder  # cached
