"""What a program is built from: the quantization scheme and the export settings, with a stable cache key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace

from engine.export import vocab as vocab_rules

# Bump when the exported graph or its inputs/outputs change: every cached program is rebuilt.
PROGRAM_VERSION = 1

LINEAR_SCHEMES = ("fp32", "8da8w", "8da4w")  # 8da = int8 dynamic activations; Nw = N-bit weights
HEAD_SCHEMES = ("same", "fp32", "8da8w", "8da4w")
# int8: a scale per row; int8-group and int4: a scale per group_size values.
EMBEDDING_SCHEMES = ("fp32", "fp16", "int8", "int8-group", "int4")
ALGORITHMS = ("hqq", "affine")
# Where 4-bit linears may come from: "none" (only the schemes above), "gguf" (every linear the source
# GGUF stores in 4-bit blocks, Q4_K/Q4_1/Q4_0, kept exactly as int4 + a block offset: engine/export/gguf_int4.py).
INT4_SOURCES = ("none", "gguf")


@dataclass(frozen=True)
class QuantConfig:
    """How each part of the model is stored in the program.

    ``linear`` covers the transformer blocks; ``lm_head`` the output layer
    (262k rows on Gemma: as many weights as the rest together, so its scheme
    decides much of the speed); ``embedding`` the input table. ``keep_fp32``
    names block linears (substrings of their module names, e.g. "down_proj")
    left in fp32 (mixed precision). ``vocab`` is the rule choosing which output
    rows the program scores (engine/export/vocab.py; "full" = all). ``int4_source="gguf"`` takes the
    linears the GGUF stores in 4-bit blocks as exact int4 (+ a per-block offset), whatever ``linear`` says;
    the other linears get ``linear``.
    """

    linear: str = "8da4w"
    lm_head: str = "same"
    embedding: str = "int8"
    group_size: int = 32  # weights per scale for 4-bit; 8-bit uses one scale per output channel
    algorithm: str = "hqq"  # how scales are chosen: "hqq" (error-minimizing) or "affine" (min/max)
    keep_fp32: tuple[str, ...] = ()
    vocab: str = "full"
    int4_source: str = "none"

    def __post_init__(self) -> None:
        for value, allowed, what in (
            (self.linear, LINEAR_SCHEMES, "linear"),
            (self.lm_head, HEAD_SCHEMES, "lm_head"),
            (self.embedding, EMBEDDING_SCHEMES, "embedding"),
            (self.algorithm, ALGORITHMS, "algorithm"),
            (self.vocab, vocab_rules.RULES, "vocab"),
            (self.int4_source, INT4_SOURCES, "int4_source"),
        ):
            if value not in allowed:
                raise ValueError(f"unknown {what} scheme {value!r}; choose one of {', '.join(allowed)}")

    @property
    def head(self) -> str:
        return self.linear if self.lm_head == "same" else self.lm_head

    @property
    def label(self) -> str:
        parts = [self.linear]
        if self.int4_source != "none":
            parts.append(f"int4-{self.int4_source}")
        if self.head != self.linear:
            parts.append(f"head-{self.head}")
        if self.embedding != "fp32":
            parts.append(f"emb-{self.embedding}")
        if self.linear != "fp32" or self.head != "fp32":
            parts.append(self.algorithm)
        if self.keep_fp32:
            parts.append("fp32-" + "-".join(self.keep_fp32))
        if self.vocab != "full":
            parts.append(f"vocab-{self.vocab}")
        return "_".join(parts)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["keep_fp32"] = list(self.keep_fp32)
        # Omitted at their defaults so that programs built before these fields existed keep their keys.
        for name, default in (("keep_fp32", []), ("vocab", "full"), ("int4_source", "none")):
            if d[name] == default:
                del d[name]
        return d


# Named presets for the CLI and the engine. On Gemma 3 270M (perplexity on held-out Austen, eager
# torchao, docs/benchmarks.md): fp32 36.4; 4-bit blocks 51.3 (+41 %, HQQ no better); 8-bit blocks 37.2.
PRESETS: dict[str, QuantConfig] = {
    "fp32": QuantConfig(linear="fp32", lm_head="same", embedding="fp32"),
    "8da8w": QuantConfig(linear="8da8w", embedding="int8", algorithm="affine"),
    "8da4w": QuantConfig(linear="8da4w", embedding="int8", algorithm="affine"),
    "8da4w-head8": QuantConfig(linear="8da4w", lm_head="8da8w", embedding="int8", algorithm="hqq"),
    # English + Russian: the output layer scores only the 169,724 Latin/Cyrillic/byte/control tokens
    # (engine/export/vocab.py); HQQ scales; an fp16 input table (int8 tables cost 1-3 % perplexity
    # in the program, and only the rows of the tokens read are touched, so it costs size, not speed).
    "8da8w-enru": QuantConfig(linear="8da8w", embedding="fp16", algorithm="hqq", vocab="latin-cyrillic"),
    # The same with min/max scales: HQQ's error-minimizing scales help Gemma (36.81 vs 37.50) but
    # hurt SmolLM2 (47.32 vs 45.89, eager 45.07), so the default preset is chosen per architecture.
    "8da8w-enru-minmax": QuantConfig(
        linear="8da8w", embedding="fp16", algorithm="affine", vocab="latin-cyrillic"
    ),
    # The default with the GGUF's own 4-bit linears kept exactly as int4 (Q4_K/Q4_1/Q4_0 blocks ->
    # symmetric int4 + a per-block offset); every other linear (Q5_0, Q6_K, Q8_0, ...) 8-bit as above.
    # On Gemma 3 270M's Q4_K_M file only o_proj and half the down_proj are Q4_K (its 640-wide rows
    # cannot be; they are Q5_0); on SmolLM2's Q4_1 file every block linear is (docs/executorch.md).
    "8da4w-q4k": QuantConfig(
        linear="8da8w", embedding="fp16", algorithm="hqq", vocab="latin-cyrillic", int4_source="gguf"
    ),
    "8da4w-q4k-minmax": QuantConfig(
        linear="8da8w", embedding="fp16", algorithm="affine", vocab="latin-cyrillic", int4_source="gguf"
    ),
}
# 8-bit weights: 4-bit ones cost Gemma 270M +41 % perplexity. 8da8w-enru vs 8da8w in one bench run
# (docs/benchmarks.md): perplexity 36.81 vs 37.20 (llama.cpp Q4_K_M 36.50), decode 1.17x faster.
DEFAULT_PRESET = "8da8w-enru"
# Measured per architecture (docs/executorch.md); any other one gets the min/max scales, the safer choice.
_DEFAULT_BY_MODEL_TYPE = {"gemma3": "8da8w-enru", "gemma3_text": "8da8w-enru"}


def default_preset_for(model: object) -> str:
    """The default preset for a loaded model (``LoadedModel``, an HF model or its config)."""
    model = getattr(model, "model", model)
    config = getattr(model, "config", model)
    return _DEFAULT_BY_MODEL_TYPE.get(getattr(config, "model_type", ""), "8da8w-enru-minmax")


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
    # Digest of the vocabulary rule and its version when the output layer is pruned ("" = full).
    vocab_keep_sha256: str = ""
    program_version: int = PROGRAM_VERSION

    def as_dict(self) -> dict:
        d = asdict(self)
        d["adapters"] = [list(a) for a in self.adapters]
        d["quant"] = self.quant.as_dict()
        return d

    @property
    def key(self) -> str:
        blob = json.dumps(self.as_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:20]

    def with_quant(self, quant: QuantConfig) -> ProgramSpec:
        return replace(self, quant=quant)
