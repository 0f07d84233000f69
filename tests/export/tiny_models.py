"""Tiny randomly initialized HF models saved to folders: export in seconds, same code paths as the real ones."""

from __future__ import annotations

from pathlib import Path

import torch


def save_tiny_llama(folder: Path, seed: int = 0) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,  # grouped-query attention, as in SmolLM2
        max_position_embeddings=256,
        tie_word_embeddings=True,
        initializer_range=0.2,  # peaked logits: greedy decoding is not a coin toss between near-ties
    )
    model = LlamaForCausalLM(config).eval()
    model.save_pretrained(folder)
    return folder


def save_tiny_gemma3(folder: Path, seed: int = 0) -> Path:
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    torch.manual_seed(seed)
    config = Gemma3TextConfig(
        vocab_size=512,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=1,
        head_dim=32,
        max_position_embeddings=256,
        sliding_window=8,  # short, so that a 40-token run crosses it
        layer_types=["sliding_attention", "full_attention"],
        initializer_range=0.2,
    )
    model = Gemma3ForCausalLM(config).eval()
    model.save_pretrained(folder)
    return folder


def save_word_tokenizer(folder: Path, vocab_size: int = 512, cjk_every: int = 0) -> None:
    """A word-level tokenizer with ``vocab_size`` entries, so the tiny folders load like real models.

    ``cjk_every``: every n-th word is written in CJK (a script the vocabulary rule drops).
    """
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<bos>", "<eos>", "<unk>"]
    words = [
        f"字{i}" if cjk_every and i % cjk_every == 0 else f"w{i}" for i in range(vocab_size - len(special))
    ]
    vocab = {tok: i for i, tok in enumerate(special + words)}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<bos>", eos_token="<eos>", unk_token="<unk>", pad_token="<pad>"
    )
    tok.save_pretrained(folder)


def save_random_lora(model_folder: Path, out: Path, seed: int, targets: list[str], std: float = 0.2) -> Path:
    """A peft LoRA adapter with random (non-zero) A and B on ``targets``, saved in peft's folder format."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_folder, dtype=torch.float32)
    peft_model = get_peft_model(
        model, LoraConfig(r=4, lora_alpha=8, target_modules=targets, lora_dropout=0.0)
    )
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:  # peft starts B at zero (a no-op adapter): make it change the output
                param.normal_(0.0, std)
    peft_model.save_pretrained(out)
    return out
