"""Each quality metric against a value worked out by hand on a tiny text (real spaCy, MiniLM, libraries)."""

from __future__ import annotations

import lzma
import math

import numpy as np
import pytest

from engine.quality import metrics_nlp as nlp
from engine.quality import metrics_text as tm
from engine.quality.metrics import FAMILIES, METRICS, QualityContext, StyleProfile, score_text

# ---------------------------------------------------------------- text metrics


def test_ngram_novelty_counts_repeated_bigrams():
    words = tm.words_of("The cat sat. The cat ran.")  # the cat sat the cat ran
    assert tm.ngram_novelty(words, 2) == pytest.approx(4 / 5)  # "the cat" twice among 5 bigrams
    assert tm.ngram_novelty(words, 3) == 1.0
    assert tm.mean_ngram_novelty(words) == pytest.approx((0.8 + 1 + 1 + 1) / 4)
    assert tm.ngram_novelty(["one"], 2) is None


def test_word_length_is_mean_characters_per_word():
    assert tm.mean_word_length(tm.words_of("The dog ran away.")) == pytest.approx((3 + 3 + 3 + 4) / 4)


def test_sentence_length_kl_matches_hand_value():
    # Two 3-word sentences vs a corpus of two 6..10-word sentences; add-0.5 smoothing over 7 bins:
    # P = [2.5, .5, .5 ...]/5.5, Q = [.5, 2.5, .5 ...]/5.5 -> KL = (2.5 ln 5 + .5 ln .2) / 5.5 = 2 ln 5 / 5.5
    text = tm.sentence_length_histogram(tm.split_sentences("The cat sat. The cat ran."))
    corpus = tm.sentence_length_histogram(["One two three four five six.", "A b c d e f g h."])
    assert text == [2, 0, 0, 0, 0, 0, 0] and corpus == [0, 2, 0, 0, 0, 0, 0]
    assert tm.kl_divergence(text, corpus) == pytest.approx(2 * math.log(5) / 5.5)
    assert tm.kl_divergence(text, text) == pytest.approx(0.0)


def test_generic_phrase_rate_is_weighted_hits_per_100_words():
    text = "Needless to say, the plan was very good."  # 8 words; "needless to say" 1.0 + "very" 0.2
    assert tm.generic_phrase_rate(text, {"needless to say": 1.0, "very": 0.2, "delve into": 1.0}) == pytest.approx(
        100 * 1.2 / 8
    )
    assert tm.generic_phrase_rate("Everything is very very nice.", {"very": 0.5}) == pytest.approx(100 * 1.0 / 5)


def test_lzma_ratio_is_raw_stream_bytes_over_text_bytes_and_falls_with_repetition():
    text = "It was the best of times, it was the worst of times."
    packed = lzma.compress(text.encode(), format=lzma.FORMAT_RAW, filters=[{"id": lzma.FILTER_LZMA2, "preset": 6}])
    assert tm.lzma_ratio(text) == pytest.approx(len(packed) / len(text.encode()))
    assert tm.lzma_ratio(text * 20) < tm.lzma_ratio(text) / 5
    assert tm.lzma_ratio("") is None


def test_perplexity_cv_is_population_std_over_mean():
    assert tm.coefficient_of_variation([1.0, 2.0, 3.0]) == pytest.approx(math.sqrt(2 / 3) / 2)
    assert score_text("Any text at all.", QualityContext(token_nll=[1.0, 2.0, 3.0]))["ppl_cv"] == pytest.approx(
        0.4082483
    )


def test_char_trigram_cosine():
    assert tm.cosine_counts(tm.char_ngrams("abcd"), tm.char_ngrams("abce")) == pytest.approx(0.5)  # abc shared


def test_mtld_and_ttr_from_lexicalrichness():
    # "the cat" x5: TTR hits 2/3 < 0.72 at every third word -> 3 factors each way, remainder TTR 1 -> 10/3.
    assert tm.mtld("the cat the cat the cat the cat the cat") == pytest.approx(10 / 3)
    assert tm.mattr("one two three four five six seven eight two three") == pytest.approx(0.8)  # 8 types / 10
    assert tm.mtld("too short") is None


def test_bleu_rouge_chrf_against_hand_values():
    hyp, ref = "the cat sat on the mat", "the cat sat on a mat"
    # precisions 5/6, 3/5, 2/4, 1/3, equal lengths (no brevity penalty)
    assert tm.bleu(hyp, ref) == pytest.approx((5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25, abs=1e-4)
    # LCS 3 of 3 hypothesis and 6 reference words: F1 = 2 * 1 * .5 / 1.5
    assert tm.rouge_l("the cat sat", "the cat sat on the mat") == pytest.approx(2 / 3)
    assert tm.chrf(ref, ref) == pytest.approx(1.0)
    assert tm.chrf("xyz qqq", ref) < 0.05


# ---------------------------------------------------------------- parse metrics on hand-built docs


def _doc(words, heads, pos, lemmas=None, ents=None):
    from spacy.tokens import Doc

    deps = ["ROOT" if h == i else "dep" for i, h in enumerate(heads)]
    return Doc(nlp.spacy_pipeline().vocab, words=words, heads=heads, deps=deps, pos=pos, lemmas=lemmas or words,
               ents=ents)  # fmt: skip


@pytest.fixture(scope="module")
def paris():
    # "Paris is big . Paris is old ." : each "is" heads its sentence's three other tokens
    return _doc(
        ["Paris", "is", "big", ".", "Paris", "is", "old", "."],
        [1, 1, 1, 1, 5, 5, 5, 5],
        ["PROPN", "AUX", "ADJ", "PUNCT"] * 2,
        ents=["B-GPE", "O", "O", "O", "B-GPE", "O", "O", "O"],
    )


def test_parse_depth_and_branching(paris):
    assert nlp.parse_depth(paris) == 1.0  # every non-root token hangs off the root
    assert nlp.parse_branching(paris) == 3.0  # the two roots have three dependents each
    chain = _doc(["a", "b", "c", "d"], [0, 0, 1, 2], ["X"] * 4)  # d -> c -> b -> a
    assert nlp.parse_depth(chain) == 3.0 and nlp.parse_branching(chain) == 1.0


def test_pos_richness_is_entropy_of_word_tags(paris):
    assert nlp.pos_richness(paris) == pytest.approx(math.log2(3))  # PROPN, AUX, ADJ twice each; punct dropped


def test_entity_diversity_and_consistency(paris):
    assert nlp.entity_diversity(paris) == 0.5 and nlp.entity_consistency(paris) == 1.0
    mixed = _doc(["Jordan", "met", "Jordan", "."], [1, 1, 1, 1], ["PROPN", "VERB", "PROPN", "PUNCT"],
                 ents=["B-PERSON", "O", "B-GPE", "O"])  # fmt: skip
    assert nlp.entity_consistency(mixed) == 0.0  # one string, two labels


def test_w1_repetition_emphasis(paris):
    assert nlp.repetition_emphasis(paris) == 0.0
    rain = _doc(["Rain", ",", "rain", "fell", "."], [3, 3, 3, 3, 3], ["NOUN", "PUNCT", "NOUN", "VERB", "PUNCT"],
                lemmas=["rain", ",", "rain", "fall", "."])  # fmt: skip
    assert nlp.repetition_emphasis(rain) == 1.0


def test_real_parser_finds_entities_and_sentences():
    doc = nlp.spacy_pipeline()("Paris is big. Paris is old. London is far.")
    assert len(list(doc.sents)) == 3
    assert nlp.entity_diversity(doc) == pytest.approx(2 / 3)  # Paris, Paris, London


# ---------------------------------------------------------------- embedding metrics


def test_adjacent_cosine_and_mean_vector_by_hand():
    rows = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]])
    assert nlp.adjacent_cosine(rows) == pytest.approx((0.0 + 0.8) / 2)
    assert nlp.mean_unit_vector(rows[:2]) == pytest.approx(np.array([1, 1]) / math.sqrt(2))


def test_minilm_metrics_on_identical_sentences():
    same = "The ship sailed at dawn. The ship sailed at dawn."
    scores = score_text(same, QualityContext(source=same))
    assert scores["semantic_continuity"] == pytest.approx(1.0, abs=1e-5)  # one vector twice
    assert scores["meaning_preservation"] == pytest.approx(1.0, abs=1e-5)
    profile = StyleProfile.from_texts([same])
    style = score_text(same, QualityContext(profile=profile))
    assert style["persona_alignment"] == pytest.approx(1.0, abs=1e-5)
    assert style["sentence_length_kl"] == pytest.approx(0.0)
    assert style["ngram_style_match"] == pytest.approx(1.0)


# ---------------------------------------------------------------- registry


def test_registry_covers_every_family_and_leaves_out_metrics_without_inputs():
    assert {m.family for m in METRICS} == set(FAMILIES)
    assert len({m.name for m in METRICS}) == len(METRICS)
    plain = score_text("The rain had not stopped for three days. The river was still full.")
    assert "bleu" not in plain and "persona_alignment" not in plain and "ppl_cv" not in plain
    assert {"mtld", "lzma_ratio", "semantic_continuity", "parse_depth", "pos_richness"} <= set(plain)
    with_ref = score_text("The cat sat.", QualityContext(reference="The cat sat."))
    assert with_ref["bleu"] == pytest.approx(1.0) and with_ref["rouge_l"] == pytest.approx(1.0)
