"""Apply a QuantConfig to the modules about to be exported (torchao for linears, ExecuTorch for embeddings).

Measured constraints (ASSETS.md): int4 weights must be symmetric (asymmetric
gave wrong results through XNNPACK), and torchao's weight-only config on an
nn.Embedding fails at ``to_executorch`` — ExecuTorch's EmbeddingQuantHandler
(``quantized_decomposed::embedding_byte``) works.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.export.config import QuantConfig
from engine.export.gguf_int4 import Int4Blocks, Int4SplitLinear


def _linear_config(scheme: str, group_size: int, algorithm: str):
    from torchao.quantization import Int8DynamicActivationIntxWeightConfig
    from torchao.quantization.granularity import PerAxis, PerGroup

    if scheme == "8da4w":
        return Int8DynamicActivationIntxWeightConfig(
            weight_dtype=torch.int4,
            weight_granularity=PerGroup(group_size),
            intx_choose_qparams_algorithm="hqq_scale_only" if algorithm == "hqq" else "affine",
        )
    if scheme == "8da8w":
        return Int8DynamicActivationIntxWeightConfig(
            weight_dtype=torch.int8,
            weight_granularity=PerAxis(0),
            intx_choose_qparams_algorithm="hqq_scale_only" if algorithm == "hqq" else "affine",
        )
    raise ValueError(f"no quantization for scheme {scheme!r}")


def use_int4_blocks(
    lm: nn.Module, blocks: dict[str, Int4Blocks], activation_quantization: bool = True
) -> int:
    """Replace each linear of ``lm`` named in ``blocks`` by its exact ``Int4SplitLinear``; return how many."""
    modules = dict(lm.named_modules())
    for name, blk in blocks.items():
        parent_name, _, child = name.rpartition(".")
        linear = modules[name]
        split = Int4SplitLinear(blk, linear.bias, activation_quantization=activation_quantization)
        setattr(modules[parent_name] if parent_name else lm, child, split)
    return len(blocks)


@torch.no_grad()
def quantize_lm(lm: nn.Module, config: QuantConfig, int4_blocks: dict[str, Int4Blocks] | None = None) -> None:
    """Quantize the linears of ``lm`` in place: those in ``int4_blocks`` (the GGUF's own 4-bit blocks,
    ``config.int4_source == "gguf"``) exactly as int4 + offset, other blocks with ``config.linear``
    (except those named in ``config.keep_fp32``), the output layer with ``config.head``."""
    from torchao.quantization import quantize_

    head = lm.get_output_embeddings()
    if int4_blocks:
        use_int4_blocks(lm, int4_blocks)
    # The split layers' parts are quantized already (int4) or stay fp32 (the 1/32-size offset).
    done = {id(m) for split in lm.modules() if isinstance(split, Int4SplitLinear) for m in split.modules()}

    def is_block_linear(module: nn.Module, fqn: str) -> bool:
        return (
            isinstance(module, nn.Linear)
            and module is not head
            and id(module) not in done
            and module.in_features % config.group_size == 0
            and not any(part in fqn for part in config.keep_fp32)  # mixed precision: sensitive ones stay fp32
        )

    if config.linear != "fp32":
        quantize_(
            lm, _linear_config(config.linear, config.group_size, config.algorithm), filter_fn=is_block_linear
        )
    if config.head != "fp32" and head.in_features % config.group_size == 0:
        # A tied head shares its Parameter with the input table: untie first so the embedding keeps its own copy.
        head.weight = nn.Parameter(head.weight.detach().clone(), requires_grad=False)
        quantize_(
            head,
            _linear_config(config.head, config.group_size, config.algorithm),
            filter_fn=lambda m, fqn: isinstance(m, nn.Linear),
        )


@torch.no_grad()
def quantize_embedding(module: nn.Module, config: QuantConfig) -> nn.Module:
    """Quantize every nn.Embedding inside ``module`` (weight-only; int8 per row, int8-group and int4 per group)."""
    if config.embedding == "fp32":
        return module
    if config.embedding == "fp16":
        # Only the rows of the tokens read are touched, so the table's precision costs size, not speed.
        for emb in [m for m in module.modules() if isinstance(m, nn.Embedding)]:
            emb.weight = nn.Parameter(emb.weight.detach().to(torch.float16), requires_grad=False)
        return module
    from executorch.examples.models.llama.source_transformation.quantize import EmbeddingQuantHandler

    bits = 4 if config.embedding == "int4" else 8
    handler = EmbeddingQuantHandler(
        module,
        bitwidth=bits,
        group_size=None if config.embedding == "int8" else config.group_size,
        packed=bits == 4,
        # Groups of 32 with min/max scales are already as good as fp32 here (Gemma 270M perplexity 36.31 vs
        # 36.36); HQQ on the 262k-row table only costs a minute.
        quantize_with_hqq=config.algorithm == "hqq" and config.embedding != "int8-group",
    )
    return handler.quantized_model()
