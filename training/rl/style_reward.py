"""Rewards for "Rephrase in my style" (Dr.GRPO): style, length, punctuation, named-entity overlap.

    R_total = R_style + R_length + R_punctuation + R_ne_overlap

R_style(T_g, S_r) = sum over generated sentences s_g of max over reference sentences s_r of
cos(E(s_g), E(s_r)), with E a sentence encoder (MiniLM or the style encoder). Its per-sentence mean
is reported too, as the seed paper's tables do.

Style reward dropout: a reference whose sentences all look alike lets the policy farm one
"dominant" reference sentence. With S the cosine matrix of the reference's sentences,

    D_i = sum_{j != i} S_ij,   r_i = D_i / D_max,   p_i = clip(r_i ** gamma, eps_min, eps_max)

and each generated sentence's contribution is dropped with the probability p_{j*} of its nearest
reference sentence j*. If every contribution of a text would be dropped, the dropout is cancelled
for that text (the safeguard), so no sample gets a zero style reward by chance alone.

R_length and R_punctuation follow DAPO's overlong shaping: 0 up to ``limit - band``, a linear
penalty down to -1 across the band, -1 past ``limit``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence, Set
from dataclasses import dataclass

import numpy as np

GAMMA, EPS_MIN, EPS_MAX = 10.0, 0.0, 0.9  # the seed paper's values
PUNCTUATION = set(".,;:!?—–-()\"'…")

Encode = Callable[[list[str]], np.ndarray]  # sentences -> [n, d] L2-normalised rows
Entities = Callable[[str], Set[str]]  # text -> its named entities (lower-cased surface forms)


def dropout_probabilities(
    ref_sims: np.ndarray, gamma: float = GAMMA, eps_min: float = EPS_MIN, eps_max: float = EPS_MAX
) -> np.ndarray:
    """p_i = clip((D_i / D_max) ** gamma, eps_min, eps_max) for a reference's [n, n] cosine matrix."""
    sims = np.asarray(ref_sims, dtype=np.float64)
    dominance = sims.sum(axis=1) - np.diag(sims)
    # A negative total similarity means "unlike the rest": no dominance, never dropped for it.
    dominance = np.clip(dominance, 0.0, None)
    top = dominance.max(initial=0.0)
    if top <= 0.0:
        return np.full(len(sims), eps_min)
    return np.clip((dominance / top) ** gamma, eps_min, eps_max)


@dataclass(frozen=True)
class StyleScore:
    total: float  # R_style: sum of the kept sentences' best cosine
    per_sentence: float  # the mean of every generated sentence's best cosine (no dropout): reported
    nearest: tuple[int, ...]  # j* per generated sentence
    kept: tuple[bool, ...]  # which contributions survived the dropout
    safeguard: bool  # every contribution was dropped, so the dropout was cancelled


def style_score(
    gen_vecs: np.ndarray,
    ref_vecs: np.ndarray,
    drop_probs: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
) -> StyleScore:
    """R_style of one text from its sentence vectors [g, d] and the reference's [n, d]."""
    if len(gen_vecs) == 0 or len(ref_vecs) == 0:
        return StyleScore(0.0, 0.0, (), (), False)
    sims = np.asarray(gen_vecs) @ np.asarray(ref_vecs).T  # [g, n]
    nearest = sims.argmax(axis=1)
    best = sims[np.arange(len(sims)), nearest]
    kept = np.ones(len(best), dtype=bool)
    if drop_probs is not None:
        rng = rng or np.random.default_rng()
        kept = rng.random(len(best)) >= np.asarray(drop_probs)[nearest]
    safeguard = not kept.any()
    if safeguard:
        kept[:] = True
    return StyleScore(
        total=float(best[kept].sum()),
        per_sentence=float(best.mean()),
        nearest=tuple(int(j) for j in nearest),
        kept=tuple(bool(k) for k in kept),
        safeguard=safeguard and drop_probs is not None,
    )


def overlong_penalty(length: float, limit: float, band: float) -> float:
    """DAPO's soft overlong punishment: 0, then linear to -1 over the last ``band`` before ``limit``."""
    if band <= 0:
        return 0.0 if length <= limit else -1.0
    if length <= limit - band:
        return 0.0
    if length <= limit:
        return (limit - band - length) / band
    return -1.0


def punctuation_count(text: str) -> int:
    return sum(ch in PUNCTUATION for ch in text)


def ne_overlap(source_entities: Set[str], output_entities: Set[str]) -> float:
    """The share of the input's named entities that the output keeps (1.0 when the input has none)."""
    if not source_entities:
        return 1.0
    return len(source_entities & output_entities) / len(source_entities)


@dataclass(frozen=True)
class RewardWeights:
    """How far an output may outgrow its input before the penalties start and saturate."""

    length_ratio: float = 1.5  # limit = ratio * input words
    length_band: float = 0.5  # penalty band = band * input words
    punctuation_ratio: float = 2.0
    punctuation_band: float = 1.0


@dataclass(frozen=True)
class RewardParts:
    style: StyleScore
    length: float
    punctuation: float
    ne_overlap: float

    @property
    def total(self) -> float:
        return self.style.total + self.length + self.punctuation + self.ne_overlap


def reward_parts(
    source: str,
    output: str,
    ref_vecs: np.ndarray,
    *,
    encode: Encode,
    split: Callable[[str], list[str]],
    entities: Entities,
    drop_probs: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    weights: RewardWeights = RewardWeights(),
) -> RewardParts:
    """Every reward term for one rewrite of ``source`` towards the reference whose vectors are given."""
    sentences = split(output)
    gen_vecs = encode(sentences) if sentences else np.zeros((0, ref_vecs.shape[1]))
    n_in, n_out = len(source.split()), len(output.split())
    p_in = punctuation_count(source)
    return RewardParts(
        style=style_score(gen_vecs, ref_vecs, drop_probs, rng),
        length=overlong_penalty(n_out, weights.length_ratio * n_in, weights.length_band * n_in),
        punctuation=overlong_penalty(
            punctuation_count(output),
            weights.punctuation_ratio * max(p_in, 1),
            weights.punctuation_band * max(p_in, 1),
        ),
        ne_overlap=ne_overlap(entities(source), entities(output)),
    )


class StyleReward:
    """R_total as a TRL reward function: ``reward(prompts, completions, source=[...], reference=[...])``.

    ``reference`` names the reference text of each sample; its sentence vectors and dropout
    probabilities are computed once and cached. ``dropout=False`` gives plain RL's reward.
    """

    __name__ = "style_reward"  # TRL logs reward functions by name

    def __init__(
        self,
        references: dict[str, Sequence[str]],
        *,
        encode: Encode,
        split: Callable[[str], list[str]],
        entities: Entities,
        dropout: bool = True,
        seed: int = 0,
        weights: RewardWeights = RewardWeights(),
        answer: Callable[[str], str] = str.strip,
    ) -> None:
        """``answer``: the part of a completion the user would get (the recipe: its first line)."""
        self.encode, self.split, self.entities, self.weights = encode, split, entities, weights
        self.answer = answer
        self.rng = np.random.default_rng(seed)
        self.refs: dict[str, tuple[np.ndarray, np.ndarray | None]] = {}
        for name, sentences in references.items():
            vecs = encode(list(sentences))
            self.refs[name] = (vecs, dropout_probabilities(vecs @ vecs.T) if dropout else None)
        self.last: list[RewardParts] = []  # the previous batch's parts, for logging diagnostics
        self.last_texts: list[str] = []

    def __call__(
        self, prompts, completions, source: Sequence[str], reference: Sequence[str], **_
    ) -> list[float]:
        self.last, self.last_texts = [], []
        for output, src, ref in zip(completions, source, reference, strict=True):
            text = self.answer(output if isinstance(output, str) else output[-1]["content"])  # plain or chat
            self.last_texts.append(text)
            vecs, probs = self.refs[ref]
            self.last.append(
                reward_parts(
                    src,
                    text,
                    vecs,
                    encode=self.encode,
                    split=self.split,
                    entities=self.entities,
                    drop_probs=probs,
                    rng=self.rng,
                    weights=self.weights,
                )
            )
        return [parts.total for parts in self.last]


def dropout_stats(scores: Sequence[StyleScore]) -> dict[str, float]:
    """How much the dropout acted on one batch: the share of sentence contributions dropped, and
    the share of texts whose every contribution was drawn for dropping (the safeguard cancelled it)."""
    kept = [k for s in scores for k in s.kept]
    if not kept:
        return {}
    return {
        "dropout/dropped": sum(not k for k in kept) / len(kept),
        "dropout/safeguard": sum(s.safeguard for s in scores) / len(scores),
    }


def style_spread(sentence_vecs: np.ndarray, style_vecs: dict[str, np.ndarray]) -> tuple[float, float]:
    """The seed paper's two training diagnostics for one batch of generated sentences [m, d].

    With sim[s, k] = the best cosine of sentence s to style k's reference sentences:
    - per sentence: the std of sim[s, :] across styles (does a sentence lean to one style?),
    - per style: the std of sim[:, k] across the batch (does one style attract every sentence?),
    each averaged. Flatter curves over training mean the policy is not collapsing onto a style.
    """
    if len(sentence_vecs) == 0 or not style_vecs:
        return 0.0, 0.0
    sim = np.stack([(sentence_vecs @ refs.T).max(axis=1) for refs in style_vecs.values()], axis=1)
    return float(sim.std(axis=1).mean()), float(sim.std(axis=0).mean())
