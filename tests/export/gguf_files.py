"""Small GGUF files for the GGUF-INT4 tests: random 4-bit blocks, a model folder that holds their weights.

``save_gguf_pair`` writes what ``engine.models.ensure_converted`` would leave behind for a real GGUF: the
file (the tiny model's linears as Q4_K / Q4_1 / Q4_0 / F32 blocks, in llama.cpp's layout, Llama's q/k
rows permuted as llama.cpp's converter does) and an HF folder whose weights are those blocks
dequantized, with the conversion marker naming the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

Q4K_BYTES = 144  # per 256 weights


def random_q4k(rows: int, cols: int, seed: int = 0) -> np.ndarray:
    """Raw Q4_K bytes [rows, cols/256*144]: random nibbles and 6-bit scales/mins, sane fp16 d and dmin."""
    rng = np.random.default_rng(seed)
    n = rows * cols // 256
    blocks = rng.integers(0, 256, size=(n, Q4K_BYTES), dtype=np.uint8)
    blocks[:, 0:2] = (rng.uniform(0.5, 2.0, n) * 2e-3).astype(np.float16).view(np.uint8).reshape(n, 2)
    blocks[:, 2:4] = (rng.uniform(0.5, 2.0, n) * 1e-3).astype(np.float16).view(np.uint8).reshape(n, 2)
    return blocks.reshape(rows, -1)


def _permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's q/k row permutation (what transformers reverses on conversion)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def save_gguf_pair(model, folder: Path, gguf_path: Path, types: dict[str, str], arch: str) -> dict[str, str]:
    """Write ``gguf_path`` and the converted ``folder`` for ``model`` (an HF causal LM, changed in place).

    ``types`` maps a suffix of a linear's name (``"o_proj"``) to its GGUF type; other linears are F32.
    Returns {HF linear name: GGUF type}.
    """
    import gguf
    from transformers.modeling_gguf_pytorch_utils import TensorProcessor, get_gguf_hf_weights_map

    to_gguf = {
        hf.removesuffix(".weight"): g for g, hf in get_gguf_hf_weights_map(model, TensorProcessor()).items()
    }
    cfg = model.config.get_text_config()
    writer = gguf.GGUFWriter(str(gguf_path), arch)
    chosen = {}
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, torch.nn.Linear) or name not in to_gguf:
                continue
            qtype = next((t for suffix, t in types.items() if name.endswith(suffix)), "F32")
            gname = to_gguf[name]
            heads = None
            if arch == "llama" and name.endswith(("q_proj", "k_proj")):
                heads = cfg.num_attention_heads if name.endswith("q_proj") else cfg.num_key_value_heads
            w = module.weight.numpy().astype(np.float32)
            kind = gguf.GGMLQuantizationType[qtype]
            if qtype == "Q4_K":
                raw = random_q4k(*w.shape, seed=len(chosen))
            elif qtype == "F32":
                raw = _permute(w, heads) if heads else w
            else:
                raw = gguf.quantize(_permute(w, heads) if heads else w, kind)
            deq = gguf.dequantize(raw, kind).reshape(w.shape).astype(np.float32)
            if heads:  # back to the HF row order, as transformers' conversion does
                deq = _unpermute(deq, heads)
            module.weight.copy_(torch.from_numpy(deq))
            writer.add_tensor(gname, raw, raw_dtype=kind)
            chosen[name] = qtype
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    model.save_pretrained(folder)
    (Path(folder) / "killah-model.json").write_text(
        json.dumps({"conversion_version": 1, "source": str(gguf_path), "source_sha256": "test"})
    )
    return chosen


def _unpermute(w: np.ndarray, n_head: int) -> np.ndarray:
    dim = w.shape[0] // n_head // 2
    return w.reshape(n_head, dim, 2, *w.shape[1:]).swapaxes(2, 1).reshape(w.shape)
