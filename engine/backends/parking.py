"""Parking the eager model's base weights while ExecuTorch programs serve every request.

The fp32 base of Gemma 3 270M is ~1.1 GB, half of the app's memory, and once each composition in use
has its program, eager runs nothing. Parking swaps every frozen base tensor for an empty one (the
memory map they view is released); the first eager use reads them back from the converted
safetensors the model was loaded from (~1 s, usually from the page cache). LoRA weights stay: they
are small, and adapters loaded since (the writer's personal one) exist only in memory.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

log = logging.getLogger(__name__)


def checkpoint_name(parameter_name: str) -> str:
    """A parameter's name in the checkpoint: peft adds a wrapper prefix and ``base_layer``."""
    return parameter_name.removeprefix("base_model.model.").replace(".base_layer.", ".")


class ParkedWeights:
    """Drop and restore the frozen base weights of one model, by checkpoint name."""

    def __init__(self, model: torch.nn.Module, folder: Path) -> None:
        self.model = model
        self.files = sorted(Path(folder).glob("*.safetensors"))
        self._parked: dict[str, torch.nn.Parameter] = {}

    @property
    def parked(self) -> bool:
        return bool(self._parked)

    def park(self) -> int:
        """Drop the weights; returns the bytes freed (0 if there is no checkpoint to restore from)."""
        if self._parked or not self.files:
            return 0
        stored = self._stored_names()
        freed = 0
        for name, param in self.model.named_parameters():  # tied weights appear once
            key = checkpoint_name(name)
            # Every stored tensor goes, norms too: the loaded weights are views of the checkpoint's
            # memory map, and one small tensor left on it keeps the whole 1 GB mapping resident.
            if "lora_" in name or key not in stored:
                continue
            freed += param.numel() * param.element_size()
            self._parked[key] = param
            param.data = torch.empty(0, dtype=param.dtype)
        log.info("eager weights parked: %.0f MB freed", freed / 2**20)
        return freed

    def restore(self) -> None:
        """Read the parked weights back, in the dtype they had; a no-op when nothing is parked."""
        if not self._parked:
            return
        from safetensors import safe_open

        for file in self.files:
            with safe_open(str(file), framework="pt") as f:
                for key in set(f.keys()) & self._parked.keys():
                    param = self._parked.pop(key)
                    param.data = f.get_tensor(key).to(param.dtype)
        if self._parked:  # the checkpoint changed under us: fail loudly rather than run empty weights
            missing = sorted(self._parked)[:3]
            raise RuntimeError(f"could not restore the model's weights {missing} from {self.files}")
        log.info("eager weights restored")

    def _stored_names(self) -> set[str]:
        from safetensors import safe_open

        names: set[str] = set()
        for file in self.files:
            with safe_open(str(file), framework="pt") as f:
                names.update(f.keys())
        return names
