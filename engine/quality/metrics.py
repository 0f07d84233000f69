"""The quality-metric registry and its one entry point: ``score_text(text, context) -> {name: value}``.

    from engine.quality.metrics import METRICS, QualityContext, StyleProfile, score_text
    profile = StyleProfile.from_texts(writer_paragraphs)           # once per writer
    score_text(draft, QualityContext(profile=profile, source=selection))
    # {'mtld': 71.2, 'lzma_ratio': 0.61, 'semantic_continuity': 0.38, ..., 'meaning_preservation': 0.91}

Each ``Metric`` has a name, a family (style, anti-slop, coherence, aesthetics, task), a direction
(``higher_is_better``) and what it needs: a metric whose input is missing (no reference, no
writer profile, no per-token NLL, a one-sentence text) is left out of the result rather than
given a made-up value. ``score_texts`` scores many texts with batched spaCy and MiniLM.
Definitions and baselines: docs/quality.md.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from engine.quality import metrics_nlp as nlp
from engine.quality import metrics_text as tm
from engine.quality.metrics_phrases import GENERIC_PHRASES

FAMILIES = ("style", "anti-slop", "coherence", "aesthetics", "task")


@dataclass(frozen=True)
class StyleProfile:
    """What the style metrics compare a text against: a writer's corpus, summarized once."""

    mean_vector: np.ndarray  # unit MiniLM mean of the corpus's sentences
    char_trigrams: Counter
    length_histogram: list[float]  # sentence-length bin counts (metrics_text.LENGTH_BINS)
    mattr: float

    @classmethod
    def from_texts(cls, texts: Sequence[str], encoder=None) -> StyleProfile:
        from engine.persona.encoder import default_encoder

        joined = "\n\n".join(texts)
        sents = [s for t in texts for s in tm.split_sentences(t)]
        vectors = (encoder or default_encoder()).encode(sents)
        return cls(
            mean_vector=nlp.mean_unit_vector(vectors),
            char_trigrams=tm.char_ngrams(joined),
            length_histogram=tm.sentence_length_histogram(sents),
            mattr=tm.mattr(joined) or 0.0,
        )


@dataclass
class QualityContext:
    """Optional inputs some metrics need; every field may stay None."""

    reference: str | None = None  # the expected text (BLEU, chrF, ROUGE)
    source: str | None = None  # what a rewrite was made from (meaning preservation)
    profile: StyleProfile | None = None  # the writer's corpus (style metrics)
    token_nll: Sequence[float] | None = None  # the LM's per-token NLL of the text (perplexity CV)
    phrase_weights: Mapping[str, float] | None = None  # fitted generic-phrase weights (default: the list)


@dataclass
class Analysis:
    """One text split once; the parse and the sentence vectors are computed on first use."""

    text: str
    context: QualityContext = field(default_factory=QualityContext)
    encoder: object | None = None
    doc: object | None = None  # a spaCy Doc, when a batch parse supplied it
    vectors: np.ndarray | None = None  # unit MiniLM rows, one per sentence, when supplied

    @cached_property
    def words(self) -> list[str]:
        return tm.words_of(self.text)

    @cached_property
    def sentences(self) -> list[str]:
        return tm.split_sentences(self.text)

    @property
    def parsed(self):
        if self.doc is None:
            self.doc = nlp.spacy_pipeline()(self.text)
        return self.doc

    def _encode(self, texts: Sequence[str]) -> np.ndarray:
        from engine.persona.encoder import default_encoder

        return (self.encoder or default_encoder()).encode(texts)

    @property
    def sentence_vectors(self) -> np.ndarray:
        if self.vectors is None:
            self.vectors = self._encode(self.sentences)
        return self.vectors

    def text_vector(self, text: str) -> np.ndarray:
        return self._encode([text])[0]


@dataclass(frozen=True)
class Metric:
    name: str
    family: str
    higher_is_better: bool
    compute: Callable[[Analysis], float | None]
    needs: tuple[str, ...] = ()  # QualityContext fields that must be set
    description: str = ""


def _profile(a: Analysis) -> StyleProfile:
    assert a.context.profile is not None  # guarded by Metric.needs
    return a.context.profile


def _ttr_consistency(a: Analysis) -> float | None:
    own = tm.mattr(a.text)
    return None if own is None else 1.0 - abs(own - _profile(a).mattr)


def _phrase_rate(a: Analysis) -> float:
    return tm.generic_phrase_rate(a.text, a.context.phrase_weights or GENERIC_PHRASES)


def _meaning(a: Analysis) -> float | None:
    return nlp.cosine(a.text_vector(a.text), a.text_vector(a.context.source or ""))


METRICS: tuple[Metric, ...] = (
    # style
    Metric("persona_alignment", "style", True,
           lambda a: nlp.cosine(nlp.mean_unit_vector(a.sentence_vectors), _profile(a).mean_vector),
           ("profile",), "cosine of the text's mean MiniLM sentence vector and the writer corpus's"),
    Metric("ngram_style_match", "style", True,
           lambda a: tm.cosine_counts(tm.char_ngrams(a.text), _profile(a).char_trigrams),
           ("profile",), "cosine of character-trigram counts, text vs writer corpus"),
    Metric("ttr_consistency", "style", True, _ttr_consistency, ("profile",),
           "1 - |MATTR(text) - MATTR(corpus)|, window 25 words"),
    Metric("mtld", "style", True, lambda a: tm.mtld(a.text), (),
           "MTLD lexical diversity (lexicalrichness, threshold 0.72)"),
    Metric("sentence_length_kl", "style", False,
           lambda a: tm.kl_divergence(tm.sentence_length_histogram(a.sentences), _profile(a).length_histogram),
           ("profile",), "KL(text || corpus) of sentence-length histograms, add-0.5 smoothing"),
    # anti-slop
    Metric("generic_phrase_rate", "anti-slop", False, _phrase_rate, (),
           "weighted generic-phrase hits per 100 words"),
    Metric("ngram_novelty", "anti-slop", True, lambda a: tm.mean_ngram_novelty(a.words), (),
           "mean over k=2..5 of distinct k-grams / k-grams"),
    Metric("lzma_ratio", "anti-slop", True, lambda a: tm.lzma_ratio(a.text), (),
           "raw LZMA2 compressed bytes / UTF-8 bytes"),
    Metric("ppl_cv", "anti-slop", True, lambda a: tm.coefficient_of_variation(a.context.token_nll or ()),
           ("token_nll",), "std / mean of the LM's per-token NLL (human text is burstier)"),
    # coherence
    Metric("semantic_continuity", "coherence", True, lambda a: nlp.adjacent_cosine(a.sentence_vectors), (),
           "mean MiniLM cosine of adjacent sentences"),
    Metric("entity_diversity", "coherence", True, lambda a: nlp.entity_diversity(a.parsed), (),
           "distinct named-entity strings / mentions (spaCy NER)"),
    Metric("entity_consistency", "coherence", True, lambda a: nlp.entity_consistency(a.parsed), (),
           "share of entity strings with one label at every mention"),
    Metric("parse_depth", "coherence", True, lambda a: nlp.parse_depth(a.parsed), (),
           "mean per-sentence maximum dependency depth (root = 0)"),
    Metric("parse_branching", "coherence", True, lambda a: nlp.parse_branching(a.parsed), (),
           "mean dependents per token that has any"),
    # aesthetics
    Metric("w1_repetition_emphasis", "aesthetics", True, lambda a: nlp.repetition_emphasis(a.parsed), (),
           "share of sentences where a content lemma recurs"),
    Metric("w2_word_length", "aesthetics", True, lambda a: tm.mean_word_length(a.words), (),
           "mean characters per word"),
    Metric("pos_richness", "aesthetics", True, lambda a: nlp.pos_richness(a.parsed), (),
           "entropy (bits) of the coarse POS tags"),
    # task
    Metric("bleu", "task", True, lambda a: tm.bleu(a.text, a.context.reference or ""), ("reference",),
           "sentence BLEU / 100 (sacrebleu)"),
    Metric("chrf", "task", True, lambda a: tm.chrf(a.text, a.context.reference or ""), ("reference",),
           "sentence chrF / 100 (sacrebleu)"),
    Metric("rouge_l", "task", True, lambda a: tm.rouge_l(a.text, a.context.reference or ""), ("reference",),
           "ROUGE-L F1 (rouge-score, stemmed)"),
    Metric("meaning_preservation", "task", True, _meaning, ("source",),
           "MiniLM cosine of the text and its source"),
)  # fmt: skip
BY_NAME: dict[str, Metric] = {m.name: m for m in METRICS}


def _applicable(metric: Metric, context: QualityContext) -> bool:
    return all(getattr(context, need) is not None for need in metric.needs)


def score_analysis(analysis: Analysis, names: Sequence[str] | None = None) -> dict[str, float]:
    """Every applicable metric (or those in ``names``) whose value is defined for this text."""
    chosen = [BY_NAME[n] for n in names] if names is not None else METRICS
    out: dict[str, float] = {}
    for metric in chosen:
        if not _applicable(metric, analysis.context):
            continue
        value = metric.compute(analysis)
        if value is not None:
            out[metric.name] = float(value)
    return out


def score_text(
    text: str, context: QualityContext | None = None, names: Sequence[str] | None = None
) -> dict[str, float]:
    """Metric name -> value for one text; metrics whose inputs are missing are left out."""
    return score_analysis(Analysis(text, context or QualityContext()), names)


def score_texts(
    texts: Sequence[str],
    contexts: Sequence[QualityContext] | None = None,
    names: Sequence[str] | None = None,
    encoder=None,
) -> list[dict[str, float]]:
    """``score_text`` for many texts, parsing and embedding them in batches (~10x faster)."""
    from engine.persona.encoder import default_encoder

    contexts = contexts or [QualityContext() for _ in texts]
    docs = nlp.parse_docs(texts)
    sents = [tm.split_sentences(t) for t in texts]
    flat = [s for ss in sents for s in ss]
    vectors = (encoder or default_encoder()).encode(flat) if flat else np.zeros((0, 384), np.float32)
    out, start = [], 0
    for text, ctx, doc, ss in zip(texts, contexts, docs, sents, strict=True):
        rows = vectors[start : start + len(ss)]
        start += len(ss)
        out.append(score_analysis(Analysis(text, ctx, encoder, doc, rows), names))
    return out
