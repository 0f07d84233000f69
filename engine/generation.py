"""The decoding loop shared by every mode and backend.

It streams text, stops within one token of a cancel, reuses the cached prefix
of the previous request (autocomplete calls while the user types share all
but the last few characters), and heals the last token of a prompt cut
mid-word so that "The quick bro" completes as "wn fox" and not " brown fox".
"""

from __future__ import annotations

import bisect
import hashlib
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch

from engine.backends.base import Backend
from engine.cancel import CancelToken
from engine.modes import GenerationParams
from engine.sampling import sample

PREFILL_CHUNK = 64  # positions per prefill call: a cancel waits at most one chunk
_SENTENCE_END = re.compile(r"[.!?…][\"'»”’)\]]*$")
_LINE_BREAK = re.compile(r"[\n\r]")


@dataclass
class GenerationStats:
    prompt_positions: int = 0
    reused_positions: int = 0  # prompt positions served from the previous request's cache
    prefill_seconds: float = 0.0
    first_token_seconds: float = 0.0  # request start -> first sampled token
    new_tokens: int = 0
    decode_seconds: float = 0.0
    cancelled: bool = False
    stop_reason: str = ""
    tokens: list[int] = field(default_factory=list)
    # Mean log-probability per new token under the model's own distribution (before sampling
    # controls), updated as tokens arrive: the length-normalized confidence the ghost-text gate reads.
    logprob_sum: float = 0.0

    @property
    def mean_logprob(self) -> float:
        return self.logprob_sum / self.new_tokens if self.new_tokens else 0.0

    @property
    def decode_tokens_per_second(self) -> float:
        return (
            (self.new_tokens - 1) / self.decode_seconds
            if self.decode_seconds > 0 and self.new_tokens > 1
            else 0.0
        )

    @property
    def prefill_tokens_per_second(self) -> float:
        fresh = self.prompt_positions - self.reused_positions
        return fresh / self.prefill_seconds if self.prefill_seconds > 0 else 0.0


@dataclass(frozen=True)
class SoftPrefix:
    """Input embeddings placed after BOS (persona soft tokens). ``key`` identifies them for the cache."""

    embeds: torch.Tensor  # [k, hidden]
    key: str

    @classmethod
    def of(cls, embeds: torch.Tensor) -> SoftPrefix:
        digest = hashlib.sha256(embeds.detach().to(torch.float32).contiguous().numpy().tobytes()).hexdigest()
        return cls(embeds.detach(), digest[:16])


class VocabIndex:
    """Token strings sorted for prefix search (token healing)."""

    def __init__(self, tokenizer) -> None:
        pieces = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
        special = set(getattr(tokenizer, "all_special_ids", []))
        self.strings: list[str] = []
        for i, piece in enumerate(pieces):
            if piece is None or i in special or piece.startswith("<0x"):
                self.strings.append("")
                continue
            self.strings.append(piece.replace("▁", " ").replace("Ġ", " ").replace("Ċ", "\n"))
        # A carriage return breaks a line too: a Rephrase take once ran on past "\r\r\r" into "Original: …".
        self.newline_ids = {i for i, s in enumerate(self.strings) if "\n" in s or "\r" in s}
        order = sorted(range(len(self.strings)), key=self.strings.__getitem__)
        self._sorted = [self.strings[i] for i in order]
        self._ids = order

    def ids_starting_with(self, prefix: str) -> list[int]:
        lo = bisect.bisect_left(self._sorted, prefix)
        out = []
        for j in range(lo, len(self._sorted)):
            if not self._sorted[j].startswith(prefix):
                break
            out.append(self._ids[j])
        return out


@dataclass(frozen=True)
class _Plan:
    """What a request feeds: the prompt items, the healed piece, and the speculative healing token."""

    items: list
    healed: str
    allowed: list[int] | None
    speculative: int | None

    @property
    def fed(self) -> list:
        return self.items + [self.speculative] if self.speculative is not None else self.items

    @property
    def rows(self) -> int:
        return 2 if self.speculative is not None else 1


class Generator:
    """Runs one request at a time on a backend; remembers what its cache holds."""

    def __init__(self, backend: Backend, tokenizer, eos_ids: set[int]) -> None:
        self.backend = backend
        self.tokenizer = tokenizer
        self.eos_ids = eos_ids
        self._cached_keys: list = []  # one key per cached position: a token id or ("soft", key, i)
        self._lock = threading.Lock()
        self._vocab: VocabIndex | None = None
        self.last_stats = GenerationStats()
        self.last_prefill_stats = GenerationStats()
        # The logits of the last fed prompt's last rows, kept while the cache still holds that prompt:
        # after an incremental prefill (``prefill``), the request for the same text runs no forward
        # call before its first sampled token. (cached length, logits [vocab] or [rows, vocab], rows)
        self._tail: tuple[int, torch.Tensor, int] | None = None

    def invalidate(self) -> None:
        """Drop the cache: the weights changed (another adapter set)."""
        self.backend.reset()
        self._cached_keys = []
        self._tail = None

    @property
    def cached_positions(self) -> int:
        return len(self._cached_keys)

    # -- prompt feeding ---------------------------------------------------------

    def _items(self, prompt_ids: list[int], soft: SoftPrefix | None) -> list:
        if soft is None:
            return list(prompt_ids)
        soft_items = [("soft", soft.key, i) for i in range(soft.embeds.shape[0])]
        bos = getattr(self.tokenizer, "bos_token_id", None)
        if prompt_ids and prompt_ids[0] == bos:
            return [prompt_ids[0], *soft_items, *prompt_ids[1:]]
        return [*soft_items, *prompt_ids]

    def _feed(
        self,
        items: list,
        soft: SoftPrefix | None,
        cancel: CancelToken | None,
        stats: GenerationStats,
        rows: int = 1,
    ):
        """Run the uncached suffix of ``items``; return the logits of the last ``rows`` positions.

        Stops before the next chunk once ``cancel`` is set (returns None); what ran stays cached.
        """
        common = 0
        for a, b in zip(self._cached_keys, items, strict=False):
            if a != b:
                break
            common += 1
        kept = self._tail_logits(common, len(items), rows)
        if kept is not None:
            self._truncate_cache(common)  # drop the last request's decoded tokens; the prompt stays
            stats.prompt_positions, stats.reused_positions = len(items), len(items)
            return kept
        common = min(common, len(items) - rows)  # the last positions must run to give their logits
        self._truncate_cache(common)
        stats.prompt_positions, stats.reused_positions = len(items), common
        logits = None
        pos = common
        while pos < len(items):
            if cancel is not None and cancel.cancelled:
                return None
            is_soft = isinstance(items[pos], tuple)
            end = pos
            while end < len(items) and isinstance(items[end], tuple) == is_soft and end - pos < PREFILL_CHUNK:
                end += 1
            if 0 < len(items) - end < rows:  # keep the last ``rows`` positions in one call
                end = len(items) - rows
            if is_soft:
                first = items[pos][2]
                logits = self.backend.forward_embeds(soft.embeds[first : first + end - pos], pos)
            else:
                ids = list(items[pos:end])
                if rows > 1 and end == len(items):
                    logits = self.backend.forward_tokens(ids, pos, rows=rows)
                else:
                    logits = self.backend.forward_tokens(ids, pos)
            self._cached_keys.extend(items[pos:end])
            pos = end
        if logits is not None:
            # A copy: a runtime may reuse its output buffer on the next call.
            self._tail = (len(items), logits.clone(), rows)
        return logits

    def _truncate_cache(self, length: int) -> None:
        self.backend.truncate(length)
        self._cached_keys = self._cached_keys[:length]
        if self._tail is not None and length < self._tail[0]:
            self._tail = None  # positions it was computed from will be overwritten

    def _tail_logits(self, common: int, n_items: int, rows: int) -> torch.Tensor | None:
        """The kept logits when the cache already holds exactly these ``n_items`` prompt positions."""
        if self._tail is None or common != n_items:
            return None
        length, logits, kept_rows = self._tail
        if length != n_items or kept_rows < rows:
            return None
        if rows == 1:
            return logits if kept_rows == 1 else logits[-1]
        return logits[-rows:]

    def _vocab_index(self) -> VocabIndex:
        if self._vocab is None:
            self._vocab = VocabIndex(self.tokenizer)
        return self._vocab

    @property
    def vocab(self) -> VocabIndex:
        """The tokens' strings (read once, on first use)."""
        return self._vocab_index()

    # -- healing ----------------------------------------------------------------

    def _heal(self, prompt_ids: list[int], prompt_text: str) -> tuple[list[int], str, list[int] | None]:
        """Drop a trailing partial-word token; return (ids, its text, allowed first tokens)."""
        if len(prompt_ids) < 2 or not prompt_text or not prompt_text[-1].isalnum():
            return prompt_ids, "", None
        self._vocab_index()
        piece = self._vocab.strings[prompt_ids[-1]] if prompt_ids[-1] < len(self._vocab.strings) else ""
        if not piece or not piece.strip() or not piece.strip().isalnum():
            return prompt_ids, "", None
        allowed = self._vocab.ids_starting_with(piece)
        if len(allowed) <= 1:
            return prompt_ids, "", None
        return prompt_ids[:-1], piece, allowed

    # -- the loop ---------------------------------------------------------------

    def stream(
        self,
        prompt_ids: list[int],
        params: GenerationParams,
        *,
        prompt_text: str = "",
        soft: SoftPrefix | None = None,
        cancel: CancelToken | None = None,
        heal: bool = False,
    ) -> Iterator[str]:
        with self._lock:
            yield from self._stream_locked(prompt_ids, params, prompt_text, soft, cancel, heal)

    def prefill(
        self,
        prompt_ids: list[int],
        params: GenerationParams,
        *,
        prompt_text: str = "",
        soft: SoftPrefix | None = None,
        cancel: CancelToken | None = None,
        heal: bool = False,
    ) -> bool:
        """Bring the cache up to the prompt a ``stream`` with these arguments would feed; no decoding.

        Called while the writer types (incremental prefill): only the positions after the common
        prefix with the cache run, in chunks of PREFILL_CHUNK, and a cancel stops it before the next
        chunk with every position that ran kept. The later ``stream`` then starts decoding at once.
        Returns False when cancelled.
        """
        with self._lock:
            stats = GenerationStats()
            started = time.perf_counter()
            plan = self._plan(prompt_ids, params, prompt_text, soft, heal)
            done = self._feed(plan.fed, soft, cancel, stats, rows=plan.rows) is not None
            stats.prefill_seconds = time.perf_counter() - started
            stats.cancelled = not done
            stats.stop_reason = "prefilled" if done else "cancelled"
            self.last_prefill_stats = stats
            return done

    def _plan(self, prompt_ids, params, prompt_text, soft, heal) -> _Plan:
        healed, allowed, removed_token = "", None, None
        if heal:
            original = prompt_ids
            prompt_ids, healed, allowed = self._heal(prompt_ids, prompt_text)
            removed_token = original[-1] if allowed is not None else None
        items = self._items(prompt_ids, soft)
        if len(items) > self.backend.max_positions - params.max_new_tokens:
            keep = self.backend.max_positions - params.max_new_tokens
            items = items[-keep:]
        # Healing without its usual cost: run the dropped token too and keep the logits of the
        # last two positions. When the model picks that same token first (mostly: the word was
        # complete), its next logits are already there and no decode step is spent re-creating it.
        speculative = None
        if (
            allowed is not None
            and getattr(self.backend, "max_logits_rows", 1) >= 2
            and items
            and not isinstance(items[-1], tuple)
        ):
            speculative = removed_token
        return _Plan(items, healed, allowed, speculative)

    def _stream_locked(self, prompt_ids, params, prompt_text, soft, cancel, heal) -> Iterator[str]:
        stats = GenerationStats()
        self.last_stats = stats
        started = time.perf_counter()
        plan = self._plan(prompt_ids, params, prompt_text, soft, heal)
        items, healed, allowed, speculative = plan.items, plan.healed, plan.allowed, plan.speculative
        generator = torch.Generator()
        generator.manual_seed(params.seed if params.seed is not None else secrets.randbits(63))
        if speculative is not None:
            both = self._feed(items + [speculative], soft, cancel, stats, rows=2)
            logits, after_speculative = (None, None) if both is None else (both[0], both[1])
            stats.prompt_positions -= 1
            stats.reused_positions = min(stats.reused_positions, stats.prompt_positions)
        else:
            logits = self._feed(items, soft, cancel, stats)
        stats.prefill_seconds = time.perf_counter() - started
        if logits is None:
            stats.cancelled, stats.stop_reason = True, "cancelled"
            return

        anchor = [t for t in items[-8:] if not isinstance(t, tuple)]
        anchor_text = self.tokenizer.decode(anchor, skip_special_tokens=True)
        generated: list[int] = []
        emitted = ""
        history = [t for t in items if not isinstance(t, tuple)]
        decode_started = None
        pos = len(items)
        stop = ""
        text = ""  # the take so far, decoded
        while True:
            if cancel is not None and cancel.cancelled:
                stop = "cancelled"
                break
            # The rule shapes what is drawn; the logprob below stays the model's own.
            shaped = params.rule.adjust(logits, generated, text) if params.rule is not None else logits
            forbidden = None
            if not generated:
                forbidden = set(self.eos_ids)
                if params.stop_at_newline:
                    # A line-bound suggestion that opens with a line break would be empty:
                    # after a full stop the model often wants one. Ask for words instead.
                    forbidden |= self._vocab_index().newline_ids
            if generated or allowed is None:
                token = sample(shaped, history, params.sampling, generator, forbidden)
            else:
                mask = torch.full_like(shaped, float("-inf"))
                mask[allowed] = 0.0
                token = sample(shaped + mask, history, params.sampling, generator, forbidden)
            if not generated:
                stats.first_token_seconds = time.perf_counter() - started
                decode_started = time.perf_counter()
            if token in self.eos_ids:
                stop = "eos"
                break
            stats.logprob_sum += float(torch.log_softmax(logits.float(), dim=-1)[token])
            generated.append(token)
            history.append(token)
            stats.tokens = generated
            stats.new_tokens = len(generated)

            text = self.tokenizer.decode(anchor + generated, skip_special_tokens=True)
            text = text[len(anchor_text) :] if text.startswith(anchor_text) else text
            if healed:
                text = text[len(healed) :] if text.startswith(healed) else text
            if text.endswith("\ufffd"):  # a multi-byte character split across tokens
                piece, text = "", emitted
            full, stop = _apply_stops(text, params)
            piece = full[len(emitted) :] if full.startswith(emitted) else ""
            if piece:
                emitted = full
                yield piece
            if stop:
                break
            if len(generated) >= params.max_new_tokens:
                stop = "length"
                break
            if pos >= self.backend.max_positions:
                stop = "context"
                break
            if cancel is not None and cancel.cancelled:
                stop = "cancelled"
                break
            if speculative is not None and len(generated) == 1:
                if token == speculative:  # already run in the prefill
                    logits, speculative = after_speculative, None
                    pos += 1
                    continue
                self._truncate_cache(pos)  # the guess was wrong: forget its position
                speculative = None
            logits = self.backend.forward_tokens([token], pos)
            self._cached_keys.append(token)
            pos += 1
        if decode_started is not None:
            stats.decode_seconds = time.perf_counter() - decode_started
        stats.cancelled = stop == "cancelled"
        stats.stop_reason = stop


def _apply_stops(text: str, params: GenerationParams) -> tuple[str, str]:
    """Cut ``text`` at the first stop boundary the params ask for; return (text, reason or '')."""
    body_start = len(text) - len(text.lstrip())
    if params.stop_at_paragraph:
        i = text.find("\n\n", body_start)
        if i >= 0:
            return text[:i], "paragraph"
    if params.stop_at_newline:
        found = _LINE_BREAK.search(text, body_start if params.stop_at_paragraph else 0)
        i = found.start() if found else -1
        if i >= 0:
            return text[:i], "newline"
    if params.stop_at_sentence_end and text[body_start:].strip() and _SENTENCE_END.search(text.rstrip()):
        if text == text.rstrip():
            return text, "sentence"
    return text, ""
