"""ExecuTorch backend: runs an exported program (engine/export) through ``executorch.runtime``.

The program holds two methods (see engine/export/static_model.py):
``embed(tokens)`` and ``forward(embeds, pos)`` with the KV cache in its own
mutable buffers. The cache is positional and static: truncating is just moving
the write position back, since attention only reads keys up to the current
position. Sampling, streaming, cancellation and prefix reuse come from
engine/generation.py, as for the eager backend.

A program with a pruned output layer scores only some tokens; their ids are
read from its sidecar (engine/export/program_cache.py), and every other token
gets -inf, so the logits keep the full vocabulary's shape.
"""

from __future__ import annotations

from pathlib import Path

import torch

from engine.errors import ModelError


def set_threads(n: int) -> None:
    """Size XNNPACK's thread pool (shared by every program in the process)."""
    from executorch.extension.pybindings import portable_lib

    if portable_lib._threadpool_get_thread_count() != n:
        portable_lib._unsafe_reset_threadpool(n)


def _sidecar_keep_ids(pte: Path) -> list[int]:
    from engine.export.program_cache import check_keep_ids, read_sidecar

    keep = check_keep_ids(pte, read_sidecar(pte))
    if keep is None:
        raise ModelError(f"The ExecuTorch program {pte} has a pruned output layer but no kept token ids.")
    return keep


class ExecuTorchBackend:
    name = "executorch"

    def __init__(
        self, pte_path: Path, *, keep_ids: list[int] | None = None, threads: int | None = None
    ) -> None:
        from engine.export.static_model import load_custom_ops

        load_custom_ops()  # the program references llama:: and quantized_decomposed:: kernels
        from executorch.runtime import Runtime

        if threads:
            set_threads(threads)
        self.path = Path(pte_path)
        try:
            self._program = Runtime.get().load_program(self.path)
            self._forward = self._program.load_method("forward")
            self._embed = self._program.load_method("embed")
            meta = {
                name: self._constant(name)
                for name in ("get_max_seq_len", "get_vocab_size", "get_hidden_size", "get_output_size")
            }
        except Exception as exc:  # noqa: BLE001 - the runtime raises RuntimeError/KeyError/ValueError on bad files
            raise ModelError(f"The ExecuTorch program {self.path} cannot be loaded: {exc}") from exc
        self.max_positions = int(meta["get_max_seq_len"])
        self.vocab_size = int(meta["get_vocab_size"])
        self.hidden_size = int(meta["get_hidden_size"])
        output_size = int(meta["get_output_size"])
        if keep_ids is None and output_size != self.vocab_size:
            keep_ids = _sidecar_keep_ids(self.path)
        if keep_ids is not None and len(keep_ids) != output_size:
            raise ModelError(
                f"The ExecuTorch program {self.path} scores {output_size} tokens, "
                f"but {len(keep_ids)} kept token ids were given for it."
            )
        # A pruned output layer scores only these ids; every other token gets -inf.
        self._keep = torch.tensor(keep_ids, dtype=torch.long) if keep_ids is not None else None
        self._length = 0

    def _constant(self, name: str):
        return self._program.load_method(name).execute([])[0]

    # -- cache ----------------------------------------------------------------

    def truncate(self, length: int) -> None:
        self._length = min(self._length, max(0, length))

    def reset(self) -> None:
        self._length = 0

    # -- running --------------------------------------------------------------

    def embed_tokens(self, token_ids: list[int]) -> torch.Tensor:
        out = self._embed.execute([torch.tensor([token_ids], dtype=torch.long)])[0]
        return out[0]

    def forward_embeds(self, embeds: torch.Tensor, start_pos: int) -> torch.Tensor:
        if start_pos != self._length:
            raise ValueError(f"backend cache holds {self._length} positions; cannot run from {start_pos}")
        n = int(embeds.shape[0])
        if start_pos + n > self.max_positions:
            raise ValueError(
                f"sequence of {start_pos + n} positions exceeds the program's {self.max_positions}"
            )
        x = embeds.detach().to(torch.float32).contiguous()[None]
        logits = self._forward.execute([x, torch.tensor([start_pos], dtype=torch.long)])[0][0]
        self._length = start_pos + n
        if self._keep is None:
            return logits
        full = torch.empty(self.vocab_size).fill_(float("-inf"))
        return full.index_copy_(0, self._keep, logits)  # ~40 % faster than a boolean/fancy index put

    def forward_tokens(self, token_ids: list[int], start_pos: int) -> torch.Tensor:
        return self.forward_embeds(self.embed_tokens(token_ids), start_pos)
