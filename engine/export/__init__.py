"""Export to ExecuTorch: HF model (+ merged adapters) -> quantized, XNNPACK-delegated .pte, cached per spec.

    from engine.export import load_executorch_backend
    backend = load_executorch_backend(loaded)          # builds on first need (minutes), reused after

See docs/executorch.md.
"""

from __future__ import annotations

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
    "spec_for",
]


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

    quant = quant or default_preset_for(loaded)
    quant = preset(quant) if isinstance(quant, str) else quant
    cache = cache or ProgramCache()
    spec = spec_for(loaded, quant, adapters)
    pte = cache.ensure(loaded, spec, adapters, progress) if build else cache.lookup(loaded, spec)
    return ExecuTorchBackend(pte, threads=threads)
