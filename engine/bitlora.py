"""Bit-LoRA: ternary (1.58-bit) LoRA matrices shipped packed at 2 bits per weight.

A Bit-LoRA adapter was trained with every LoRA matrix quantized in the forward pass
(``training/bitlora.py``): W_q = s * round(clip(W / s, -1, 1)) with s = mean(|W|) (absmean,
BitNet b1.58). So the trained weights ARE s * q with q in {-1, 0, 1}, and storing q at
2 bits plus one fp32 scale per matrix is lossless.

Folder format (next to peft's ``adapter_config.json``):

    bitlora.safetensors   for each peft key K: K (uint8, 4 codes per byte, code = q + 1); the
                          header's metadata "bitlora" = JSON {K: [scale, *shape]}
    bitlora.json          {"format": "bitlora-ternary-2bit", "version": 1}

``peft_folder(folder)`` gives a folder peft can load: the folder itself for a plain adapter, or
a cached unpacked copy (fp32 ``adapter_model.safetensors`` = s * q exactly) for a packed one, so
the registry and the ExecuTorch export compose a Bit-LoRA adapter like any other.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import torch

from engine.errors import ArtifactError

FORMAT = {"format": "bitlora-ternary-2bit", "version": 1}
PACKED_FILE, META_FILE = "bitlora.safetensors", "bitlora.json"


def pack_ternary(q: torch.Tensor) -> torch.Tensor:
    """{-1, 0, 1} values (any shape) -> uint8, four 2-bit codes per byte, low bits first."""
    flat = q.reshape(-1).to(torch.int16)
    if flat.numel() and (flat.abs() > 1).any():
        raise ValueError("pack_ternary takes values in {-1, 0, 1} only")
    codes = (flat + 1).to(torch.uint8)
    codes = torch.nn.functional.pad(codes, (0, (-codes.numel()) % 4)).view(-1, 4)
    return codes[:, 0] | (codes[:, 1] << 2) | (codes[:, 2] << 4) | (codes[:, 3] << 6)


def unpack_ternary(packed: torch.Tensor, shape: tuple[int, ...]) -> torch.Tensor:
    """The inverse of ``pack_ternary``: int8 values in {-1, 0, 1} of ``shape``."""
    numel = int(torch.tensor(shape).prod()) if shape else 1
    codes = torch.stack([(packed >> s) & 0b11 for s in (0, 2, 4, 6)], dim=1).reshape(-1)[:numel]
    if (codes > 2).any():
        raise ArtifactError("A Bit-LoRA file holds an invalid 2-bit code: the adapter is corrupt.")
    return (codes.to(torch.int8) - 1).reshape(shape)


def ternarize(weight: torch.Tensor, eps: float = 1e-8) -> tuple[torch.Tensor, torch.Tensor]:
    """(q in {-1,0,1} as int8, absmean scale s [1]) with s * q the quantized weight."""
    scale = weight.detach().abs().mean().clamp_min(eps).reshape(1).float()
    q = (weight.detach().float() / scale).round().clamp(-1, 1).to(torch.int8)
    return q, scale


def pack_state(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, list[float]]]:
    """peft LoRA weights (ternary times a scale) -> (packed uint8 tensors, {key: [scale, *shape]}).

    Scales and shapes go into the file's metadata, not into tensors of their own: a tensor entry
    costs ~100 header bytes, as much as the packed codes of a small matrix.
    """
    packed, layout = {}, {}
    for key, weight in state.items():
        q, scale = ternary_parts(weight)
        packed[key] = pack_ternary(q)
        layout[key] = [scale, *weight.shape]
    return packed, layout


def ternary_parts(weight: torch.Tensor) -> tuple[torch.Tensor, float]:
    """(q, s) with weight == s * q exactly, for a weight that training left ternary.

    s is the magnitude of the non-zero entries (not the absmean: the zeros would shrink it).
    """
    w = weight.detach().float()
    scale = float(w.abs().max())
    q = (w / scale).round().to(torch.int8) if scale > 0 else torch.zeros_like(w, dtype=torch.int8)
    if not torch.allclose(q.float() * scale, w, rtol=1e-3, atol=1e-8):
        raise ValueError("this LoRA weight is not ternary: train it with training.bitlora.make_ternary")
    return q, scale


def unpack_state(packed: dict[str, torch.Tensor], layout: dict[str, list[float]]) -> dict[str, torch.Tensor]:
    """The inverse of ``pack_state``: fp32 peft weights s * q."""
    if set(packed) != set(layout):
        raise ArtifactError("A Bit-LoRA file's tensors and layout disagree: the adapter is corrupt.")
    return {
        key: unpack_ternary(packed[key], tuple(int(n) for n in layout[key][1:])).float()
        * float(layout[key][0])
        for key in packed
    }


def is_packed(folder: Path) -> bool:
    return (Path(folder) / PACKED_FILE).is_file()


def save_packed(state: dict[str, torch.Tensor], folder: Path) -> Path:
    """Write ``bitlora.safetensors`` + ``bitlora.json`` into an adapter folder (config written by peft)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    packed, layout = pack_state(state)
    save_file(packed, str(folder / PACKED_FILE), metadata={"bitlora": json.dumps(layout)})
    (folder / META_FILE).write_text(json.dumps(FORMAT) + "\n")
    return folder / PACKED_FILE


def peft_folder(folder: Path, cache_root: Path | None = None) -> Path:
    """A folder peft can load for ``folder``: itself, or the unpacked copy of a Bit-LoRA adapter."""
    folder = Path(folder)
    if not is_packed(folder):
        return folder
    from safetensors import safe_open
    from safetensors.torch import save_file

    from engine.models import sha256_file
    from engine.paths import cache_dir

    meta = json.loads((folder / META_FILE).read_text()) if (folder / META_FILE).is_file() else {}
    if meta.get("format") != FORMAT["format"] or meta.get("version") != FORMAT["version"]:
        raise ArtifactError(
            f"{folder} is not a Bit-LoRA adapter this version can read ({meta or 'no bitlora.json'})."
        )
    target = (cache_root or cache_dir() / "bitlora") / sha256_file(folder / PACKED_FILE)[:16]
    if (target / "adapter_model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unpack into a sibling temp folder, then rename: a crash never leaves a half adapter in the cache.
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".unpack-"))
    try:
        shutil.copy2(folder / "adapter_config.json", tmp / "adapter_config.json")
        with safe_open(str(folder / PACKED_FILE), framework="pt") as f:
            packed = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
            layout = json.loads((f.metadata() or {}).get("bitlora", "{}"))
        save_file(unpack_state(packed, layout), str(tmp / "adapter_model.safetensors"))
        os.replace(tmp, target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "adapter_model.safetensors").is_file():  # not a lost race with another process
            raise
    return target
