"""Ghost-text autocomplete as a small state machine, free of Qt and of the model.

The controller is told what the user did (``on_edit``, ``on_cursor_moved``,
``accept_all``, ...) and what the engine answered (``on_piece``, ``on_finished``).
It drives two collaborators given to it:

- a ``Debouncer`` (one-shot timer: a QTimer in the app, a fake clock in tests);
- a ``CompletionSource`` that starts and cancels engine requests by id;

and reports the ghost text to show through ``on_ghost(text)``.

While the writer types, each edit that waits for the pause also asks the source to
``warm`` the engine with the new text (incremental prefill), so that when the pause
comes only decoding remains. A suggestion whose length-normalized log-probability
(``on_confidence``) is below ``min_logprob`` is kept but not shown (Smart Compose's gate).

With ``speculate`` on, a finished suggestion that is shown starts a background request for the
text as it will be once the writer takes it (llama.vim): its answer goes into the cache, so after
Tab (or typing it through) the next suggestion is there at once, or the request still running is
adopted instead of starting another. Any other request cancels it first.

The suggestion is kept as (``base``, ``suggestion``): the text before the cursor
when it was requested, and what the engine proposed after it. The ghost shown
is whatever part of ``base + suggestion`` lies beyond the current text before
the cursor, and only when the current text is a prefix of ``base + suggestion``.
So typing the suggestion's next characters keeps the rest, any other edit
drops it, and a piece for an old prefix can never be shown.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

DEFAULT_DEBOUNCE_MS = 150
CACHE_SIZE = 32  # finished suggestions kept: deleting and retyping shows them again at once
_NEXT_WORD = re.compile(r"\s*[^\s]+")


@dataclass
class _Speculation:
    """A background request for the text as it will be once the shown suggestion is taken."""

    request_id: int
    base: str
    text: str = ""
    confidence: float | None = None


@dataclass(frozen=True)
class CursorContext:
    prefix: str  # the document's text before the cursor
    right_of_cursor: str = ""  # the rest of the cursor's line
    has_selection: bool = False


class Debouncer(Protocol):
    def start(self, delay_ms: int, callback: Callable[[], None]) -> None: ...
    def stop(self) -> None: ...


class CompletionSource(Protocol):
    def request_completion(self, request_id: int, prefix: str) -> None: ...
    def cancel(self, request_id: int) -> None: ...
    def warm(self, prefix: str) -> None:
        """Bring the engine's cache up to ``prefix`` (superseding the last warm-up); nothing comes back."""


class State(StrEnum):
    IDLE = "idle"  # nothing pending, no ghost
    WAITING = "waiting"  # debounce timer running
    REQUESTING = "requesting"  # request sent, nothing usable received yet
    SHOWING = "showing"  # a ghost is visible (the request may still be streaming more)


class CompletionController:
    def __init__(
        self,
        source: CompletionSource,
        debouncer: Debouncer,
        on_ghost: Callable[[str], None] = lambda text: None,
        *,
        debounce_ms: int = DEFAULT_DEBOUNCE_MS,
        allow_mid_line: bool = False,
        enabled: bool = True,
        prefill_while_typing: bool = True,
        min_logprob: float | None = None,
        speculate: bool = False,
    ) -> None:
        self.source = source
        self.debouncer = debouncer
        self.on_ghost = on_ghost
        self.debounce_ms = debounce_ms
        self.allow_mid_line = allow_mid_line
        self._enabled = enabled
        self.prefill_while_typing = prefill_while_typing
        self.min_logprob = min_logprob  # None: every suggestion is shown
        self.speculate = speculate
        self._speculation: _Speculation | None = None
        self._speculated: set[str] = set()  # cached bases that came from a speculation
        self.speculations_started = 0
        self.speculation_hits = 0  # suggestions shown from a speculation (cached or adopted)
        self._confidence: float | None = None  # the active suggestion's mean log-prob so far
        self.state = State.IDLE
        self._context = CursorContext("")
        self._next_id = 0
        self._active_id: int | None = None  # the request whose pieces we still accept
        self._streaming = False
        self._base = ""
        self._suggestion = ""
        self._ghost = ""
        self.requests_started = 0  # for tests and the benchmark
        self.cache_hits = 0
        self.warms_sent = 0
        self.gated = 0  # finished suggestions held back by the confidence gate
        self._cache: OrderedDict[str, str] = OrderedDict()  # base -> full suggestion
        self.last_error = ""

    # -- what the editor shows ------------------------------------------------

    @property
    def ghost(self) -> str:
        return self._ghost

    @property
    def enabled(self) -> bool:
        return self._enabled

    def set_enabled(self, enabled: bool) -> None:
        self._enabled = enabled
        if not enabled:
            self.dismiss()

    # -- user events ----------------------------------------------------------

    def on_edit(self, context: CursorContext) -> None:
        """The text changed (typing, deleting, pasting, an accepted suggestion)."""
        self._context = context
        if self._refresh_ghost():
            # Still consistent with the suggestion (the user typed its next characters).
            if self._ghost or self._streaming:
                return
        self._drop()
        spec = self._speculation
        if spec is not None and context.prefix == spec.base:
            self._adopt_speculation()  # the suggestion was taken: its follow-up is already running
            return
        if spec is not None and not spec.base.startswith(context.prefix):
            self._cancel_speculation()  # the writer went another way: free the engine for their text
        if context.prefix in self._speculated and self._eligible(context) and self._from_cache(context.prefix):
            return  # taken, and its follow-up finished in the background: shown without the pause
        self._schedule()

    def on_cursor_moved(self, context: CursorContext) -> None:
        """The cursor moved or the selection changed without an edit."""
        if context == self._context:
            return
        self._context = context
        if not self._refresh_ghost():
            self._drop()

    def request_now(self, context: CursorContext) -> None:
        """Ctrl+Space: ask for a suggestion at once, without waiting for a pause."""
        self._context = context
        self._drop()
        if self._eligible(context):
            self.state = State.WAITING
            self._fire()

    def dismiss(self) -> None:
        """Esc: drop the ghost and any pending request; nothing new until the next edit."""
        self._drop()
        self._cancel_speculation()

    def accept_all(self) -> str:
        """The text to insert for Tab ('' if there is no ghost). The editor inserts it."""
        text = self._ghost
        if text and self._streaming and self._active_id is not None:
            # The rest of the stream would extend a suggestion the user already took.
            self.source.cancel(self._active_id)
            self._active_id = None
            self._streaming = False
        return text

    def accept_word(self) -> str:
        """The ghost's next word (with its leading space) for Ctrl+Right."""
        match = _NEXT_WORD.match(self._ghost)
        return match.group(0) if match else ""

    # -- engine events --------------------------------------------------------

    def on_piece(self, request_id: int, piece: str) -> None:
        spec = self._speculation
        if spec is not None and request_id == spec.request_id:
            spec.text += piece
            return
        if request_id != self._active_id:
            return  # an old request: its text belongs to a prefix that is gone
        self._suggestion += piece
        if not self._refresh_ghost():
            self._drop()

    def on_confidence(self, request_id: int, mean_logprob: float) -> None:
        """The active suggestion's mean log-probability per token so far (sent before each piece)."""
        if request_id == self._active_id:
            self._confidence = mean_logprob
        elif self._speculation is not None and request_id == self._speculation.request_id:
            self._speculation.confidence = mean_logprob

    @property
    def confidence(self) -> float | None:
        return self._confidence

    def on_finished(self, request_id: int) -> None:
        spec = self._speculation
        if spec is not None and request_id == spec.request_id:
            self._speculation = None
            if spec.text.strip() and not self._below_gate(spec.confidence):
                self._remember(spec.base, spec.text)
                self._speculated.add(spec.base)
            return
        if request_id != self._active_id:
            return
        if self._held_back():
            self.gated += 1
        elif self._suggestion.strip():
            self._remember(self._base, self._suggestion)
        self._streaming = False
        self._active_id = None
        if not self._ghost:
            self._set_ghost("")
            self.state = State.IDLE
        elif self.speculate:
            self._start_speculation(self._base + self._suggestion)
        elif self.prefill_while_typing:
            # The next suggestion's prompt if the writer takes or types this one (llama.vim): its
            # tokens are mostly cached already (the decode ran them), so this costs a step or two.
            self.warms_sent += 1
            self.source.warm(self._base + self._suggestion)

    def on_failed(self, request_id: int, message: str) -> None:
        if self._speculation is not None and request_id == self._speculation.request_id:
            self._speculation = None  # a background guess: nothing to tell the writer
            return
        if request_id != self._active_id:
            return
        self.last_error = message
        self._drop()

    # -- internals ------------------------------------------------------------

    def _eligible(self, context: CursorContext) -> bool:
        if not self._enabled or context.has_selection or not context.prefix.strip():
            return False
        right = context.right_of_cursor
        if right.strip():
            # Text to the right: only when configured, and never inside a word.
            return self.allow_mid_line and not right[0].isalnum()
        return True

    def _refresh_ghost(self) -> bool:
        """Recompute the ghost for the current context; False if the suggestion no longer fits."""
        if not self._suggestion and not self._streaming:
            return False
        full = self._base + self._suggestion
        prefix = self._context.prefix
        if len(prefix) < len(self._base) or not full.startswith(prefix) or not prefix.startswith(self._base):
            return False
        if not self._eligible(self._context):
            return False
        ghost = "" if self._held_back() else full[len(prefix) :]
        if not ghost and not self._streaming:
            self._set_ghost("")
            self.state = State.IDLE
            return True
        self.state = State.SHOWING if ghost else State.REQUESTING
        self._set_ghost(ghost)
        return True

    def _held_back(self) -> bool:
        """The confidence gate: a suggestion the model is unsure of is not shown."""
        return self._below_gate(self._confidence)

    def _below_gate(self, confidence: float | None) -> bool:
        return self.min_logprob is not None and confidence is not None and confidence < self.min_logprob

    def _remember(self, base: str, suggestion: str) -> None:
        self._cache[base] = suggestion
        self._cache.move_to_end(base)
        while len(self._cache) > CACHE_SIZE:
            evicted, _ = self._cache.popitem(last=False)
            self._speculated.discard(evicted)

    # -- speculation ------------------------------------------------------------

    def _start_speculation(self, base: str) -> None:
        self._cancel_speculation()
        if base in self._cache or not self._eligible(CursorContext(base, self._context.right_of_cursor)):
            return
        self._next_id += 1
        self._speculation = _Speculation(self._next_id, base)
        self.speculations_started += 1
        self.source.request_completion(self._next_id, base)

    def _cancel_speculation(self) -> None:
        if self._speculation is not None:
            self.source.cancel(self._speculation.request_id)
            self._speculation = None

    def _adopt_speculation(self) -> None:
        """The running speculation becomes the active request: its pieces so far show at once."""
        spec, self._speculation = self._speculation, None
        self.debouncer.stop()
        self._active_id, self._base, self._suggestion = spec.request_id, spec.base, spec.text
        self._confidence, self._streaming = spec.confidence, True
        self.state = State.REQUESTING
        self.speculation_hits += 1
        if not self._refresh_ghost():
            self._drop()

    def _set_ghost(self, text: str) -> None:
        if text != self._ghost:
            self._ghost = text
            self.on_ghost(text)

    def _drop(self) -> None:
        self.debouncer.stop()
        if self._active_id is not None:
            self.source.cancel(self._active_id)
        self._active_id = None
        self._streaming = False
        self._base = self._suggestion = ""
        self._confidence = None
        self._set_ghost("")
        self.state = State.IDLE

    def _schedule(self) -> None:
        if self._eligible(self._context):
            self.state = State.WAITING
            self.debouncer.start(self.debounce_ms, self._fire)
            if self.prefill_while_typing:
                self.warms_sent += 1
                self.source.warm(self._context.prefix)

    def _from_cache(self, prefix: str) -> bool:
        """Show a finished suggestion the current text still fits (e.g. after a deleted and retyped word)."""
        for base in reversed(self._cache):
            suggestion = self._cache[base]
            full = base + suggestion
            if len(base) <= len(prefix) < len(full) and full.startswith(prefix) and prefix.startswith(base):
                self._base, self._suggestion, self._streaming = base, suggestion, False
                self._confidence = None  # only suggestions that passed the gate are cached
                self._cache.move_to_end(base)
                self.cache_hits += 1
                self.speculation_hits += base in self._speculated
                return self._refresh_ghost()
        return False

    def _fire(self) -> None:
        if self.state != State.WAITING or not self._eligible(self._context):
            return
        if self._from_cache(self._context.prefix):
            return
        self._cancel_speculation()  # the engine serves one request at a time: the writer's comes first
        self._next_id += 1
        self._active_id = self._next_id
        self._streaming = True
        self._base = self._context.prefix
        self._suggestion = ""
        self._confidence = None
        self.state = State.REQUESTING
        self.requests_started += 1
        self.source.request_completion(self._active_id, self._base)
