"""What a program is built from: the quantization scheme and the export settings, with a stable cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

# Bump when the exported graph or its inputs/outputs change: every cached program is rebuilt.
PROGRAM_VERSION = 1

LINEAR_SCHEMES = ("fp32", "8da8w", "8da4w")  # 8da = int8 dynamic activations; Nw = N-bit weights
HEAD_SCHEMES = ("same", "fp32", "8da8w", "8da4w")
EMBEDDING_SCHEMES = ("fp32", "int8", "int4")
ALGORITHMS = ("hqq", "affine")


@dataclass(frozen=True)
class QuantConfig:
    """How each part of the model is stored in the program.

    ``linear`` covers the transformer blocks; ``lm_head`` the output layer
    (262k rows on Gemma: as many weights as the rest together, so its scheme
    decides much of the speed); ``embedding`` the input table.
    """

    linear: str = "8da4w"
    lm_head: str = "same"
    embedding: str = "int8"
    group_size: int = 32  # weights per scale for 4-bit; 8-bit uses one scale per output channel
    algorithm: str = "hqq"  # how scales are chosen: "hqq" (error-minimizing) or "affine" (min/max)

    def __post_init__(self) -> None:
        for value, allowed, what in (
            (self.linear, LINEAR_SCHEMES, "linear"),
            (self.lm_head, HEAD_SCHEMES, "lm_head"),
            (self.embedding, EMBEDDING_SCHEMES, "embedding"),
            (self.algorithm, ALGORITHMS, "algorithm"),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {what} scheme {value!r}; choose one of {', '.join(allowed)}")

    @property
    def head(self) -> str:
        return self.linear if self.lm_head == "same" else self.lm_head

    @property
    def label(self) -> str:
        parts = [self.linear]
        if self.head != self.linear:
            parts.append(f"head-{self.head}")
        if self.embedding != "fp32":
            parts.append(f"emb-{self.embedding}")
        if self.linear != "fp32" or self.head != "fp32":
            parts.append(self.algorithm)
        return "_".join(parts)


# Named presets for the CLI and the engine. On Gemma 3 270M (perplexity on held-out Austen, eager
# torchao, docs/benchmarks.md): fp32 36.4; 4-bit blocks 51.3 (+41 %, HQQ no better); 8-bit blocks 37.2.
PRESETS: dict[str, QuantConfig] = {
    "fp32": QuantConfig(linear="fp32", lm_head="same", embedding="fp32"),
    "8da8w": QuantConfig(linear="8da8w", embedding="int8", algorithm="affine"),
    "8da4w": QuantConfig(linear="8da4w", embedding="int8", algorithm="affine"),
    "8da4w-head8": QuantConfig(linear="8da4w", lm_head="8da8w", embedding="int8", algorithm="hqq"),
}
# 8-bit weights: 4-bit ones cost Gemma 270M +41 % perplexity, which fails the bar of matching
# llama.cpp's own Q4 GGUF; the speed difference is small because the 8-bit output layer dominates.
DEFAULT_PRESET = "8da8w"


def preset(name: str) -> QuantConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown quantization preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


@dataclass(frozen=True)
class ProgramSpec:
    """Everything that decides a program's bytes. Two equal specs give interchangeable programs."""

    base_sha256: str
    adapters: tuple[tuple[str, str], ...] = ()  # (name, sha256 of its weights), in composition order
    quant: QuantConfig = QuantConfig()
    max_seq: int = 1024  # KV cache length: autocomplete reads ~1,500 characters (~400 tokens)
    vocab_keep_sha256: str = ""  # digest of the kept token ids when the output layer is pruned
    program_version: int = PROGRAM_VERSION

    def as_dict(self) -> dict:
        d = asdict(self)
        d["adapters"] = [list(a) for a in self.adapters]
        return d

    @property
    def key(self) -> str:
        blob = json.dumps(self.as_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:20]

    def with_quant(self, quant: QuantConfig) -> ProgramSpec:
        return replace(self, quant=quant)
