"""Bit-LoRA training: ternary quantization-aware LoRA (absmean scale, straight-through estimator).

Each LoRA matrix W (peft's lora_A / lora_B) is used in the forward pass as

    W_q = s * round(clip(W / s, -1, 1)),   s = mean(|W|)

while the gradient flows to the fp32 W as if W_q were W (STE: W + (W_q - W).detach()).
After training, W_q is exactly s * q with q in {-1, 0, 1}; ``export_bitlora`` writes it packed at
2 bits per weight (``engine/bitlora.py``), which the engine unpacks at load and composes like any
adapter. The fp32 masters exist only during training.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn.utils import parametrize

from engine.bitlora import save_packed, ternarize


class TernarySTE(nn.Module):
    """The parametrization W -> W_q with a straight-through gradient."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        q, scale = ternarize(weight)
        return weight + (q.to(weight.dtype) * scale.to(weight.dtype) - weight).detach()


def lora_linears(model: nn.Module) -> list[nn.Linear]:
    """Every lora_A / lora_B linear of a peft model (all adapters)."""
    found = []
    for module in model.modules():
        for part in ("lora_A", "lora_B"):
            holder = getattr(module, part, None)
            if isinstance(holder, nn.ModuleDict):
                found += [m for m in holder.values() if isinstance(m, nn.Linear)]
    return found


def make_ternary(model: nn.Module) -> int:
    """Quantize every LoRA matrix of ``model`` in its forward pass from now on. Returns how many."""
    linears = lora_linears(model)
    for linear in linears:
        if not parametrize.is_parametrized(linear, "weight"):
            parametrize.register_parametrization(linear, "weight", TernarySTE())
    return len(linears)


def export_bitlora(model, folder: Path) -> dict[str, int]:
    """Save a ternary-trained peft model as a packed Bit-LoRA folder. Returns the byte sizes.

    The parametrizations are removed with their quantized value kept, so peft saves W_q;
    its fp32 file is then replaced by the packed one.
    """
    from safetensors.torch import load_file

    for linear in lora_linears(model):
        if parametrize.is_parametrized(linear, "weight"):
            parametrize.remove_parametrizations(linear, "weight", leave_parametrized=True)
    folder = Path(folder)
    model.save_pretrained(str(folder), safe_serialization=True)
    fp_file = folder / "adapter_model.safetensors"
    state = {k: v.float() for k, v in load_file(str(fp_file)).items()}
    packed_file = save_packed(state, folder)
    fp32_bytes = sum(v.numel() * 4 for v in state.values())
    fp_file.unlink()
    return {"fp32_bytes": fp32_bytes, "packed_bytes": packed_file.stat().st_size}
