"""HF folder (+ adapters) -> a delegated, quantized ExecuTorch program (.pte).

Stages and their share of the progress bar; the XNNPACK lowering dominates
(3-11 min single-threaded for a 135M-270M model, 2.4-3.8 GB peak), so a ticker
reports it against an estimate from the parameter count while it runs.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from engine.export.compose import merge_adapters
from engine.export.config import QuantConfig
from engine.export.quantize import quantize_embedding, quantize_lm
from engine.export.static_model import StaticCacheLM, TokenEmbedding, load_custom_ops

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]

# (stage, start fraction, end fraction)
STAGES = {
    "loading model": (0.0, 0.05),
    "merging adapters": (0.05, 0.08),
    "quantizing": (0.08, 0.15),
    "tracing": (0.15, 0.25),
    "lowering to XNNPACK": (0.25, 0.9),
    "serializing": (0.9, 0.98),
    "writing": (0.98, 1.0),
}
SECONDS_PER_MPARAM = 2.0  # lowering time per million parameters, measured on this 2-core VM (rough)


class _Reporter:
    def __init__(self, progress: ProgressFn | None) -> None:
        self.progress = progress
        self.timings: dict[str, float] = {}
        self._stage = ""
        self._t0 = time.monotonic()

    def stage(self, name: str) -> None:
        now = time.monotonic()
        if self._stage:
            self.timings[self._stage] = round(now - self._t0, 1)
        self._stage, self._t0 = name, now
        log.info("export: %s", name)
        self.emit(name, 0.0)

    def emit(self, name: str, within: float) -> None:
        if self.progress is not None and name in STAGES:
            lo, hi = STAGES[name]
            self.progress(name, lo + (hi - lo) * min(max(within, 0.0), 1.0))

    def finish(self) -> None:
        self.stage("done")
        if self.progress is not None:
            self.progress("done", 1.0)


class _Ticker:
    """Advances the bar during a stage that reports nothing: 1 - exp(-t/expected), never reaching the end."""

    def __init__(self, reporter: _Reporter, stage: str, expected_seconds: float) -> None:
        self.reporter, self.stage, self.expected = reporter, stage, max(expected_seconds, 1.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(2.0):
            t = time.monotonic() - t0
            self.reporter.emit(self.stage, 0.95 * (1.0 - pow(2.718281828, -t / self.expected)))

    def __enter__(self) -> _Ticker:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def load_for_export(folder: Path) -> nn.Module:
    """A fresh fp32 copy of the model in ``folder`` (export rewrites modules in place)."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32)
    model.eval()
    model.requires_grad_(False)
    return model


def int4_blocks_for(folder: Path, model: nn.Module, adapters: list[Path] | None) -> dict:
    """The GGUF's 4-bit linears of the model in ``folder`` (QuantConfig.int4_source == "gguf"), checked.

    ModelError before anything is traced when they cannot be used as they are: no GGUF behind the
    folder, a corrupt block, weights that differ from the file's, or adapters to merge (a merged
    weight is no longer the file's blocks)."""
    from engine.errors import ModelError
    from engine.export.gguf_int4 import read_int4_blocks, source_gguf

    if adapters:
        raise ModelError(
            "The GGUF-INT4 preset keeps the file's 4-bit weights as they are, so it cannot merge adapters; "
            "use an 8-bit preset for an adapter composition."
        )
    found = source_gguf(folder)
    if found is None:
        raise ModelError(f"{folder} was not converted from a GGUF: there are no 4-bit blocks to keep.")
    gguf_path, _ = found
    if not gguf_path.exists():
        raise ModelError(f"The GGUF {gguf_path} that {folder.name} was converted from is gone.")
    blocks = read_int4_blocks(gguf_path, model)
    # The output layer keeps the preset's scheme (its rows may be pruned; a tied one is the input table).
    modules, head = dict(model.named_modules()), model.get_output_embeddings()
    return {name: b for name, b in blocks.items() if modules[name] is not head}


def build_modules(
    model: nn.Module,
    quant: QuantConfig,
    max_seq: int,
    keep_ids: torch.Tensor | None = None,
    int4_blocks: dict | None = None,
) -> tuple[StaticCacheLM, nn.Module]:
    """(forward module, embed module), quantized, ready to trace. ``model`` is consumed."""
    embed = TokenEmbedding(model.get_input_embeddings())
    # forward() is fed embeddings: drop the input table from its graph so the program
    # does not carry a second copy of the 262k x hidden matrix.
    if model.get_output_embeddings().weight is model.get_input_embeddings().weight:
        model.get_output_embeddings().weight = nn.Parameter(
            model.get_input_embeddings().weight.detach(), requires_grad=False
        )
    model.set_input_embeddings(nn.Embedding(1, embed.table.embedding_dim))
    forward = StaticCacheLM(model, max_seq, keep_ids=keep_ids)
    quantize_lm(model, quant, int4_blocks)
    embed = quantize_embedding(embed, quant)
    return forward.eval(), embed.eval()


def trace(forward: StaticCacheLM, embed: nn.Module, hidden: int) -> dict[str, torch.export.ExportedProgram]:
    """Strict torch.export of both methods with a dynamic sequence length (1 … max_seq-1)."""
    seq = torch.export.Dim("seq", min=1, max=forward.max_seq - 1)
    with torch.no_grad():
        ep_forward = torch.export.export(
            forward,
            (torch.zeros(1, 3, hidden), torch.tensor([0], dtype=torch.long)),
            dynamic_shapes=({1: seq}, None),
            strict=True,
        )
        ep_embed = torch.export.export(
            embed, (torch.zeros(1, 3, dtype=torch.long),), dynamic_shapes=({1: seq},), strict=True
        )
    return {"forward": ep_forward, "embed": ep_embed}


def lower(programs: dict, metadata: dict) -> tuple:
    """XNNPACK-delegate; return (edge manager, the config to serialize it with); the KV buffers get their own memory so `embed` cannot overwrite them."""
    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner
    from executorch.exir import EdgeCompileConfig, ExecutorchBackendConfig, to_edge_transform_and_lower
    from executorch.exir.passes import MemoryPlanningPass
    from executorch.exir.passes.sym_shape_eval_pass import ConstraintBasedSymShapeEvalPass

    edge = to_edge_transform_and_lower(
        programs,
        partitioner=[XnnpackPartitioner()],
        compile_config=EdgeCompileConfig(_check_ir_validity=False, _skip_dim_order=True),
        constant_methods=metadata,
    )
    return edge, ExecutorchBackendConfig(
        extract_delegate_segments=True,
        memory_planning_pass=MemoryPlanningPass(alloc_graph_input=False, share_mutable_buffers=True),
        sym_shape_eval_pass=ConstraintBasedSymShapeEvalPass(),
    )


def export_program(
    folder: Path,
    out_path: Path,
    quant: QuantConfig,
    *,
    adapters: list[Path] | None = None,
    max_seq: int = 1024,
    keep_ids: torch.Tensor | None = None,
    progress: ProgressFn | None = None,
) -> dict:
    """Build the program; write it atomically to ``out_path``; return facts about it (sizes, timings)."""
    load_custom_ops()
    report = _Reporter(progress)
    report.stage("loading model")
    model = load_for_export(Path(folder))
    text_config = model.config.get_text_config()
    hidden, vocab = int(text_config.hidden_size), int(text_config.vocab_size)
    max_seq = min(max_seq, int(getattr(text_config, "max_position_embeddings", max_seq)))
    n_params = sum(p.numel() for p in model.parameters())
    # Read and check the GGUF's 4-bit blocks first: a corrupt file stops here, before minutes of lowering.
    int4 = int4_blocks_for(Path(folder), model, adapters) if quant.int4_source == "gguf" else None
    report.stage("merging adapters")
    model = merge_adapters(model, list(adapters or []))
    report.stage("quantizing")
    forward, embed = build_modules(model, quant, max_seq, keep_ids, int4)
    report.stage("tracing")
    programs = trace(forward, embed, hidden)
    metadata = {
        "get_max_seq_len": max_seq,
        "get_vocab_size": vocab,
        "get_hidden_size": hidden,
        "get_output_size": vocab if keep_ids is None else len(keep_ids),
    }
    report.stage("lowering to XNNPACK")
    with _Ticker(report, "lowering to XNNPACK", SECONDS_PER_MPARAM * n_params / 1e6):
        edge, backend_config = lower(programs, metadata)
    report.stage("serializing")
    program = edge.to_executorch(backend_config)
    report.stage("writing")
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(f".{out_path.name}.{os.getpid()}.partial")
    with open(tmp, "wb") as fh:
        program.write_to_file(fh)
    tmp.replace(out_path)
    report.finish()
    return {
        "bytes": out_path.stat().st_size,
        "hidden_size": hidden,
        "vocab_size": vocab,
        "output_size": metadata["get_output_size"],
        "max_seq": max_seq,
        "parameters": n_params,
        "int4_linears": sorted(int4 or {}),  # the linears that run as int4 (QuantConfig.int4_source)
        "timings": report.timings,
    }
