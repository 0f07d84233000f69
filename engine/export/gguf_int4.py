"""Exact INT4 linears from a GGUF's own 4-bit blocks (Q4_K, Q4_1, Q4_0), for XNNPACK's 8da4w kernel.

A GGUF 4-bit block of 32 weights of one output row is ``w = s·q + b`` with ``q`` in 0..15:

    Q4_K   s = d·sc,  b = −dmin·m   (d, dmin fp16 per 256 weights; sc, m 6-bit per 32)
    Q4_1   s = d,     b = m          (d, m fp16 per 32)
    Q4_0   s = d,     b = −8·d       (symmetric already)

Write it as ``w = s·(q − 8) + c`` with ``c = 8·s + b``. Then, for an input ``x``,

    W·x = [s ⊙ (Q − 8)]·x + C·blocksum(x)

where ``blocksum`` sums each run of 32 input values. The first term is exactly the symmetric int4
with a scale per group of 32 that XNNPACK's 8da4w kernel runs (torchao ``IntxUnpackedToInt8Tensor``,
zero point 0); the second is a small fp32 linear on ``in/32`` block sums (``Int4SplitLinear``).
No weight is rounded again. What stays inexact in a program: XNNPACK stores group scales as bf16,
and its kernel quantizes activations to int8 per token (``qd8``), as in every 8-bit program.

Other GGUF types (Q5_0, Q6_K, Q8_0, F16, …) are not 4-bit: those linears keep the preset's 8-bit
scheme. ``read_int4_blocks`` checks each block (finite scales, whole tensors) and that the decoded
weights are the converted model's, so a corrupt or changed GGUF stops the export with a message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.errors import ModelError

GROUP = 32  # weights per scale and per offset: every supported type has 32-weight (sub-)blocks
INT4_TYPES = ("Q4_K", "Q4_1", "Q4_0")
_BLOCK = {"Q4_K": (256, 144), "Q4_1": (32, 20), "Q4_0": (32, 18)}  # (weights, bytes) per block


@dataclass
class Int4Blocks:
    """One linear's weights as ``scale · (qdata) + offset`` per group of 32 (rows = output features)."""

    qdata: torch.Tensor  # int8 [out, in], values q − 8 in [−8, 7]
    scale: torch.Tensor  # fp32 [out, in/32]
    offset: torch.Tensor  # fp32 [out, in/32]: c = 8·s + b, the constant each group adds per unit of input

    def dequantize(self) -> torch.Tensor:
        s = self.scale.repeat_interleave(GROUP, dim=1)
        c = self.offset.repeat_interleave(GROUP, dim=1)
        return s * self.qdata.float() + c


def _f16(raw: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(raw).view(np.float16).astype(np.float32)


def decode_int4(raw: np.ndarray, qtype: str, rows: int, cols: int, name: str = "tensor") -> Int4Blocks:
    """Decode the raw bytes of a ``rows × cols`` GGUF tensor of type ``qtype`` (see the module docstring).

    ModelError if the byte count does not fit the shape or a block's scale or minimum is not finite.
    """
    weights_per_block, bytes_per_block = _BLOCK[qtype]
    if cols % weights_per_block:
        raise ModelError(
            f"GGUF tensor {name}: {cols} columns is not a multiple of {qtype}'s {weights_per_block}."
        )
    n_blocks = rows * cols // weights_per_block
    raw = np.asarray(raw, dtype=np.uint8).reshape(-1)
    if raw.size != n_blocks * bytes_per_block:
        raise ModelError(
            f"GGUF tensor {name} ({qtype}, {rows}×{cols}) holds {raw.size:,} bytes, "
            f"not {n_blocks * bytes_per_block:,}: the file is corrupt."
        )
    blocks = raw.reshape(n_blocks, bytes_per_block)
    d = _f16(blocks[:, 0:2])  # [B, 1]
    if qtype == "Q4_K":
        dmin = _f16(blocks[:, 2:4])
        packed = blocks[:, 4:16].astype(np.uint16)  # eight 6-bit scales and eight 6-bit mins in 12 bytes
        lo, mid, hi = packed[:, 0:4], packed[:, 4:8], packed[:, 8:12]
        sc = np.concatenate([lo & 63, (hi & 15) | ((lo >> 6) << 4)], axis=1)
        mn = np.concatenate([mid & 63, (hi >> 4) | ((mid >> 6) << 4)], axis=1)
        # 128 bytes = 4 runs of 32; in run i, the low nibbles are sub-block 2i, the high ones 2i+1.
        qs = blocks[:, 16:144].reshape(n_blocks, 4, 1, 32)
        q = np.concatenate([qs & 15, qs >> 4], axis=2).reshape(n_blocks, 8, 32)
        scale = d * sc.astype(np.float32)  # [B, 8]
        bias = -(dmin * mn.astype(np.float32))
        mins = (dmin, "dmin")
    else:
        qs = blocks[:, -16:].reshape(n_blocks, 1, 16)
        q = np.concatenate([qs & 15, qs >> 4], axis=2).reshape(n_blocks, 1, 32)  # low nibbles first
        scale = d
        if qtype == "Q4_1":
            bias = _f16(blocks[:, 2:4])
            mins = (bias, "min")
        else:
            bias = -8.0 * d
            mins = (d, "scale")
    for values, what in ((d, "scale"), mins):
        bad = ~np.isfinite(values)
        if bad.any():
            block = int(np.argwhere(bad)[0][0])
            raise ModelError(
                f"GGUF tensor {name} is corrupt: block {block} (row {block * weights_per_block // cols}) "
                f"has a {what} of {values.reshape(-1)[block]}."
            )
    groups = cols // GROUP
    scale = scale.reshape(rows, groups).astype(np.float32)
    offset = (np.float32(8.0) * scale + bias.reshape(rows, groups)).astype(np.float32)
    qdata = (q.reshape(rows, cols).astype(np.int8) - 8).astype(np.int8).reshape(rows, groups, GROUP)
    # XNNPACK refuses a group scale that is not positive and normal ("invalid parameter" at load).
    # s < 0: s·(q−8) = |s|·(7−q) + |s|, so flip the values and move |s| into the offset; s = 0: the
    # group's int4 part is zero whatever q is, so store q−8 = 0 with scale 1. Both are exact.
    neg, zero = scale < 0, scale == 0
    qdata = np.where(neg[..., None], -qdata - 1, qdata).astype(np.int8)
    offset = np.where(neg, offset - scale, offset).astype(np.float32)
    qdata[zero] = 0
    scale = np.where(neg, -scale, np.where(zero, np.float32(1.0), scale)).astype(np.float32)
    return Int4Blocks(
        torch.from_numpy(qdata.reshape(rows, cols)), torch.from_numpy(scale), torch.from_numpy(offset)
    )


class Int4SplitLinear(nn.Module):
    """``y = int4(x) + offset(blocksum(x))``: a GGUF 4-bit linear, kept exactly (module docstring).

    ``int4`` is an ``nn.Linear`` whose weight is torchao's ``IntxUnpackedToInt8Tensor`` (symmetric
    int4, a scale per 32 inputs, int8 dynamic activations unless ``activation_quantization`` is off):
    the pattern XNNPACK's 8da4w kernel takes. ``offset`` is an fp32 ``[out, in/32]`` linear and carries
    the original layer's bias.
    """

    def __init__(self, blocks: Int4Blocks, bias: torch.Tensor | None, activation_quantization: bool = True):
        super().__init__()
        from torchao.quantization import IntxUnpackedToInt8Tensor
        from torchao.quantization.quantize_.workflows.intx.intx_unpacked_to_int8_tensor import (
            IntxUnpackedToInt8TensorActivationQuantization as ActQuant,
        )

        out_features, in_features = blocks.qdata.shape
        self.in_features, self.out_features = in_features, out_features
        weight = IntxUnpackedToInt8Tensor(
            qdata=blocks.qdata,
            scale=blocks.scale,
            zero_point=torch.zeros_like(blocks.scale, dtype=torch.int8),
            target_dtype=torch.int4,
            block_size=(1, GROUP),
            dtype=torch.float32,
            activation_quantization=ActQuant.INT8_ASYM_PER_TOKEN if activation_quantization else None,
        )
        self.int4 = nn.Linear(in_features, out_features, bias=False)
        self.int4.weight = nn.Parameter(weight, requires_grad=False)
        self.offset = nn.Linear(in_features // GROUP, out_features, bias=bias is not None)
        self.offset.weight = nn.Parameter(blocks.offset.clone(), requires_grad=False)
        if bias is not None:
            self.offset.bias = nn.Parameter(bias.detach().clone(), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sums = x.unflatten(-1, (self.in_features // GROUP, GROUP)).sum(-1)  # [..., in/32]
        return self.int4(x) + self.offset(sums)


# ---------------------------------------------------------------- reading a model's GGUF


def source_gguf(folder: Path) -> tuple[Path, str] | None:
    """(GGUF file, its sha256) that the converted folder was made from; None for an HF folder."""
    from engine.models import MARKER

    try:
        marker = json.loads((Path(folder) / MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None
    source = marker.get("source")
    if not source or not str(source).lower().endswith(".gguf"):
        return None
    return Path(source), str(marker.get("source_sha256", ""))


def _hf_names(model: nn.Module, arch: str) -> tuple[dict[str, str], object]:
    """{GGUF tensor name: HF parameter name} and transformers' tensor processor for ``arch``."""
    from transformers.modeling_gguf_pytorch_utils import (
        TENSOR_PROCESSORS,
        TensorProcessor,
        get_gguf_hf_weights_map,
    )

    config = model.config.get_text_config().to_dict()
    processor = TENSOR_PROCESSORS.get(arch, TensorProcessor)(config=config)
    return get_gguf_hf_weights_map(model, processor), processor


def linear_types(gguf_path: Path, model: nn.Module) -> dict[str, str]:
    """{HF linear module name: GGUF type name} for the model's linears found in the file."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf_path))
    names, _ = _hf_names(model, _arch(reader))
    linears = {name for name, m in model.named_modules() if isinstance(m, nn.Linear)}
    found = {}
    for tensor in reader.tensors:
        hf = names.get(tensor.name, "").removesuffix(".weight")
        if hf in linears:
            found[hf] = tensor.tensor_type.name
    return found


def _arch(reader) -> str:
    field = reader.fields.get("general.architecture")
    return bytes(field.parts[field.data[0]]).decode() if field else "unknown"


def read_int4_blocks(
    gguf_path: Path, model: nn.Module, *, check_weights: bool = True
) -> dict[str, Int4Blocks]:
    """{HF linear module name: its 4-bit blocks} for every linear of ``model`` stored as Q4_K/Q4_1/Q4_0.

    Rows are reordered as transformers reorders them on conversion (Llama's q/k permutation). With
    ``check_weights``, each decoded weight must equal the model's (the converted GGUF) to float rounding:
    ModelError otherwise (the file changed since conversion, is corrupt, or adapters were merged).
    """
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(gguf_path))
    except Exception as exc:  # noqa: BLE001 - gguf raises many kinds on corrupt input
        raise ModelError(f"{gguf_path} is a corrupt GGUF file ({type(exc).__name__}: {exc}).") from exc
    names, processor = _hf_names(model, _arch(reader))
    modules = dict(model.named_modules())
    out: dict[str, Int4Blocks] = {}
    for tensor in reader.tensors:
        qtype = tensor.tensor_type.name
        hf = names.get(tensor.name, "").removesuffix(".weight")
        linear = modules.get(hf)
        if qtype not in INT4_TYPES or not isinstance(linear, nn.Linear):
            continue
        cols, rows = (int(n) for n in tensor.shape[:2])  # GGUF lists the fastest dimension first
        if (rows, cols) != (linear.out_features, linear.in_features):
            raise ModelError(
                f"GGUF tensor {tensor.name} is {rows}×{cols} but {hf} is "
                f"{linear.out_features}×{linear.in_features}: not this model's file."
            )
        blocks = decode_int4(np.asarray(tensor.data), qtype, rows, cols, tensor.name)
        # transformers reorders some rows on conversion (Llama q/k); the same order applies to every per-row array.
        qdata, scale, offset = (
            torch.from_numpy(np.ascontiguousarray(processor.process(a.numpy(), tensor.name).weights))
            for a in (blocks.qdata, blocks.scale, blocks.offset)
        )
        blocks = Int4Blocks(qdata, scale, offset)
        if check_weights:
            w = linear.weight.detach().float()
            err = float((blocks.dequantize() - w).abs().max())
            if not err <= 1e-6 * max(float(w.abs().max()), 1e-6):
                raise ModelError(
                    f"{hf}: the GGUF's 4-bit blocks ({tensor.name}) do not give the model's weights "
                    f"(max difference {err:.3g}): the GGUF changed or is corrupt, or adapters were merged."
                )
        out[hf] = blocks
    return out


def int4_fallback_reason(folder: Path, model: nn.Module) -> str | None:
    """Why a GGUF-INT4 preset cannot apply to the model in ``folder`` (None when it can)."""
    found = source_gguf(folder)
    if found is None:
        return "the model is not a converted GGUF (no 4-bit blocks to keep)"
    path, _ = found
    if not path.exists():
        return f"its GGUF {path} is gone"
    types = linear_types(path, model)
    if not any(t in INT4_TYPES for t in types.values()):
        kinds = ", ".join(sorted(set(types.values()))) or "none"
        return f"{path.name} has no Q4_K/Q4_1/Q4_0 linears (types: {kinds})"
    return None
