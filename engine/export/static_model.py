"""An HF causal LM rewritten for export: static per-layer KV buffers and ExecuTorch's fused attention ops.

The Hugging Face model stays as it is (its projections, norms, RoPE and MLP
are traced unchanged); only the attention kernel is swapped through
transformers' AttentionInterface for one that writes the new keys/values into
a fixed-size buffer with ``llama::update_cache`` and attends with
``llama::custom_sdpa``. Both ops are implemented in ExecuTorch's runtime, so
the decode step is a handful of delegated XNNPACK calls instead of hundreds of
small portable ops (transformers' own StaticCache export splits into ~333
pieces and decodes ~6x slower, see ASSETS.md).

Two modules are exported as two methods of one program:

    embed(tokens [1, n] int64)                  -> embeds [1, n, hidden]
    forward(embeds [1, n, hidden], pos [1] int64) -> logits of the last position [1, vocab]

``forward`` takes embeddings so that persona soft tokens go through the same
method as text; a token step is ``forward(embed(ids), pos)``.
"""

from __future__ import annotations

import torch
from torch import nn

ATTENTION_NAME = "killah_custom_sdpa"

_registered = False


def load_custom_ops() -> None:
    """Register ExecuTorch's llama::* and quantized ops with torch (needed to trace and to run a program)."""
    import executorch.extension.llm.custom_ops.custom_ops  # noqa: F401 - registers llama::custom_sdpa/update_cache
    import executorch.kernels.quantized  # noqa: F401 - registers quantized_decomposed::embedding_byte etc.


def _custom_sdpa_attention(
    module: nn.Module,
    query: torch.Tensor,  # [1, heads, n, head_dim], RoPE applied
    key: torch.Tensor,  # [1, kv_heads, n, head_dim]
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    sliding_window: int | None = None,
    killah_start: int | None = None,  # the first position of this chunk (a SymInt while tracing)
    killah_window_mask: torch.Tensor | None = None,  # [n, max_seq] additive mask for sliding layers
    **kwargs,
) -> tuple[torch.Tensor, None]:
    # The ops want [batch, seq, heads, dim]; HF gives [batch, heads, seq, dim].
    q = query.transpose(1, 2)
    k = key.transpose(1, 2)
    v = value.transpose(1, 2)
    torch.ops.llama.update_cache(k, module.k_cache, killah_start)
    torch.ops.llama.update_cache(v, module.v_cache, killah_start)
    if sliding_window is not None and killah_window_mask is not None:
        out = torch.ops.llama.custom_sdpa(
            q, module.k_cache, module.v_cache, killah_start, killah_window_mask, 0.0, False, scaling
        )
    else:
        # Causal from killah_start: the op only reads keys 0 … start+n-1, so stale
        # entries past a truncation point are never seen.
        out = torch.ops.llama.custom_sdpa(
            q, module.k_cache, module.v_cache, killah_start, None, 0.0, True, scaling
        )
    return out, None  # [1, n, heads, head_dim]; HF reshapes it to [1, n, hidden]


def _register_attention() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface

    AttentionInterface.register(ATTENTION_NAME, _custom_sdpa_attention)
    _registered = True


def attention_modules(model: nn.Module) -> list[nn.Module]:
    """The self-attention blocks, in layer order (any HF decoder with q/k/v projections and a layer_idx)."""
    found = [
        m
        for m in model.modules()
        if hasattr(m, "k_proj") and hasattr(m, "layer_idx") and hasattr(m, "head_dim")
    ]
    return sorted(found, key=lambda m: m.layer_idx)


class StaticCacheLM(nn.Module):
    """forward(embeds, pos) -> last logits, with the KV cache in buffers owned by each attention block."""

    def __init__(self, causal_lm: nn.Module, max_seq: int, keep_ids: torch.Tensor | None = None) -> None:
        super().__init__()
        load_custom_ops()
        _register_attention()
        self.lm = causal_lm
        self.max_seq = max_seq
        text_config = causal_lm.config.get_text_config()
        text_config._attn_implementation = ATTENTION_NAME
        causal_lm.config._attn_implementation = ATTENTION_NAME
        self.windows = sorted(
            {m.sliding_window for m in attention_modules(causal_lm) if getattr(m, "sliding_window", None)}
        )
        if len(self.windows) > 1:
            raise ValueError(f"more than one sliding window size: {self.windows}")
        # A window at least as long as the cache never hides anything: plain causal attention is exact.
        self.window = self.windows[0] if self.windows and self.windows[0] < max_seq else None
        for attn in attention_modules(causal_lm):
            kv_heads = attn.k_proj.out_features // attn.head_dim
            shape = (1, max_seq, kv_heads, attn.head_dim)
            attn.register_buffer("k_cache", torch.zeros(shape), persistent=False)
            attn.register_buffer("v_cache", torch.zeros(shape), persistent=False)
        if keep_ids is not None:
            # Pruned vocabulary: the program scores only these rows of the output layer.
            head = causal_lm.get_output_embeddings()
            pruned = nn.Linear(head.in_features, len(keep_ids), bias=False)
            pruned.weight = nn.Parameter(head.weight.detach()[keep_ids].clone(), requires_grad=False)
            causal_lm.set_output_embeddings(pruned)

    def _window_mask(self, start: int, n: int) -> torch.Tensor:
        q_pos = torch.arange(n, dtype=torch.long).unsqueeze(1) + start  # [n, 1]
        k_pos = torch.arange(self.max_seq, dtype=torch.long).unsqueeze(0)  # [1, max_seq]
        visible = (k_pos <= q_pos) & (q_pos - k_pos < self.window)
        return torch.where(visible, 0.0, float("-inf")).to(torch.float32)

    def forward(self, embeds: torch.Tensor, input_pos: torch.Tensor) -> torch.Tensor:
        n = embeds.shape[1]
        start = input_pos[0].item()
        torch._check_is_size(start)
        torch._check(start < self.max_seq)
        torch._check(start + n <= self.max_seq)
        positions = (torch.arange(n, dtype=torch.long) + input_pos[0]).unsqueeze(0)
        extra = {"killah_start": start}
        if self.window is not None:
            extra["killah_window_mask"] = self._window_mask(start, n)
        out = self.lm(
            inputs_embeds=embeds,
            position_ids=positions,
            use_cache=False,
            logits_to_keep=1,
            **extra,
        )
        return out.logits[:, -1, :]


class TokenEmbedding(nn.Module):
    """tokens -> input embeddings, including Gemma's sqrt(hidden) scale (which lives in HF's embedding module)."""

    def __init__(self, embedding: nn.Embedding) -> None:
        super().__init__()
        self.table = nn.Embedding(embedding.num_embeddings, embedding.embedding_dim)
        self.table.weight = nn.Parameter(embedding.weight.detach().clone(), requires_grad=False)
        scale = getattr(embedding, "embed_scale", None)
        self.register_buffer(
            "scale", torch.as_tensor(1.0 if scale is None else scale, dtype=torch.float32).clone()
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.table(tokens).to(torch.float32) * self.scale.to(torch.float32)  # the table may be fp16
