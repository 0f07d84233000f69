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
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from engine import prompts
from engine.audio.tidy import TidyResult, check_tidy, tidy_rules
from engine.backends.eager import EagerBackend
from engine.cancel import CancelToken
from engine.errors import STYLE_MEMORY_NEEDED, PromptError, StyleError
from engine.generation import GenerationStats, Generator, SoftPrefix
from engine.models import LoadedModel, ModelInfo, ProgressFn, load_model
from engine.modes import DEFAULT_PARAMS, GenerationParams, Mode
from engine.persona.exemplars import (
    ANY_PARAGRAPH,
    DEFAULT_BUDGET_TOKENS,
    DEFAULT_K,
    RELEVANCE_THRESHOLD,
    StyleContext,
    StyleRequest,
)
from engine.quality.best_of_n import (
    MAX_TAKES,
    Candidate,
    CandidateSet,
    Scorer,
    default_scorer,
    draw_takes,
    draw_until,
    rank,
    take_params,
)
from engine.quality.guard import GuardVerdict, MeaningGuard
from engine.quality.keep import (
    DEFAULT_COPY_BIAS,
    DEFAULT_MAX_COPY_RUN,
    VocabClasses,
    copy_rule,
    words_changed,
)
from engine.quality.passages import passage_candidates, passage_units
from engine.quality.selection_check import check_rephrase_selection, language_of
from engine.sampling import CopyRule

log = logging.getLogger(__name__)

MAX_INPUT_CHARS = 256 * 1024  # a long chapter; beyond that the caller should pass the text near the cursor
MAX_REPHRASE_CHARS = 4000  # a few paragraphs: a small model cannot rewrite more in one pass
# Eager unused this long while programs serve -> its ~1.1 GB of fp32 base weights leave memory. Long
# enough that a mode still waiting for its program keeps them; reading them back costs ~1 s.
PARK_EAGER_AFTER_S = 60.0
MAX_DICTATION_CHARS = 2000  # one utterance; Whisper's 30 s window holds ~100 words
# Adaptive best-of-n's time budget per sentence (no new take starts after it): 5 takes of the ExecuTorch
# program (~1.8 s each) fit easily; on eager under load a take can cost 10 s, and one take is no choice.
REPHRASE_BUDGET_S = 20.0

__all__ = ["Engine", "CancelToken", "GenerationParams", "Mode", "PromptError", "StyleContext", "StyleRequest"]

# Modes whose prompt is preceded by the writer's retrieved paragraphs when a request asks for style.
# Chosen by measurement on the held-out writers (docs/persona.md, 2026-11-26):
# - Continue: own exemplars lower the NLL of the writer's text against none and another writer's.
# - Autocomplete: no keystroke-savings gain (on - off = -0.013, 95% CI [-0.035, +0.010], 25 sentences
#   of 5 writers) and the first token 14x later on eager (a new prefill per paragraph): unstyled.
# - Rephrase: its few-shot prompt was never measured with exemplars: unstyled.
# - Rephrase in my style: styled by definition; its adapter was trained on prompts that carry two
#   paragraphs of the reference writer (training/recipes/grpo_style.py).
STYLED_MODES = frozenset({Mode.CONTINUE, Mode.REPHRASE_STYLE})


def near_cursor(text_before_cursor: str) -> str:
    """The part of a long document's text before the cursor that a request may use: the prompt
    reads only its last ~1,500 characters (and style retrieval its last paragraph), so a novel of
    200,000 words is served like a page instead of being refused."""
    return text_before_cursor[-MAX_INPUT_CHARS:]


def _default_threads() -> int:
    env = os.environ.get("KILLAH_THREADS")
    if env:
        return max(1, int(env))
    # Half the cores, at most 4: the UI, the audio path and the user's other programs need the rest.
    # Measured here under load: 2 threads on 2 cores decoded ~10x slower than 1 (docs/benchmarks.md).
    return max(1, min(4, (os.cpu_count() or 2) // 2))


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
        adapters_root: Path | None = None,
    ) -> None:
        torch.set_num_threads(threads or _default_threads())
        self.loaded: LoadedModel = load_model(model, progress=progress)
        self.tokenizer = self.loaded.tokenizer
        if backend not in ("eager", "executorch", "auto"):
            raise ValueError(f"unknown backend {backend!r}")
        self.eager = EagerBackend(self.loaded)
        self.backend = self.eager
        self.generator = Generator(self.backend, self.tokenizer, self._eos_ids())
        self.backend_note = ""  # why the ExecuTorch program is not in use, if it is not
        self.mode_params: dict[Mode, GenerationParams] = dict(DEFAULT_PARAMS)
        self.adapters = self._load_adapters(adapters_root) if use_adapters else None
        self._adapters_root, self._use_adapters = adapters_root, use_adapters
        self._active_mode: Mode | None = None
        self.programs = None  # ExecuTorch programs per adapter composition (backend != "eager")
        # Programs serve; eager idle this long -> its base weights are parked (engine/backends/parking.py)
        self.park_eager_after_s = PARK_EAGER_AFTER_S
        self._eager_used = time.monotonic()
        if backend != "eager":
            self._start_executorch(wait=backend == "executorch", progress=progress, threads=threads)
            # Autocomplete runs most: its program is looked up (or built) first.
            self._activate(Mode.AUTOCOMPLETE)
        self.last_tidy: TidyResult | None = None  # what the last tidy_dictation returned, and why
        self._guard: MeaningGuard | None = None  # best-of-n: built on first use (loads MiniLM)
        self._scorer: Scorer | None = None
        self.style_memory: Any = None  # engine.persona.StyleMemory: the writer's paragraphs for exemplars
        self.last_style: StyleContext | None = None  # what conditioned the last request (None: not asked)
        self.last_prompt = ""  # the prompt text of the last streamed request, as decoded (tests, evals)
        self.style_k, self.style_budget = DEFAULT_K, DEFAULT_BUDGET_TOKENS
        # Rephrase's copy-aware decoding (engine/quality/keep.py); None: the old decoding (evals).
        self.copy_bias: float | None = DEFAULT_COPY_BIAS
        self.max_copy_run = DEFAULT_MAX_COPY_RUN
        # Adaptive best-of-n: no new take starts after this long (one take, at least, always runs).
        self.rephrase_budget_s: float | None = REPHRASE_BUDGET_S
        self._vocab_classes: VocabClasses | None = None
        self._copy_rule: tuple[tuple, CopyRule] | None = None  # (source, bias, run) -> its rule (stateless)

    def attach_style_memory(self, memory: Any) -> None:
        """The style memory that ``style=StyleRequest(...)`` requests retrieve from (None: none)."""
        self.style_memory = memory

    # -- backends ---------------------------------------------------------------

    def use_backend(self, backend: Any) -> None:
        """Switch the backend between requests (eager -> ExecuTorch once its program is ready)."""
        with self.generator._lock:  # never in the middle of a stream
            self.backend = backend
            self.generator.backend = backend
            self.generator.invalidate()

    def _start_executorch(self, *, wait: bool, progress: ProgressFn | None, threads: int | None) -> None:
        """Serve each adapter composition from its cached INT8 program (``killah export`` builds them).

        A program has its composition's adapters merged in, so each mode's composition has its own
        (engine/backends/programs.py); the backend is chosen again on every request.
        ``wait`` (backend="executorch"): use a program if a valid one is cached, else stay on eager.
        Otherwise (backend="auto"): a missing or invalid program is built in the background
        (minutes) and the engine switches when it is ready. Meanwhile, or if it cannot be had
        (missing, truncated, built for another model, export failed), the eager backend, whose
        peft layers hold the same composition, serves, and ``backend_note`` says why.
        """
        from engine.backends.programs import ProgramsPerComposition
        from engine.export import default_preset_for

        self.programs = ProgramsPerComposition(
            self.loaded,
            self.eager,
            quant=default_preset_for(self.loaded),
            build=not wait,
            threads=threads or _default_threads(),
            progress=progress,
        )

    def _choose_backend(self, names: tuple[str, ...]) -> None:
        """The active composition's program if it is ready, else eager (and why, in backend_note)."""
        if self.programs is None:
            return
        folders = self.adapters.folders(names) if self.adapters is not None else []
        backend, note = self.programs.backend_for(names, folders)
        if backend is self.eager:
            self._eager_used = time.monotonic()
        elif time.monotonic() - self._eager_used >= self.park_eager_after_s and not self.eager.weights.parked:
            self.eager.park()  # read back on the next eager request (a mode whose program is not built)
        if backend is not self.backend:
            self.use_backend(backend)
        if note and note != self.backend_note:  # once per change, not on every keystroke's request
            log.info(note)
        self.backend_note = note

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
            return "base model only (no adapters installed for it)"
        return self.adapters.status(self._active_mode or Mode.AUTOCOMPLETE)

    def reload_user_adapter(self, name: str) -> str:
        """(Re)load one of the writer's adapters (engine.adapters.USER_ADAPTER_MODES: "personal",
        "personal_style") after its recipe wrote it, between two requests; the composition's status.
        A model with no adapter of its own gets its registry now. A refused one is named in the status."""
        if not self._use_adapters:
            return self.adapter_status
        if self.adapters is None:
            self.adapters = self._load_adapters(self._adapters_root)
        else:
            self.adapters.load_personal(name)
        if self.programs is not None:  # its compositions' programs merged the old weights: rebuilt
            self.programs.forget(name)
        return self.adapter_status  # the next request's activate() drops the stale KV cache

    def delete_user_adapter(self, name: str) -> str:
        """Unload one of the writer's adapters and delete its files and manifest entry."""
        from engine.adapters import delete_user_adapter

        if self.adapters is not None:
            self.adapters.delete_personal(name)
        else:
            delete_user_adapter(name)
        if self.programs is not None:
            self.programs.forget(name)
        return self.adapter_status

    def _eos_ids(self) -> set[int]:
        ids = set()
        for source in (
            self.tokenizer.eos_token_id,
            getattr(self.loaded.model.generation_config, "eos_token_id", None),
        ):
            if isinstance(source, int):
                ids.add(source)
            elif source:
                ids.update(int(i) for i in source)
        for token in ("<end_of_turn>", "<|im_end|>", "<|endoftext|>"):
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
                ids.add(tid)
        return ids

    def _load_adapters(self, root: Path | None = None) -> Any:
        """The shipped adapters for this base (or those of the manifest in ``root``), if any."""
        try:
            from engine.adapters import AdapterRegistry

            registry = AdapterRegistry(self.loaded, root=root)
        except Exception as exc:  # noqa: BLE001 - a bad artifact must not stop the editor
            log.warning("adapters disabled: %s", exc)
            return None
        # peft injects the LoRA layers into loaded.model in place: the backend needs no change.
        return registry if registry.installed else None

    def _activate(self, mode: Mode) -> None:
        # Asked on every request (a set comparison): the settings may have switched an adapter
        # off or on since the last one, even within the same mode.
        self._active_mode = mode
        if self.adapters is None:
            self._choose_backend(())
            return
        got = self.adapters.activate(mode)
        if got.changed:
            self.generator.invalidate()  # other weights: the cached keys/values are stale
        self._choose_backend(got.active)

    # -- modes ------------------------------------------------------------------

    def complete(
        self,
        text_before_cursor: str,
        *,
        persona: Any = None,
        style: StyleRequest | None = None,
        params: GenerationParams | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Autocomplete: a short continuation that stops at the end of the sentence or line."""
        prompt = self._autocomplete_prompt(text_before_cursor, style)
        return self._run(Mode.AUTOCOMPLETE, prompt, persona, params, cancel, heal=True)

    def prefill(
        self,
        text_before_cursor: str,
        *,
        persona: Any = None,
        style: StyleRequest | None = None,
        params: GenerationParams | None = None,
        cancel: CancelToken | None = None,
    ) -> bool:
        """Incremental prefill while the writer types: cache what ``complete`` with the same
        arguments would feed, so that when the pause comes only decoding remains.

        Only the text after the cache's common prefix runs (an edit truncates to it first); a cancel
        stops it before the next chunk of positions, keeping what ran. False when cancelled.
        """
        prompt = self._autocomplete_prompt(text_before_cursor, style)
        params, ids, soft = self._prepare(Mode.AUTOCOMPLETE, prompt, persona, params)
        return self.generator.prefill(ids, params, prompt_text=prompt, soft=soft, cancel=cancel, heal=True)

    def _autocomplete_prompt(self, text_before_cursor: str, style: StyleRequest | None) -> str:
        """The prompt ``complete`` decodes from; ``prefill`` warms exactly this one."""
        text_before_cursor = near_cursor(text_before_cursor)
        self.check_text(text_before_cursor)
        return self._styled(
            Mode.AUTOCOMPLETE, prompts.autocomplete_prompt(text_before_cursor), text_before_cursor, style
        )

    def continue_text(
        self,
        text: str,
        *,
        persona: Any = None,
        style: StyleRequest | None = None,
        params: GenerationParams | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Continue the text: up to a paragraph, in the writer's voice."""
        text = near_cursor(text)
        self.check_text(text)
        prompt = self._styled(Mode.CONTINUE, prompts.continue_prompt(text), text, style)
        return self._run(Mode.CONTINUE, prompt, persona, params, cancel, heal=True)

    def rephrase(
        self,
        text: str,
        *,
        persona: Any = None,
        style: StyleRequest | None = None,
        params: GenerationParams | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Rewrite ``text`` in other words, same meaning and language."""
        self.check_text(text)
        self._styled(Mode.REPHRASE, "", text, style)  # records that style was not applied, and why
        check_rephrase_selection(text, MAX_REPHRASE_CHARS)  # too long, code, a table, another language
        prompt, ids = self._rephrase_prompt(text)
        params = self._keeping(text, params or self.mode_params[Mode.REPHRASE])
        return self._strip_leading(self._run(Mode.REPHRASE, prompt, persona, params, cancel, ids=ids))

    def _keeping(self, text: str, params: GenerationParams) -> GenerationParams:
        """``params`` with the copy-aware rule for rewriting ``text`` (engine/quality/keep.py), unless
        the caller brought its own rule or ``copy_bias`` is None (the old decoding, for evals)."""
        if params.rule is not None or self.copy_bias is None:
            return params
        key = (text, self.copy_bias, self.max_copy_run)
        if self._copy_rule is None or self._copy_rule[0] != key:  # built once for all takes of a source
            if self._vocab_classes is None:
                self._vocab_classes = VocabClasses(self.generator.vocab.strings)
            end_ids = set(self.generator.eos_ids) | self.generator.vocab.newline_ids
            source_ids = self.tokenizer(" " + " ".join(text.split()), add_special_tokens=False)["input_ids"]
            rule = copy_rule(text, source_ids, self._vocab_classes, end_ids, self.copy_bias, self.max_copy_run)
            self._copy_rule = (key, rule)
        return replace(params, rule=self._copy_rule[1])

    def _rephrase_prompt(self, text: str) -> tuple[str, list[int] | None]:
        if self.info.has_chat_template:
            prompt = self.tokenizer.apply_chat_template(
                prompts.rephrase_chat_messages(text), tokenize=False, add_generation_prompt=True
            )
            return prompt, self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        return prompts.rephrase_prompt(text), None

    def rephrase_candidates(
        self,
        text: str,
        *,
        n: int = MAX_TAKES,
        seed: int | None = None,
        on_piece: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> CandidateSet:
        """Adaptive best-of-n Rephrase: takes across min-p settings until one passes the meaning guard
        and rewords enough, at most ``n`` and within ``rephrase_budget_s``; guarded and ranked, best first.

        The first take's pieces go to ``on_piece`` while it is drawn; the takes run one after the
        other and share the prompt's cached keys/values (engine/quality/best_of_n.py). A passage is
        rewritten sentence by sentence (``on_progress(done, total)``; ``cancel`` stops between takes).
        """
        self.check_text(text)
        language = check_rephrase_selection(text, MAX_REPHRASE_CHARS)
        start = lambda unit, p: self.rephrase(unit, params=p, cancel=cancel)  # noqa: E731
        return self._guarded_takes(text, Mode.REPHRASE, language, start, n, seed, on_piece, cancel, on_progress)

    def rephrase_in_style(
        self,
        text: str,
        *,
        style: StyleRequest | None = None,
        params: GenerationParams | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Rewrite ``text`` in the writer's style (Mode.REPHRASE_STYLE): the prompt is preceded by their
        own paragraphs from the style memory. StyleError, before anything is generated, when there are none.
        """
        self.check_text(text)
        check_rephrase_selection(text, MAX_REPHRASE_CHARS)
        prompt = self.style_rephrase_prompt(text, style)
        params = self._keeping(text, params or self.mode_params[Mode.REPHRASE_STYLE])
        return self._strip_leading(self._run(Mode.REPHRASE_STYLE, prompt, None, params, cancel))

    def style_rephrase_prompt(self, text: str, style: StyleRequest | None = None) -> str:
        """The RL adapter's training form: ``with_exemplars(<the writer's k paragraphs most like the
        selection>, rephrase_prompt(text))``, retrieved as Continue retrieves them (``last_style`` says
        which). The plain few-shot form even for a chat model: it is what the adapter learned.
        """
        request = style or StyleRequest()
        # Exemplars are cached per (document, paragraph) for typing; keyed by the selection here, so one
        # selection's choice (which may hold another selection's paragraph) is never reused for another.
        request = replace(request, document=f"{request.document}\x00rephrase\x00{text}", rewriting=text)
        prompt = self._styled(Mode.REPHRASE_STYLE, prompts.rephrase_prompt(text), text, request)
        if self.last_style is None or not self.last_style.active:
            why = self.last_style.reason if self.last_style is not None else "no style memory"
            raise StyleError(f"{STYLE_MEMORY_NEEDED} (none of your paragraphs could be used: {why}).")
        return prompt

    def rephrase_in_style_candidates(
        self,
        text: str,
        *,
        style: StyleRequest | None = None,
        n: int = MAX_TAKES,
        seed: int | None = None,
        on_piece: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> CandidateSet:
        """Best-of-n "Rephrase in my style": Rephrase's takes, meaning guard and ranking, on the styled prompt.
        StyleError (nothing generated) without the writer's paragraphs."""
        self.check_text(text)
        language = check_rephrase_selection(text, MAX_REPHRASE_CHARS)
        start = lambda unit, p: self.rephrase_in_style(unit, style=style, params=p, cancel=cancel)  # noqa: E731
        return self._guarded_takes(
            text, Mode.REPHRASE_STYLE, language, start, n, seed, on_piece, cancel, on_progress
        )

    def _guarded_takes(self, text, mode: Mode, language, start, n, seed, on_piece, cancel, on_progress=None):
        """Adaptive best-of-n of ``start(unit, params)``, guarded and scored, best first.

        One sentence: takes until one passes the guard and rewords enough (``draw_until``). A passage of
        2+ sentences is rewritten sentence by sentence, so none is lost, each one guarded; the passage's
        take k joins each sentence's k-th best (``passage_candidates``). ``on_progress(done, total)``
        after each sentence; ``on_piece`` gets the first take's pieces (a passage: each sentence's best).
        """
        started = time.perf_counter()
        units = passage_units(text)
        if len(units) == 1:
            takes = self._adaptive_takes(text, mode, start, n, seed, on_piece, cancel)
        else:
            per_unit: list[list[Candidate]] = []
            total, done = sum(not u.kept for u in units), 0
            for unit in units:
                takes = [] if unit.kept else self._adaptive_takes(unit.text, mode, start, n, seed, None, cancel)
                # Kept units, and a unit a cancel cut, stay as written: the passage is never cut short.
                if not takes or (cancel is not None and cancel.cancelled):
                    per_unit.append([Candidate(unit.text, 0.0, 0, 0.0, GuardVerdict(True), None, 0.0)])
                else:
                    per_unit.append(rank(takes))
                if on_piece is not None:
                    on_piece(unit.before + per_unit[-1][0].text)
                if not unit.kept:
                    done += 1
                    if on_progress is not None:
                        on_progress(done, total)
            takes = passage_candidates(text, units, per_unit)
        scores = self.quality_scorer.score(text, [t.text for t in takes]) if takes else []
        takes = [replace(t, score=s) for t, s in zip(takes, scores, strict=True)]
        return self._candidate_set(text, mode.value, takes, language, started, cancel)

    def _adaptive_takes(self, text, mode, start, n, seed, on_piece, cancel) -> list[Candidate]:
        base = self.mode_params[mode]
        # A rewrite is about as long as its source: cap run-ons (a loose min-p take once ran 190 s).
        budget = int(1.6 * len(self.tokenizer(text, add_special_tokens=False)["input_ids"])) + 12
        base = base.with_overrides(max_new_tokens=min(base.max_new_tokens, budget))

        def judge(take: Candidate) -> Candidate:
            verdict = self.meaning_guard.check(text, take.text)
            return replace(take, verdict=verdict, changed=words_changed(text, take.text))

        return draw_until(
            lambda p: start(text, p), base, judge, n, seed, self.rephrase_budget_s, on_piece, cancel
        )

    def continue_candidates(
        self,
        text: str,
        *,
        n: int = 3,
        persona: Any = None,
        seed: int | None = None,
        on_piece: Callable[[str], None] | None = None,
        cancel: CancelToken | None = None,
    ) -> CandidateSet:
        """Best-of-n Continue: ``n`` takes across min-p settings ranked by the scorer (no guard)."""
        self.check_text(text)
        started = time.perf_counter()
        takes = draw_takes(
            lambda p: self.continue_text(text, persona=persona, params=p, cancel=cancel),
            self.mode_params[Mode.CONTINUE],
            n,
            seed,
            on_piece,
            cancel,
        )
        scores = self.quality_scorer.score(text[-2000:], [t.text for t in takes]) if takes else []
        takes = [replace(t, score=s) for t, s in zip(takes, scores, strict=True)]
        return self._candidate_set(text, "continue", takes, language_of(text), started, cancel)

    def continue_take(
        self, text: str, take: int, *, persona: Any = None, cancel: CancelToken | None = None
    ) -> Iterator[str]:
        """Continue's "another take": take ``take`` (1, 2, …) uses the next min-p setting."""
        return self.continue_text(
            text, persona=persona, params=self.take_params(Mode.CONTINUE, take), cancel=cancel
        )

    def take_params(self, mode: Mode | str, take: int, seed: int | None = None) -> GenerationParams:
        """The sampling of take ``take`` of a mode ("another take" of Continue asks for take 1, 2, …)."""
        return take_params(self.mode_params[Mode(mode)], take, seed)

    @property
    def meaning_guard(self) -> MeaningGuard:
        if self._guard is None:
            self._guard = MeaningGuard()
        return self._guard

    @property
    def quality_scorer(self) -> Scorer:
        if self._scorer is None:
            self._scorer = default_scorer()
        return self._scorer

    def _candidate_set(self, source, mode, takes, language, started, cancel) -> CandidateSet:
        ranked = rank(takes)
        meaningful = any(c.score is not None for c in ranked)
        return CandidateSet(
            source,
            mode,
            tuple(ranked),
            self.quality_scorer.name,
            meaningful and language == "en",
            time.perf_counter() - started,
            bool(cancel is not None and cancel.cancelled),
            served_by=self.adapter_status,  # the mode just run: its composition, stand-ins named
        )

    def tidy_dictation(
        self,
        transcript: str,
        context: str = "",
        *,
        use_model: bool | None = None,
        persona: Any = None,
        params: GenerationParams | None = None,
        cancel: CancelToken | None = None,
    ) -> Iterator[str]:
        """Turn one dictated utterance into the sentence the writer meant (Mode.DICTATION).

        ``use_model``: None (default) asks the model only when the task_dictation adapter is
        active for this base; without it, the rules are returned, because the few-shot base
        (Gemma 3 270M) did worse than the rules in the eval (docs/adapters.md, task_dictation).
        True forces the few-shot model (a larger base of your own), False the rules.

        ``context`` is the text before the insertion point (names, conventions). Yields the
        result as ONE piece once it is checked: the model's line is kept only if it keeps the
        transcript's words (``engine.audio.tidy.check_tidy``: fillers, spoken punctuation,
        stutters and a short false start may go, nothing may be added or changed); otherwise
        the rule-based clean-up is returned. ``last_tidy`` says which and why.
        A cancelled request yields nothing.
        """
        self.check_text(transcript)
        if use_model is None:
            use_model = (
                self.adapters is not None and "task_dictation" in self.adapters.plan(Mode.DICTATION)[0]
            )
        if len(transcript) > MAX_DICTATION_CHARS:
            raise PromptError(
                f"The dictated text is {len(transcript):,} characters; Killah tidies at most "
                f"{MAX_DICTATION_CHARS:,} at a time."
            )
        if not use_model:
            self.last_tidy = TidyResult(tidy_rules(transcript, context), "rules", "model not used")
            return iter([self.last_tidy.text])
        if self.info.has_chat_template:
            prompt = self.tokenizer.apply_chat_template(
                prompts.dictation_chat_messages(transcript, context),
                tokenize=False,
                add_generation_prompt=True,
            )
            ids = self.tokenizer(prompt, add_special_tokens=False)["input_ids"]
        else:
            prompt = prompts.dictation_prompt(transcript, context)
            ids = None
        params = params or self.mode_params[Mode.DICTATION]
        # The clean text is never much longer than what was said: cap runaway generations.
        budget = len(self.tokenizer(transcript, add_special_tokens=False)["input_ids"]) + 12
        params = params.with_overrides(max_new_tokens=min(params.max_new_tokens, budget))

        def run() -> Iterator[str]:
            pieces = list(self._run(Mode.DICTATION, prompt, persona, params, cancel, ids=ids))
            if cancel is not None and cancel.cancelled:
                return
            model_text = "".join(pieces).split("\n")[0].strip()
            ok, why = check_tidy(transcript, model_text)
            if ok:
                self.last_tidy = TidyResult(model_text, "model", "", model_text)
            else:
                self.last_tidy = TidyResult(tidy_rules(transcript, context), "rules", why, model_text)
            yield self.last_tidy.text

        return run()

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
        self.check_text(prompt)
        return self._run(Mode(mode), prompt, persona, params, cancel)

    def run_to_text(self, stream: Iterator[str]) -> str:
        return "".join(stream)

    # -- internals --------------------------------------------------------------

    @staticmethod
    def check_text(text: str) -> None:
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

    def _count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def _styled(self, mode: Mode, prompt: str, text: str, style: StyleRequest | None) -> str:
        """``prompt`` preceded by the writer's exemplar paragraphs when ``style`` asks and the gate allows.

        ``last_style`` says what conditioned the request: the exemplars and their documents, or why none
        (memory empty or paused, nothing relevant, another language, mode not styled).
        """
        if style is None:
            self.last_style = None
            return prompt
        if mode not in STYLED_MODES:
            self.last_style = StyleContext(reason=f"not used for {mode.value}", mode_styled=False)
            return prompt
        if self.style_memory is None:
            self.last_style = StyleContext(reason="no style memory")
            return prompt
        try:
            found = self.style_memory.exemplars(
                text,
                style,
                budget_tokens=self.style_budget,
                k=self.style_k,
                count_tokens=self._count_tokens,
                threshold=ANY_PARAGRAPH if mode is Mode.REPHRASE_STYLE else RELEVANCE_THRESHOLD,
            )
        except Exception as exc:  # noqa: BLE001 - a broken style memory must not block writing
            log.warning("style memory unavailable: %s", exc)
            found = StyleContext(reason="style memory unavailable")
        self.last_style = found
        return prompts.with_exemplars(found.texts, prompt)

    def _run(self, mode, prompt, persona, params, cancel, heal=False, ids=None) -> Iterator[str]:
        params, ids, soft = self._prepare(mode, prompt, persona, params, ids)
        self.last_prompt = prompt
        return self.generator.stream(ids, params, prompt_text=prompt, soft=soft, cancel=cancel, heal=heal)

    def _prepare(self, mode, prompt, persona, params, ids=None) -> tuple[GenerationParams, list[int], Any]:
        """The mode's params, adapters and backend, the prompt's token ids and the persona's soft prefix."""
        params = params or self.mode_params[mode]
        self._activate(mode)
        if ids is None:
            ids = self.tokenizer(prompt)["input_ids"]
        soft = None
        if persona is not None and getattr(persona, "soft_tokens", None) is not None:
            soft = SoftPrefix.of(persona.soft_tokens)
        return params, ids, soft

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
