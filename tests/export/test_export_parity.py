"""Exported programs compute what the eager model computes (fp32 exactly, INT8 within a perplexity margin)."""

from __future__ import annotations

import torch

from engine.backends.executorch import ExecuTorchBackend
from engine.export.parity import greedy_tokens, perplexity

PROMPT = [1, 17, 230, 45, 99, 311, 8, 120, 77, 400, 5, 64]


def test_fp32_program_reproduces_eager_greedy_tokens(tiny_llama_fp32, fresh_eager):
    eager, program = fresh_eager(), ExecuTorchBackend(tiny_llama_fp32)
    expected = greedy_tokens(eager, PROMPT, 40)
    assert greedy_tokens(program, PROMPT, 40) == expected
    assert len(set(expected)) > 5  # a real sequence, not one token repeated


def _forced_logits(backend, ids: list[int]) -> torch.Tensor:
    """Logits after each position of ``ids``, fed one token at a time (teacher forcing)."""
    backend.reset()
    return torch.stack([backend.forward_tokens([t], pos) for pos, t in enumerate(ids)])


def test_fp32_gemma_composition_matches_peft_with_both_adapters_active(
    tiny_gemma_composed_fp32, tiny_gemma_dir, gemma_adapters
):
    from peft import PeftModel

    from engine.backends.eager import EagerBackend
    from engine.models import load_model

    loaded = load_model(tiny_gemma_dir)
    peft_model = PeftModel.from_pretrained(loaded.model, str(gemma_adapters[0]), adapter_name="persona")
    peft_model.load_adapter(str(gemma_adapters[1]), adapter_name="task")
    peft_model.base_model.set_adapter(["persona", "task"])
    eager = EagerBackend(loaded)  # peft injected the LoRA layers into loaded.model in place
    # 52 positions with a window of 8: most steps attend through the sliding-window mask.
    ids = [int(t) for t in torch.randint(4, 512, (52,), generator=torch.Generator().manual_seed(1))]
    expected = _forced_logits(eager, ids)
    got = _forced_logits(ExecuTorchBackend(tiny_gemma_composed_fp32), ids)
    assert torch.allclose(got, expected, atol=1e-3), float((got - expected).abs().max())
    assert torch.equal(got.argmax(-1), expected.argmax(-1))
    peft_model.base_model.set_adapter(["persona"])
    one_adapter = _forced_logits(eager, ids)
    assert (one_adapter - expected).abs().max() > 0.1  # the second adapter matters: the test can fail


def test_embeddings_input_matches_token_input_and_eager(tiny_llama_fp32, fresh_eager):
    program, eager = ExecuTorchBackend(tiny_llama_fp32), fresh_eager()
    embeds = program.embed_tokens(PROMPT)
    assert torch.allclose(embeds, eager.embed_tokens(PROMPT), atol=1e-6)
    from_tokens = program.forward_tokens(PROMPT, 0)
    program.reset()
    assert torch.allclose(program.forward_embeds(embeds, 0), from_tokens, atol=1e-5)
    # persona soft tokens: arbitrary vectors after BOS, then text
    soft = torch.randn(3, embeds.shape[1], generator=torch.Generator().manual_seed(0))
    program.reset()
    program.forward_tokens(PROMPT[:1], 0)
    program.forward_embeds(soft, 1)
    got = program.forward_tokens(PROMPT[1:], 4)
    eager.forward_tokens(PROMPT[:1], 0)
    eager.forward_embeds(soft, 1)
    want = eager.forward_tokens(PROMPT[1:], 4)
    assert torch.allclose(got, want, atol=1e-4)


def test_truncate_keeps_the_shared_prefix_and_forgets_the_rest(tiny_llama_fp32, fresh_eager):
    program = ExecuTorchBackend(tiny_llama_fp32)
    program.forward_tokens(PROMPT, 0)  # the previous request
    program.truncate(6)  # the next one shares 6 positions
    reused = program.forward_tokens([300, 301, 302], 6)
    fresh = fresh_eager().forward_tokens(PROMPT[:6] + [300, 301, 302], 0)
    assert torch.allclose(reused, fresh, atol=1e-4)


def test_quantized_program_perplexity_is_within_margin_of_eager_fp32(tiny_llama_quantized, fresh_eager):
    # Held-out text for a random model: a sequence it generates itself (seeded sampling), so that
    # its perplexity is well below the vocabulary size and meaningful, unlike on arbitrary tokens.
    eager = fresh_eager()
    gen = torch.Generator().manual_seed(7)
    ids = [1]
    logits = eager.forward_tokens(ids, 0)
    for pos in range(1, 96):
        ids.append(int(torch.multinomial(torch.softmax(logits, -1), 1, generator=gen)))
        logits = eager.forward_tokens([ids[-1]], pos)
    ppl_fp32 = perplexity(fresh_eager(), ids)
    ppl_quant = perplexity(ExecuTorchBackend(tiny_llama_quantized), ids)
    print(f"tiny llama perplexity: eager fp32 {ppl_fp32:.3f}, ExecuTorch default preset {ppl_quant:.3f}")
    assert ppl_fp32 < 256  # well below the vocabulary size (512): the text is not noise to the model
    # The stated margin: 10 %. (8-bit weights; 4-bit ones cost this random model +27 %, Gemma 270M +41 %.)
    assert ppl_quant < ppl_fp32 * 1.10
    assert ppl_quant != ppl_fp32  # it really is the quantized program
