"""training/eval/cot_edit.py: spans, the splice of a rewritten span, the WQRM's weakest span, and the
edit step through the real engine (the rest of each take is the source, byte for byte)."""

import pytest

from training.eval.cot_edit import cot_candidates, spans, splice, weakest_span

TWO_SENTENCES = (
    "Emma did not write to Jane for 3 days. The roads were closed by snow, and no coach could pass."
)
ONE_SENTENCE = "Emma did not write to Jane, because the roads were closed by snow."


def test_spans_are_sentences_or_the_clauses_of_one_sentence():
    assert [TWO_SENTENCES[s:e] for s, e in spans(TWO_SENTENCES)] == [
        "Emma did not write to Jane for 3 days.",
        "The roads were closed by snow, and no coach could pass.",
    ]
    assert [ONE_SENTENCE[s:e] for s, e in spans(ONE_SENTENCE)] == [
        "Emma did not write to Jane,",
        "because the roads were closed by snow.",
    ]
    # A clause under 3 words joins its neighbour instead of standing alone.
    assert [t[s:e] for t in ["Yes, she said that the coach had gone."] for s, e in spans(t)] == [
        "Yes, she said that the coach had gone."
    ]


def test_splice_fits_a_whole_sentence_take_inside_a_sentence():
    start, end = spans(ONE_SENTENCE)[1]
    # Rephrase writes a capital and a full stop; mid-sentence they become the span's own.
    assert splice(ONE_SENTENCE, start, end, "Since snow had shut the roads.") == (
        "Emma did not write to Jane, since snow had shut the roads."
    )
    start, end = spans(ONE_SENTENCE)[0]
    assert splice(ONE_SENTENCE, start, end, "Emma never wrote to Jane.") == (
        "Emma never wrote to Jane, because the roads were closed by snow."
    )


def test_splice_keeps_names_and_an_empty_take_keeps_the_source():
    text = "The coach left at noon, and Jane stayed behind with her aunt."
    start, end = spans(text)[1]
    assert splice(text, start, end, "Jane remained with her aunt.") == (
        "The coach left at noon, Jane remained with her aunt."
    )
    assert splice(text, start, end, "   ") == text


def test_weakest_span_is_the_one_whose_removal_raises_the_score():
    # A stand-in scorer that dislikes the word "boats": removing the (shortest) span holding it helps most.
    text = "She walked to the harbour at dawn. It was very, very, very nice and very good. The boats were in."
    bounds = spans(text)
    assert len(bounds) == 3
    assert text[slice(*weakest_span(text, bounds, lambda ts: [-t.count("boats") for t in ts]))] == (
        "The boats were in."
    )
    # Where the scorer means nothing (None), the longest span is taken.
    assert text[slice(*weakest_span(text, bounds, lambda ts: [None] * len(ts)))] == (
        "It was very, very, very nice and very good."
    )


@pytest.fixture(scope="module")
def wqrm():
    from engine.quality.wqrm import WQRM

    return WQRM.load()


def test_wqrm_finds_the_cliche_sentence(wqrm):
    text = (
        "The whale rose a mile off the bow, and the boats were lowered at once. "
        "At the end of the day, it is what it is, and all in all it was a very good thing in many ways. "
        "Ahab stood in the stern with the harpoon raised."
    )
    start, end = weakest_span(text, spans(text), wqrm.score)
    assert text[start:end].startswith("At the end of the day")


def test_edit_step_rewrites_only_the_weakest_span(engine):
    candidates, (start, end) = cot_candidates(engine, ONE_SENTENCE, n=1, seed=5)
    assert candidates, "the edit step returned no take"
    for c in candidates:
        assert c.text.startswith(ONE_SENTENCE[:start]) and c.text.endswith(ONE_SENTENCE[end:])
        assert c.verdict is not None  # guarded as a whole text, as Rephrase is
