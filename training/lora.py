"""LoRA pieces shared by the recipes: config, A-matrix freezing, compact saving, intruder monitor.

A LoRA layer computes  y = W0 x + (alpha / r) * B A x  with A [r, in], B [out, r],
B initialised to zero so training starts at the base model.

Intruder dimensions (Shuttleworth et al., 2024, "LoRA vs Full Fine-tuning: An
Illusion of Equivalence"): singular vectors of the tuned matrix W0 + dW that are
nearly orthogonal to every singular vector of W0. They appear with LoRA (high
rank, high learning rate) and go with forgetting, so the recipes log them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

ALL_LINEAR = "all-linear"
ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]


def lora_config(
    r: int = 64, alpha: int = 128, dropout: float = 0.0, target_modules: str | list[str] = ALL_LINEAR
):
    from peft import LoraConfig

    target = ATTENTION if target_modules == "attention" else target_modules
    return LoraConfig(
        r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target, bias="none", task_type="CAUSAL_LM"
    )


def freeze_lora_a(model) -> int:
    """LoRA-FA: keep the random A projections fixed, train only B. Returns how many tensors were frozen."""
    frozen = 0
    for name, param in model.named_parameters():
        if ".lora_A." in name:
            param.requires_grad_(False)
            frozen += 1
    return frozen


def stacked_peft_model(base, below: list[tuple[str, Path]], config, adapter_name: str = "default"):
    """A new trainable adapter on top of shipped ones that stay active and frozen.

    ``below``: (name, peft folder) of the adapters the new one will be composed with at run time
    (e.g. persona under task_continue). Training the new adapter through their summed deltas
    teaches it what they do not already do, instead of learning the same shift twice: two
    adapters trained alone on overlapping data overshoot when their deltas are added.
    """
    from peft import PeftModel

    (first, first_dir), *rest = below
    model = PeftModel.from_pretrained(base, str(first_dir), adapter_name=first, is_trainable=False)
    for name, folder in rest:
        model.load_adapter(str(folder), adapter_name=name, is_trainable=False)
    model.add_adapter(adapter_name, config)
    activate_stack(model, [name for name, _ in below], adapter_name)
    return model


def activate_stack(model, below: list[str], adapter_name: str | None = "default") -> None:
    """Make ``below`` (+ ``adapter_name``, unless None) the active adapters, only ``adapter_name`` trainable.

    peft's set_adapter marks every active adapter trainable, so the ones below are frozen again here.
    """
    model.base_model.set_adapter([*below, adapter_name] if adapter_name else list(below))
    for pname, param in model.named_parameters():
        param.requires_grad_(adapter_name is not None and f".{adapter_name}." in pname and "lora_" in pname)


def count_trainable(model) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def save_adapter(
    peft_model, folder: Path, adapter_name: str = "default", dtype: torch.dtype = torch.float16
) -> Path:
    """Save in peft's folder format with the weights cast to ``dtype`` (fp16 halves the shipped size;
    peft casts them back to the base's dtype on load)."""
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    state = get_peft_model_state_dict(peft_model, adapter_name=adapter_name)
    save_file(
        {k: v.detach().to(dtype).contiguous() for k, v in state.items()},
        str(folder / "adapter_model.safetensors"),
        metadata={"format": "pt"},
    )
    os.chmod(folder / "adapter_model.safetensors", 0o644)  # a shipped file: readable by all, like the rest
    config = peft_model.peft_config[adapter_name]
    config.save_pretrained(str(folder))
    # peft writes the base's absolute path; a shipped adapter must not name a machine's folder.
    cfg_path = folder / "adapter_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["base_model_name_or_path"] = None
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True))
    return folder


def lora_delta(layer, adapter_name: str = "default") -> torch.Tensor:
    """dW = (alpha / r) * B @ A of one peft LoraLayer, shape [out, in]."""
    a = layer.lora_A[adapter_name].weight
    b = layer.lora_B[adapter_name].weight
    return (b @ a) * layer.scaling[adapter_name]


def intruder_stats(
    w0: torch.Tensor,
    dw: torch.Tensor,
    top_k: int = 10,
    threshold: float = 0.5,
    u0: torch.Tensor | None = None,
) -> dict[str, float]:
    """Compare the top-k left singular vectors of W0 + dW with all singular vectors of W0.

    For each tuned vector, its best |cosine| with any base vector; an intruder is
    one whose best match is below ``threshold``. Returns the count of intruders
    and the mean/min best match (1.0 = the top directions are the base's own).
    """
    w0 = w0.detach().float()
    if u0 is None:
        u0 = torch.linalg.svd(w0, full_matrices=False).U
    u1 = torch.linalg.svd(w0 + dw.detach().float(), full_matrices=False).U[:, :top_k]
    best = (u1.T @ u0).abs().max(dim=1).values  # [top_k]
    return {
        "intruders": int((best < threshold).sum()),
        "mean_match": float(best.mean()),
        "min_match": float(best.min()),
    }


class IntruderMonitor:
    """Watches a few LoRA layers; ``measure()`` returns stats averaged over them."""

    def __init__(
        self,
        peft_model,
        module_names: list[str] | None = None,
        top_k: int = 10,
        threshold: float = 0.5,
        adapter_name: str = "default",
    ) -> None:
        from peft.tuners.lora import LoraLayer

        layers = {
            n: m
            for n, m in peft_model.named_modules()
            if isinstance(m, LoraLayer) and adapter_name in m.lora_A
        }
        if module_names:
            chosen = {n: m for n, m in layers.items() if any(n.endswith(s) for s in module_names)}
        else:  # first, middle and last watched layer: enough to see the trend, cheap to SVD
            names = sorted(layers, key=_layer_order)
            chosen = {n: layers[n] for n in {names[0], names[len(names) // 2], names[-1]}} if names else {}
        self.layers = chosen
        self.top_k, self.threshold, self.adapter_name = top_k, threshold, adapter_name
        self._u0 = {
            n: torch.linalg.svd(m.get_base_layer().weight.detach().float(), full_matrices=False).U
            for n, m in chosen.items()
        }

    def measure(self) -> dict[str, float]:
        if not self.layers:
            return {}
        rows = []
        with torch.no_grad():
            for name, layer in self.layers.items():
                rows.append(
                    intruder_stats(
                        layer.get_base_layer().weight,
                        lora_delta(layer, self.adapter_name),
                        self.top_k,
                        self.threshold,
                        self._u0[name],
                    )
                )
        return {f"intruder/{k}": sum(r[k] for r in rows) / len(rows) for k in rows[0]}


def _layer_order(name: str) -> tuple[int, str]:
    digits = [int(p) for p in name.split(".") if p.isdigit()]
    return (digits[0] if digits else -1, name)
