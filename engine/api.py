"""The engine facade: the one interface the app, the CLI, the tests and the benchmarks use.

    engine = Engine()                       # embedded Gemma 3 270M, eager backend
    for piece in engine.complete("The quick bro"):
        print(piece, end="")

Every call streams text pieces and can be cancelled from another thread with a
CancelToken (or by closing the generator). Calls are serialized: one request
runs at a time, so a UI cancels the stale request before starting the next.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from engine import prompts
from engine.backends.eager import EagerBackend
from engine.errors import PromptError
from engine.generation import CancelToken, GenerationStats, Generator, SoftPrefix
from engine.models import LoadedModel, ModelInfo, ProgressFn, load_model
from engine.modes import DEFAULT_PARAMS, GenerationParams, Mode

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 256 * 1024  # a long chapter; beyond that the caller should pass the text near the cursor
MAX_REPHRASE_CHARS = 4000  # a few paragraphs: a small model cannot rewrite more in one pass

__all__ = ["Engine", "CancelToken", "GenerationParams", "Mode", "PromptError"]


def _default_threads() -> int:
    env = os.environ.get("KILLAH_THREADS")
    if env:
        return max(1, int(env))
    return max(1, min(2, os.cpu_count() or 1))


class Engine:
    """A loaded model plus everything needed to serve the writing modes."""

    def __init__(
        self,
        model: str | os.PathLike | None = None,
        *,
        backend: str = "eager",
        threads: int | None = None,
        progress: ProgressFn | None = None,
        use_adapters: bool = True,
    ) -> None:
        torch.set_num_threads(threads or _default_threads())
        self.loaded: LoadedModel = load_model(model, progress=progress)
        self.tokenizer = self.loaded.tokenizer
        if backend != "eager":
            raise ValueError(f"unknown backend {backend!r}")
        self.backend = EagerBackend(self.loaded)
        self.generator = Generator(self.backend, self.tokenizer, self._eos_ids())
        self.mode_params: dict[Mode, GenerationParams] = dict(DEFAULT_PARAMS)
        self.adapters = self._load_adapters() if use_adapters else None
        self._active_mode: Mode | None = None

    # -- info -------------------------------------------------------------------

    @property
    def info(self) -> ModelInfo:
        return self.loaded.info

    @property
    def last_stats(self) -> GenerationStats:
        return self.generator.last_stats

    @property
    def adapter_status(self) -> str:
        if self.adapters is None:
            return "no adapters (base model only)"
        return self.adapters.status()

    def _eos_ids(self) -> set[int]:
        ids = set()
        for source in (self.tokenizer.eos_token_id, getattr(self.loaded.model.generation_config, "eos_token_id", None)):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(int(i) for i in source)
        for token in ("<end_of_turn>", "<|im_end|>", "<|endoftext|>"):
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
                ids.add(tid)
        return ids

    def _load_adapters(self) -> Any:
        """The shipped adapters for this base, if any (engine/adapters.py, issue 5)."""
        try:
            from engine.adapters import AdapterRegistry
        except ImportError:
            return None
        try:
            registry = AdapterRegistry(self.loaded)
        except Exception as exc:  # noqa: BLE001 - a bad artifact must not stop the editor
            log.warning("adapters disabled: %s", exc)
            return None
        if registry.is_empty():
            return None
        # peft wraps the model: the backend must call the wrapped one.
        self.backend.model = registry.model
        return registry

    def _activate(self, mode: Mode) -> None:
        if self.adapters is None or mode == self._active_mode:
            return
        if self.adapters.activate(mode.value):
            self.generator.invalidate()  # other weights: cached keys/values are stale
        self._active_mode = mode

    # -- modes ------------------------------------------------------------------

    def complete(
        self,
        text_before_cursor: str,
        *,
        persona: Any = None,
        params: GenerationParams | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Autocomplete: a short continuation that stops at the end of the sentence or line."""
        self._check_text(text_before_cursor)
        prompt = prompts.autocomplete_prompt(text_before_cursor)
        return self._run(Mode.AUTOCOMPLETE, prompt, persona, params, cancel, heal=True)

    def continue_text(
        self,
        text: str,
        *,
        persona: Any = None,
        params: GenerationParams | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Continue the text: up to a paragraph, in the writer's voice."""
        self._check_text(text)
        prompt = prompts.continue_prompt(text)
        return self._run(Mode.CONTINUE, prompt, persona, params, cancel, heal=True)

    def rephrase(
        self,
        text: str,
        *,
        persona: Any = None,
        params: GenerationParams | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Rewrite ``text`` in other words, same meaning and language."""
        self._check_text(text)
        if len(text) > MAX_REPHRASE_CHARS:
            raise PromptError(
                f"The selection is {len(text):,} characters; Killah rephrases at most {MAX_REPHRASE_CHARS:,} "
                "at a time. Select a paragraph or two."
            )
        if self.info.has_chat_template:
            prompt = self.tokenizer.apply_chat_template(
                prompts.rephrase_chat_messages(text), tokenize=False, add_generation_prompt=True
            )
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        else:
            prompt = prompts.rephrase_prompt(text)
            ids = None
        return self._strip_leading(self._run(Mode.REPHRASE, prompt, persona, params, cancel, ids=ids))

    def generate(
        self,
        mode: Mode | str,
        prompt: str,
        *,
        persona: Any = None,
        params: GenerationParams | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Raw generation from a prompt, with a mode's adapters and defaults (dictation, evals)."""
        self._check_text(prompt)
        return self._run(Mode(mode), prompt, persona, params, cancel)

    def run_to_text(self, stream: Iterator[str]) -> str:
        return "".join(stream)

    # -- internals --------------------------------------------------------------

    @staticmethod
    def _check_text(text: str) -> None:
        if not isinstance(text, str):
            raise PromptError("The input must be text.")
        if not text.strip():
            raise PromptError("The input is empty: write something first.")
        if len(text) > MAX_INPUT_CHARS:
            raise PromptError(
                f"The input is {len(text):,} characters; the limit is {MAX_INPUT_CHARS:,}. "
                "Pass the text near the cursor (Killah reads the last ~1,500 characters anyway)."
            )
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise PromptError("The input holds invalid characters (broken UTF-8 surrogates).") from exc

    def _run(self, mode, prompt, persona, params, cancel, heal=False, ids=None) -> Iterator[str]:
        params = params or self.mode_params[mode]
        self._activate(mode)
        if ids is None:
            ids = self.tokenizer(prompt)["input_ids"]
        soft = None
        if persona is not None and getattr(persona, "soft_tokens", None) is not None:
            soft = SoftPrefix.of(persona.soft_tokens)
        return self.generator.stream(ids, params, prompt_text=prompt, soft=soft, cancel=cancel, heal=heal)

    @staticmethod
    def _strip_leading(stream: Iterator[str]) -> Iterator[str]:
        started = False
        for piece in stream:
            if not started:
                piece = piece.lstrip()
                if not piece:
                    continue
                started = True
            yield piece


def default_engine(model: str | Path | None = None, **kwargs) -> Engine:
    return Engine(model, **kwargs)
