"""Export to ExecuTorch: HF model (+ merged adapters) -> quantized, XNNPACK-delegated .pte, cached per spec.

    from engine.export import load_executorch_backend
    backend = load_executorch_backend(loaded)          # builds on first need (minutes), reused after

See docs/executorch.md.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from engine.export.config import DEFAULT_PRESET, PRESETS, ProgramSpec, QuantConfig, default_preset_for, preset
from engine.export.program_cache import ProgramCache, check_program, spec_for

__all__ = [
    "DEFAULT_PRESET",
    "PRESETS",
    "ProgramCache",
    "ProgramSpec",
    "QuantConfig",
    "check_program",
    "default_preset_for",
    "load_executorch_backend",
    "preset",
    "resolve_quant",
    "spec_for",
]

log = logging.getLogger(__name__)


def resolve_quant(loaded, quant: QuantConfig | str | None = None) -> tuple[QuantConfig, str]:
    """(the config to build for ``loaded``, a one-line note; "" when it is the one asked for).

    A GGUF-INT4 preset (``int4_source="gguf"``) on a model without 4-bit blocks (an HF folder, a Q8_0 or
    F16 GGUF) falls back to the same preset without them, i.e. the 8-bit one, and the note says why."""
    from engine.export.gguf_int4 import int4_fallback_reason

    asked = quant or default_preset_for(loaded)
    config = preset(asked) if isinstance(asked, str) else asked
    if config.int4_source == "none":
        return config, ""
    reason = int4_fallback_reason(loaded.info.folder, loaded.model)
    if reason is None:
        return config, ""
    fallback = replace(config, int4_source="none")
    name = next((n for n, c in PRESETS.items() if c == fallback), fallback.label)
    note = f"{asked if isinstance(asked, str) else config.label}: {reason}; using the 8-bit {name} instead."
    log.info(note)
    return fallback, note


def load_executorch_backend(
    loaded,
    quant: QuantConfig | str | None = None,
    *,
    adapters: list[Path] | None = None,
    build: bool = True,
    threads: int | None = None,
    progress=None,
    cache: ProgramCache | None = None,
):
    """An ExecuTorchBackend for ``loaded``; builds the program if ``build`` (else ModelError when absent)."""
    from engine.backends.executorch import ExecuTorchBackend

    quant, _ = resolve_quant(loaded, quant)
    cache = cache or ProgramCache()
    spec = spec_for(loaded, quant, adapters)
    pte = cache.ensure(loaded, spec, adapters, progress) if build else cache.lookup(loaded, spec)
    return ExecuTorchBackend(pte, threads=threads)
