"""Test-time best-of-n: several takes across min-p settings, guarded and ranked, best first.

    takes = engine.rephrase_candidates(text, n=3)       # a CandidateSet
    takes.best.text, takes.best.verdict.reasons, [c.text for c in takes.alternatives]

The first take uses the mode's default sampling (it is today's single sample, so the first take can be
streamed while the others are drawn); the others use the next min-p settings of ``MIN_P_SETTINGS``
with their own seeds. The prompt's keys/values stay in the generator's cache between takes
(engine/generation.py reuses the longest cached prefix), so a take after the first costs its decode
only, not the prefill.

Ranking (Rephrase): candidates the meaning guard passes come first, ordered by the scorer; the
demoted ones follow, fewest kinds of fault first, each with its reasons. The scorer is the WQRM when
its artifact is installed, else MiniLM similarity to the source (documented fallback, see
docs/quality.md). Continue has no guard: its takes are ordered by the scorer alone.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from engine.cancel import CancelToken
from engine.modes import GenerationParams
from engine.quality.guard import GuardVerdict

log = logging.getLogger(__name__)

# min-p per take. The first None = the mode's default (Rephrase 0.15, Continue 0.1); then a tighter
# cut (safer, closer to the source) and a looser one (more varied), then the two in between.
MIN_P_SETTINGS: tuple[float | None, ...] = (None, 0.3, 0.05, 0.22, 0.1)
MAX_TAKES = len(MIN_P_SETTINGS)
MIN_CHANGED = 0.15  # a rephrase changes at least this share of the source's words


class Scorer(Protocol):
    """A quality score per text, higher is better; None where the score means nothing (language)."""

    name: str

    def score(self, source: str, texts: Sequence[str]) -> list[float | None]: ...


class WQRMScorer:
    """The trained Writing Quality Reward Model (engine/quality/wqrm.py), English only."""

    name = "WQRM"

    def __init__(self, wqrm) -> None:
        self.wqrm = wqrm

    def score(self, source: str, texts: Sequence[str]) -> list[float | None]:
        return list(self.wqrm.score(list(texts)))


class SimilarityScorer:
    """Fallback while no WQRM is installed: MiniLM cosine to the source (meaning kept, not style)."""

    name = "meaning similarity"

    def __init__(self, encoder=None) -> None:
        self._encoder = encoder

    def score(self, source: str, texts: Sequence[str]) -> list[float | None]:
        from engine.quality.selection_check import language_of

        if not texts or language_of(source) != "en":
            return [None] * len(texts)  # MiniLM is English-only
        if self._encoder is None:
            from engine.persona.encoder import default_encoder

            self._encoder = default_encoder()
        vectors = self._encoder.encode([source, *texts])
        return [float(v) for v in vectors[1:] @ vectors[0]]


def default_scorer() -> Scorer:
    """The WQRM if its artifact loads, else the similarity fallback (and the log says why)."""
    try:
        from engine.quality.wqrm import WQRM

        loader = getattr(WQRM, "load", None)
        return WQRMScorer(loader() if callable(loader) else WQRM())
    except Exception as exc:  # noqa: BLE001 - a missing or bad artifact must not stop Rephrase
        log.info("WQRM unavailable (%s): ranking takes by meaning similarity", exc)
        return SimilarityScorer()


@dataclass(frozen=True)
class Candidate:
    text: str
    min_p: float
    seed: int
    seconds: float  # wall time of this take (the first includes the prefill)
    verdict: GuardVerdict | None = None  # Rephrase only
    score: float | None = None  # the scorer's value; None where not meaningful
    changed: float | None = None  # Rephrase: share of the source's words not kept (keep.words_changed)

    @property
    def demoted(self) -> bool:
        return self.verdict is not None and not self.verdict.ok

    @property
    def near_copy(self) -> bool:
        """Faithful but hardly reworded: the reader sees their own sentence back."""
        return self.changed is not None and self.changed < MIN_CHANGED

    @property
    def accepted(self) -> bool:
        """A take adaptive best-of-n may stop at: the guard passes it and it rewords enough."""
        return self.verdict is not None and self.verdict.ok and not self.near_copy


@dataclass(frozen=True)
class CandidateSet:
    """The takes of one request, best first."""

    source: str
    mode: str  # "rephrase", "rephrase_style" or "continue"
    candidates: tuple[Candidate, ...]
    ranked_by: str  # the scorer's name
    score_meaningful: bool  # False: the scorer does not cover this language; the UI hides the score
    seconds: float
    cancelled: bool = False
    served_by: str = ""  # the adapter composition that drew the takes (engine.adapters status line)

    @property
    def best(self) -> Candidate | None:
        return self.candidates[0] if self.candidates else None

    @property
    def alternatives(self) -> tuple[Candidate, ...]:
        return self.candidates[1:]

    @property
    def all_demoted(self) -> bool:
        return bool(self.candidates) and all(c.demoted for c in self.candidates)


def rank(candidates: Sequence[Candidate]) -> list[Candidate]:
    """Passing first by score; demoted after, fewest kinds of fault first, then by score; empty last."""

    def key(c: Candidate) -> tuple:
        faults = len(c.verdict.kinds) if c.verdict is not None and not c.verdict.ok else 0
        score = c.score if c.score is not None else float("-inf")
        return (not c.text.strip(), faults > 0, faults, c.near_copy, -score)

    unique: dict[str, Candidate] = {}
    for c in candidates:  # two takes with the same text are one choice for the user
        unique.setdefault(" ".join(c.text.split()), c)
    return sorted(unique.values(), key=key)


def take_params(base: GenerationParams, index: int, seed: int | None) -> GenerationParams:
    """The sampling of take ``index``: the mode's default for 0, then the next min-p setting."""
    min_p = MIN_P_SETTINGS[index % MAX_TAKES]
    take_seed = None if seed is None else seed + index
    return base.with_overrides(min_p=min_p, seed=take_seed)


def all_take_params(base: GenerationParams, n: int, seed: int | None) -> list[GenerationParams]:
    if not 1 <= n <= MAX_TAKES:
        raise ValueError(f"n must be in 1..{MAX_TAKES}, got {n}")
    seed = seed if seed is not None else secrets.randbits(62)
    return [take_params(base, i, seed) for i in range(n)]


def draw_until(
    start: Callable[[GenerationParams], Iterator[str]],
    base: GenerationParams,
    judge: Callable[[Candidate], Candidate],
    n_max: int,
    seed: int | None,
    budget_s: float | None = None,
    on_piece: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
) -> list[Candidate]:
    """Adaptive best-of-n: takes 0, 1, … until ``judge`` (guard verdict, words changed) accepts one,
    ``n_max`` are drawn, or ``budget_s`` has passed (checked before each new take; the first always runs).
    The first take's pieces go to ``on_piece`` as they come."""
    takes: list[Candidate] = []
    began = time.perf_counter()
    for i, params in enumerate(all_take_params(base, n_max, seed)):
        if cancel is not None and cancel.cancelled:
            break
        if i and budget_s is not None and time.perf_counter() - began > budget_s:
            break
        take = judge(_draw(start, params, on_piece if i == 0 else None))
        takes.append(take)
        if take.accepted:
            break
    return takes


def _draw(start, params: GenerationParams, on_piece) -> Candidate:
    started = time.perf_counter()
    pieces = []
    for piece in start(params):
        pieces.append(piece)
        if on_piece is not None:
            on_piece(piece)
    return Candidate("".join(pieces).strip(), params.sampling.min_p, params.seed, time.perf_counter() - started)


def draw_takes(
    start: Callable[[GenerationParams], Iterator[str]],
    base: GenerationParams,
    n: int,
    seed: int | None,
    on_piece: Callable[[str], None] | None = None,
    cancel: CancelToken | None = None,
) -> list[Candidate]:
    """Run ``start(params)`` for takes 0..n-1 one after the other; the first take's pieces go to
    ``on_piece`` as they come (the UI shows them while the other takes are drawn)."""
    takes = []
    for i, params in enumerate(all_take_params(base, n, seed)):
        if cancel is not None and cancel.cancelled:
            break
        takes.append(_draw(start, params, on_piece if i == 0 else None))
    return takes
