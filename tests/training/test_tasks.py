"""Task data: examples are in the engine's inference format, deterministic, and held-out text is unseen."""

import pytest
import torch

from engine import prompts
from training.data import tasks
from training.data.rephrase import filter_pairs, sentence_encoder, word_change
from training.eval.adapters import accepted_chars, word_ends
from training.lora import intruder_stats

CORPORA = ["austen", "moby_dick", "reuters"]


def test_autocomplete_prompt_is_the_engines_and_ends_after_a_word():
    examples = tasks.autocomplete_examples(CORPORA, "train", 30, seed=1)
    assert len(examples) == 30
    for e in examples:
        assert e.prompt == prompts.autocomplete_prompt(e.prompt)  # already a context window
        assert e.prompt[-1] != " " and e.completion.startswith(" ") and not e.completion.startswith("  ")
        assert len(e.completion.split()) <= 12
    assert tasks.autocomplete_examples(CORPORA, "train", 30, seed=1) == examples
    assert tasks.autocomplete_examples(CORPORA, "train", 30, seed=2) != examples


def test_text_targets_run_on_across_paragraphs_in_the_prompts_format():
    text = tasks.autocomplete_examples(["austen"], "train", 20, seed=3, rest="text")
    paragraphs = {p for book in tasks.corpus_part(["austen"], "train")["austen"].values() for p in book}
    for e in text:
        assert e.prompt[-1] != " " and e.completion.startswith(" ") and len(e.completion) <= 1500
        # After the rest of the cursor's paragraph come the book's next paragraphs, whole and in
        # order, joined by the blank line the prompt puts between paragraphs (the last may be cut).
        following = e.completion.split("\n\n")[1:-1]
        assert all(p in paragraphs for p in following)
    assert sum(len(e.completion.split("\n\n")) >= 3 for e in text) >= 15


def test_continue_prompt_is_a_passage_ending_with_a_paragraph_break():
    examples = tasks.continue_examples(["austen"], "train", 10, seed=0)
    for e in examples:
        assert e.prompt.endswith("\n\n") and e.prompt == prompts.continue_prompt(e.prompt)
        assert e.completion.endswith("\n\n") and "\n\n" not in e.completion[:-2]


def test_held_out_completions_never_appear_in_training_examples():
    train = {e.completion for e in tasks.continue_examples(CORPORA, "train", 5000, seed=0)}
    test = [e.completion for e in tasks.continue_examples(CORPORA, "test", 50, seed=0)]
    assert test and not [c for c in test if c in train]


def test_persona_examples_mix_authors():
    authors = {e.author for e in tasks.persona_examples(CORPORA, "train", 30, seed=0)}
    assert authors == {"Jane Austen", "Herman Melville", "Reuters"}


def test_rephrase_example_uses_the_engines_few_shot_prompt():
    e = tasks.rephrase_example("The rain kept us indoors.", "We stayed in because of the rain. ", "x")
    assert e.prompt == prompts.rephrase_prompt("The rain kept us indoors.")
    assert e.completion == " We stayed in because of the rain.\n"


def test_rephrase_filters_reject_copies_and_meaning_changes_and_keep_paraphrases():
    sources = [
        "The weather was so bad that we stayed at home all day.",
        "The weather was so bad that we stayed at home all day.",
        "The weather was so bad that we stayed at home all day.",
        "He sold the old farm to his neighbour for a small sum.",
    ]
    outputs = [
        "The weather was so bad that we stayed at home all day.",  # copy
        "Stock prices rose sharply after the merger was announced.",  # another meaning
        "Because the weather was awful, we spent the whole day indoors.",  # a paraphrase
        "",
    ]
    kept, report = filter_pairs(sources, outputs, sentence_encoder())
    assert [k["paraphrase"] for k in kept] == [outputs[2]]
    assert report["rejected"]["too_little_change"]["count"] == 1
    assert report["rejected"]["meaning_lost"]["count"] == 1
    assert report["rejected"]["empty"]["count"] == 1
    assert report["kept_rate"] == 0.25
    assert word_change("a b c d", "a b c d") == 0.0 and word_change("a b", "c d") == 1.0


def test_accepting_a_ghost_text_takes_whole_correct_words_only():
    assert accepted_chars(" the house was", " the house is old") == len(" the house")
    assert accepted_chars(" the hou", " the house") == len(" the")
    assert accepted_chars(" a cat", " the cat") == 0
    assert accepted_chars(" end.", " end.") == len(" end.")
    assert word_ends("It is a truth.") == [2, 5, 7]


def test_intruder_stats_flag_a_new_dominant_direction():
    torch.manual_seed(0)
    w0 = torch.diag(torch.linspace(10.0, 1.0, 16))
    assert intruder_stats(w0, torch.zeros(16, 16), top_k=4) == pytest.approx(
        {"intruders": 0, "mean_match": 1.0, "min_match": 1.0}
    )
    # A rank-1 update along a direction mixing many base vectors, larger than the top singular value.
    v = torch.ones(16) / 4.0
    stats = intruder_stats(w0, 30.0 * torch.outer(v, v), top_k=4)
    assert stats["intruders"] >= 1 and stats["min_match"] < 0.5


def test_sentences_do_not_end_at_titles_like_mr():
    assert tasks.sentences("Wickham and Mr. Darcy met. Then Mrs. Bennet left! Shamrock Corp. said so") == [
        "Wickham and Mr. Darcy met.",
        "Then Mrs. Bennet left!",
        "Shamrock Corp. said so",
    ]


def test_spoken_form_is_deterministic_per_seed_and_keeps_the_sentence_recoverable():
    import random

    from engine.audio.tidy import words
    from training.data.spoken import spoken_form

    sentence = "Captain Wentworth, who had been at sea, came to Uppercross on Monday."
    forms = [spoken_form(sentence, random.Random(s)) for s in range(40)]
    assert forms == [spoken_form(sentence, random.Random(s)) for s in range(40)]
    assert len(set(forms)) > 20
    target = words(sentence)
    for form in forms:
        said = words(form)
        # Every word of the sentence is said, in order (noise is only added, never substituted).
        it = iter(said)
        assert all(w in it for w in target), form
    assert any("comma" in f or "period" in f or "full stop" in f for f in forms)
    assert any(w in f.lower().split() for f in forms for w in ("um", "uh", "er", "erm"))


def test_dictation_examples_use_the_engines_prompt_and_target_the_original_sentence():
    examples = tasks.dictation_examples(CORPORA, "train", 20, seed=3)
    assert len(examples) == 20 and examples == tasks.dictation_examples(CORPORA, "train", 20, seed=3)
    for e in examples:
        assert e.completion.startswith(" ") and e.completion.endswith("\n") and "\n" not in e.completion[:-1]
        last = e.prompt.rsplit("\n\n", 1)[1]
        context = last.split("\n")[0].removeprefix("Before: ") if last.startswith("Before: ") else ""
        transcript = last.split("Spoken: ", 1)[1].split("\n")[0]
        assert e.prompt == prompts.dictation_prompt(transcript, context)
    held_out = {e.completion for e in tasks.dictation_examples(CORPORA, "test", 50, seed=0)}
    assert not held_out & {e.completion for e in tasks.dictation_examples(CORPORA, "train", 2000, seed=0)}


def test_dictation_scores_count_case_and_punctuation_only_in_the_cased_wer():
    from training.eval.adapters import dictation_scores

    scores = dictation_scores(["The cat sat, then left."], ["the cat sat then left"])
    assert scores == {"wer": 0.0, "cased_wer": 0.6, "exact": 0.0}
    assert dictation_scores(["It rained."], ["It rained."])["exact"] == 1.0


def test_sentence_spans_are_runs_of_consecutive_sentences_each_within_bounds():
    short = "Too short here."
    a = "The first sentence of this paragraph has exactly ten words."
    b = "The second sentence also carries a good number of words."
    c = "And the third one closes the paragraph with eleven words total."
    paragraph = " ".join([a, b, short, c])
    assert tasks.sentence_spans(paragraph, 1) == [a, b, c]
    assert tasks.sentence_spans(paragraph, 2) == [f"{a} {b}"]  # no run crosses the short sentence
    assert tasks.sentence_spans(paragraph, 3) == []
