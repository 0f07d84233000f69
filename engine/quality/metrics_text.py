"""Text-only quality metrics: plain Python and small libraries, no model (microseconds to milliseconds).

Every function takes already-split pieces (words, sentences) so one split serves all metrics;
``engine.quality.metrics`` wires them into the registry. Definitions are in docs/quality.md.
"""

from __future__ import annotations

import lzma
import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence

# Sentence ends: . ! ? followed by optional closing quotes, then space or end (the splitter the
# training data builders use too, so a "sentence" means the same thing everywhere).
_SENTENCE = re.compile(r".+?(?:[.!?]+[\"'”’)]*(?=\s|$)|$)", re.DOTALL)
_ABBREVIATION = re.compile(r"(?:^|\s)(?:Mr|Mrs|Ms|Dr|St|Col|Capt|Gen|Sir|Messrs|Co|Corp|Inc|Ltd|No|U\.S)\.$")
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*|\d+(?:[.,]\d+)*")
# Sentence-length bins (words) for the KL metric: short, medium and long sentences.
LENGTH_BINS = (5, 10, 15, 20, 30, 40)



def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` with their final punctuation ("Mr." does not end one)."""
    out: list[str] = []
    for piece in (s.strip() for s in _SENTENCE.findall(text)):
        if not piece:
            continue
        if out and _ABBREVIATION.search(out[-1]):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def words_of(text: str) -> list[str]:
    """Lower-cased word tokens (letters, inner apostrophes, numbers); punctuation dropped."""
    return [w.lower() for w in _WORD.findall(text)]


# ---------------------------------------------------------------- style


def sentence_length_histogram(sentences: Sequence[str]) -> list[float]:
    """Counts of sentences per word-length bin (LENGTH_BINS upper bounds, then an open bin)."""
    counts = [0.0] * (len(LENGTH_BINS) + 1)
    for s in sentences:
        n = len(words_of(s))
        counts[next((i for i, b in enumerate(LENGTH_BINS) if n <= b), len(LENGTH_BINS))] += 1
    return counts


def kl_divergence(p_counts: Sequence[float], q_counts: Sequence[float], smoothing: float = 0.5) -> float:
    """KL(P || Q) in nats of two count vectors, each add-``smoothing`` smoothed (no empty bins)."""
    p = [c + smoothing for c in p_counts]
    q = [c + smoothing for c in q_counts]
    sp, sq = sum(p), sum(q)
    return sum((a / sp) * math.log((a / sp) / (b / sq)) for a, b in zip(p, q, strict=True))


def char_ngrams(text: str, n: int = 3) -> Counter:
    """Character n-gram counts of the lower-cased text with whitespace collapsed."""
    flat = " ".join(text.lower().split())
    return Counter(flat[i : i + n] for i in range(len(flat) - n + 1))


def cosine_counts(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    """Cosine similarity of two sparse count vectors (0 when either is empty)."""
    dot = sum(v * b.get(k, 0.0) for k, v in a.items())
    na = math.sqrt(sum(v * v for v in a.values()))
    nb = math.sqrt(sum(v * v for v in b.values()))
    return dot / (na * nb) if na and nb else 0.0


def mtld(text: str) -> float | None:
    """MTLD (McCarthy & Jarvis 2010, threshold 0.72) via lexicalrichness; None under 10 words."""
    from lexicalrichness import LexicalRichness

    lex = LexicalRichness(text)
    return float(lex.mtld(threshold=0.72)) if lex.words >= 10 else None


def mattr(text: str, window: int = 25) -> float | None:
    """Moving-average type-token ratio over ``window``-word windows (plain TTR if shorter); None if empty."""
    from lexicalrichness import LexicalRichness

    lex = LexicalRichness(text)
    if lex.words == 0:
        return None
    return float(lex.mattr(window_size=window)) if lex.words > window else float(lex.ttr)


# ---------------------------------------------------------------- anti-slop


def ngram_novelty(words: Sequence[str], k: int) -> float | None:
    """Distinct k-grams / all k-grams of the text (1 = no k-gram repeats); None if it has none."""
    grams = [tuple(words[i : i + k]) for i in range(len(words) - k + 1)]
    return len(set(grams)) / len(grams) if grams else None


def mean_ngram_novelty(words: Sequence[str], ks: Sequence[int] = (2, 3, 4, 5)) -> float | None:
    values = [v for k in ks if (v := ngram_novelty(words, k)) is not None]
    return sum(values) / len(values) if values else None


def lzma_ratio(text: str) -> float | None:
    """Compressed bytes / raw bytes (raw LZMA2 stream, no container header): lower = more redundant."""
    raw = text.encode("utf-8")
    if not raw:
        return None
    packed = lzma.compress(raw, format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])
    return len(packed) / len(raw)


def phrase_hits(text: str, phrases: Sequence[str]) -> Counter:
    """How often each phrase occurs in the text (case-insensitive, on word boundaries)."""
    flat = " ".join(words_of(text))
    counts = Counter()
    for p in phrases:
        # whole words only, and adjacent hits ("very very") both count: a lookahead, not str.count
        n = len(re.findall(r"(?<!\S)" + re.escape(" ".join(words_of(p))) + r"(?!\S)", flat))
        if n:
            counts[p] = n
    return counts


def generic_phrase_rate(text: str, weights: Mapping[str, float]) -> float:
    """Weighted generic-phrase hits per 100 words: sum_p weight_p * count_p / words * 100."""
    n_words = len(words_of(text))
    if not n_words:
        return 0.0
    hits = phrase_hits(text, list(weights))
    return 100.0 * sum(weights[p] * n for p, n in hits.items()) / n_words


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """Population std / mean (None for fewer than 2 values or a zero mean)."""
    if len(values) < 2:
        return None
    mean = sum(values) / len(values)
    if mean == 0:
        return None
    var = sum((v - mean) ** 2 for v in values) / len(values)
    return math.sqrt(var) / mean


# ---------------------------------------------------------------- aesthetics


def mean_word_length(words: Sequence[str]) -> float | None:
    """W2: mean characters per word token."""
    return sum(len(w) for w in words) / len(words) if words else None


# ---------------------------------------------------------------- task (against a reference)


def bleu(text: str, reference: str) -> float:
    """Sentence BLEU (sacrebleu defaults, exp smoothing) on a 0..1 scale."""
    import sacrebleu

    return sacrebleu.sentence_bleu(text, [reference]).score / 100.0


def chrf(text: str, reference: str) -> float:
    """Sentence chrF (sacrebleu, char 6-grams, beta 2) on a 0..1 scale."""
    import sacrebleu

    return sacrebleu.sentence_chrf(text, [reference]).score / 100.0


def rouge_l(text: str, reference: str) -> float:
    """ROUGE-L F1 (rouge-score, Porter stemming) of the text against the reference."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    return float(scorer.score(reference, text)["rougeL"].fmeasure)
