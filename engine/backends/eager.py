"""Eager PyTorch backend: the reference every other backend is checked against."""

from __future__ import annotations

import torch
from transformers import DynamicCache

from engine.backends.parking import ParkedWeights
from engine.models import LoadedModel


class EagerBackend:
    name = "eager"
    max_logits_rows = 8  # forward_tokens can return the logits of its last few positions

    def __init__(self, loaded: LoadedModel, max_positions: int = 4096) -> None:
        self.model = loaded.model
        config = self.model.config.get_text_config()
        self.vocab_size = int(config.vocab_size)
        self.hidden_size = int(config.hidden_size)
        self.max_positions = min(
            max_positions, int(getattr(config, "max_position_embeddings", max_positions))
        )
        self._cache = DynamicCache()  # no config: plain full-length layers, which crop exactly
        self._length = 0
        self.weights = ParkedWeights(self.model, loaded.info.folder)

    # -- weights --------------------------------------------------------------

    def park(self) -> int:
        """Free the base weights and the cache while other backends serve; bytes freed."""
        self.reset()
        return self.weights.park()

    # -- cache ----------------------------------------------------------------

    def truncate(self, length: int) -> None:
        if length >= self._length:
            return
        if length == 0:
            self.reset()
            return
        for layer in self._cache.layers:
            if getattr(layer, "keys", None) is not None and layer.keys.numel():
                layer.keys = layer.keys[..., :length, :]
                layer.values = layer.values[..., :length, :]
        self._length = length

    def reset(self) -> None:
        self._cache = DynamicCache()
        self._length = 0

    # -- running --------------------------------------------------------------

    def _run(self, start_pos: int, rows: int = 1, **inputs: torch.Tensor) -> torch.Tensor:
        if start_pos != self._length:
            raise ValueError(f"backend cache holds {self._length} positions; cannot run from {start_pos}")
        n = next(iter(inputs.values())).shape[1]
        if start_pos + n > self.max_positions:
            raise ValueError(
                f"sequence of {start_pos + n} positions exceeds the model's {self.max_positions}"
            )
        positions = torch.arange(start_pos, start_pos + n)
        self.weights.restore()  # parked while programs served: read back on first use
        with torch.inference_mode():
            out = self.model(
                **inputs,
                past_key_values=self._cache,
                cache_position=positions,
                position_ids=positions[None],
                use_cache=True,
                logits_to_keep=rows,  # the 262k-entry head costs as much as the rest: only the last rows
            )
        self._cache = out.past_key_values
        self._length = start_pos + n
        return out.logits[0, -1].float() if rows == 1 else out.logits[0, -rows:].float()

    def forward_tokens(self, token_ids: list[int], start_pos: int, rows: int = 1) -> torch.Tensor:
        """Logits of the last position [vocab], or of the last ``rows`` positions [rows, vocab]."""
        return self._run(start_pos, rows, input_ids=torch.tensor([token_ids], dtype=torch.long))

    def forward_embeds(self, embeds: torch.Tensor, start_pos: int) -> torch.Tensor:
        return self._run(start_pos, inputs_embeds=embeds[None].to(torch.float32))

    def embed_tokens(self, token_ids: list[int]) -> torch.Tensor:
        self.weights.restore()
        with torch.inference_mode():
            return self.model.get_input_embeddings()(torch.tensor([token_ids]))[0]
