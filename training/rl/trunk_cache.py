"""Cheaper RL update passes: train the LoRA of the top layers only, and run the frozen trunk once.

Dr.GRPO with ``num_iterations = 4`` scores one batch of rollouts five times: one no-grad pass for
the old policy's log-probs, then four forward + backward update passes. The prompts (two exemplar
paragraphs + the sentence, ~300 tokens) dominate each pass. With the LoRA of the bottom layers
frozen (``freeze_below``), those layers are a fixed function of the token ids: they give the same
hidden states in all five passes. ``TrunkCache`` computes them once per batch and hands the stored
output of the last frozen layer to the first trainable one; the backward pass stops there anyway,
as nothing below needs a gradient.

The cache is exact (the same kernels on the same inputs) and used only on full-sequence passes
without a KV cache, keyed by the token ids and attention mask: generation, and any new batch,
run the layers as usual.
"""

from __future__ import annotations

import re

import torch
from torch import nn

_LAYER = re.compile(r"\.layers\.(\d+)\.")


def decoder_layers(model: nn.Module) -> tuple[nn.Module, nn.ModuleList]:
    """The module that owns the decoder layers (Gemma3TextModel, LlamaModel, under peft's wrappers) and its layers."""
    for module in model.modules():
        layers = getattr(module, "layers", None)
        if isinstance(layers, nn.ModuleList) and hasattr(module, "embed_tokens"):
            return module, layers
    raise ValueError(f"no decoder layers found in {type(model).__name__}")


def freeze_below(model: nn.Module, top_layers: int) -> int:
    """Freeze every trainable parameter of the decoder layers below the top ``top_layers``; returns
    the index of the first layer that still trains (the trunk's length)."""
    _, layers = decoder_layers(model)
    first = max(len(layers) - top_layers, 0)
    for name, param in model.named_parameters():
        match = _LAYER.search(name)
        if param.requires_grad and match and int(match.group(1)) < first:
            param.requires_grad_(False)
    return first


class TrunkCache:
    """Runs decoder layers ``0 .. trunk - 1`` once per sequence (token ids + attention mask).

    Installed on the layers' own ``forward`` (state-dict keys and peft's saving unchanged). Rows are
    cached one by one, since TRL shuffles a batch's rows between the old-log-prob pass and the
    updates (a row's trunk output depends on its own tokens only: causal attention, no batch
    statistics). When every row of a pass is stored, layers below ``trunk - 1`` pass their input
    through and layer ``trunk - 1`` returns the stored rows; a pass with a new row recomputes the
    batch and the store then holds that batch only (memory stays one batch).
    """

    def __init__(self, model: nn.Module, trunk: int) -> None:
        owner, layers = decoder_layers(model)
        if any(p.requires_grad for layer in layers[:trunk] for p in layer.parameters()):
            raise ValueError("the trunk's layers must be frozen (freeze_below) to be cached")
        self.trunk = trunk
        self.rows: dict[bytes, torch.Tensor] = {}  # row key -> the last trunk layer's output [T, H]
        self.keys: list[bytes] | None = None  # the rows of this call (None: not cached)
        self.hit = False
        self.hits = self.misses = 0
        owner.register_forward_pre_hook(self._enter, with_kwargs=True)
        for index in range(trunk):
            layer = layers[index]
            layer.forward = self._wrap(index, layer.forward)

    def _enter(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        mask = kwargs.get("attention_mask")
        generating = kwargs.get("cache") is not None or kwargs.get("past_key_values") is not None
        if ids is None or generating or (mask is not None and mask.shape != ids.shape):
            self.keys, self.hit = None, False
            return
        ids = ids.cpu().numpy()
        mask = mask.cpu().numpy() if mask is not None else None
        self.keys = [
            ids[i].tobytes() + (mask[i].tobytes() if mask is not None else b"") for i in range(len(ids))
        ]
        self.hit = all(k in self.rows for k in self.keys)
        self.hits += self.hit
        self.misses += not self.hit

    def _wrap(self, index: int, forward):
        last = index == self.trunk - 1

        def cached_forward(hidden_states, *args, **kwargs):
            if self.keys is None:  # generation or inputs_embeds: the layers as usual
                return forward(hidden_states, *args, **kwargs)
            if self.hit:
                return torch.stack([self.rows[k] for k in self.keys]) if last else hidden_states
            out = forward(hidden_states, *args, **kwargs)
            if last:
                stored = out.detach()
                self.rows = {k: stored[i] for i, k in enumerate(self.keys)}
            return out

        return cached_forward
