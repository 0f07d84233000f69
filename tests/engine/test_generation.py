"""The engine on the real embedded model: scripts, seeds, cancellation, prefix reuse, healing, soft prefixes."""

from __future__ import annotations

import re
import threading

import pytest
import torch

from engine.api import CancelToken
from engine.errors import PromptError
from engine.modes import GenerationParams, Mode

EN = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife. However little known the feelings or views of such a man may be"
)
RU = (
    "Утро было тихим и холодным. Мы вышли из дома ещё до рассвета, и дорога вела нас через "
    "заснеженный лес к старой мельнице, где"
)
CYRILLIC = re.compile(r"[\u0400-\u04FF]")
LATIN = re.compile(r"[A-Za-z]")


def _continue(engine, text, seed, **over):
    params = engine.mode_params[Mode.CONTINUE].with_overrides(seed=seed, max_new_tokens=24, **over)
    return "".join(engine.continue_text(text, params=params))


def test_english_continuation_is_latin_nonempty_and_seeded(engine):
    a, b, c = _continue(engine, EN, 1), _continue(engine, EN, 1), _continue(engine, EN, 2)
    assert a.strip(), "empty continuation"
    assert len(LATIN.findall(a)) > 5 and not CYRILLIC.search(a)
    assert a == b, "the same seed must give the same text"
    assert a != c, "different seeds should give different text"


def test_russian_continuation_stays_in_cyrillic(engine):
    a, b, c = _continue(engine, RU, 1), _continue(engine, RU, 1), _continue(engine, RU, 5)
    assert a.strip()
    letters = CYRILLIC.findall(a) + LATIN.findall(a)
    assert len(CYRILLIC.findall(a)) >= 0.9 * len(letters) and len(letters) > 5
    assert a == b and a != c


def test_cancel_stops_generation_within_one_token(engine):
    cancel = CancelToken()
    params = engine.mode_params[Mode.CONTINUE].with_overrides(seed=3, max_new_tokens=60)
    pieces, tokens_at_cancel = [], None
    for piece in engine.continue_text(EN, params=params, cancel=cancel):
        pieces.append(piece)
        if tokens_at_cancel is None:
            tokens_at_cancel = engine.last_stats.new_tokens
            cancel.cancel()
    stats = engine.last_stats
    assert stats.cancelled and stats.stop_reason == "cancelled"
    assert stats.new_tokens - tokens_at_cancel <= 1
    assert len(pieces) <= 2


def test_cancel_from_another_thread_mid_stream(engine):
    cancel = CancelToken()
    params = engine.mode_params[Mode.CONTINUE].with_overrides(seed=4, max_new_tokens=200, no_repeat_ngram=0)
    seen_at_cancel = []

    def stop_soon():
        seen_at_cancel.append(engine.last_stats.new_tokens)
        cancel.cancel()

    timer = None
    count = 0
    for _ in engine.continue_text(EN, params=params, cancel=cancel):
        count += 1
        if count == 3:
            timer = threading.Timer(0.0, stop_soon)
            timer.start()
            timer.join()
    assert engine.last_stats.cancelled
    assert engine.last_stats.new_tokens - seen_at_cancel[0] <= 1


def test_prefix_cache_is_reused_between_autocomplete_calls_and_changes_nothing(engine):
    greedy = engine.mode_params[Mode.AUTOCOMPLETE].with_overrides(temperature=0.0)
    first = "".join(engine.complete(EN + " in the neighbourho", params=greedy))
    reused = "".join(engine.complete(EN + " in the neighbourhood, this tru", params=greedy))
    stats = engine.last_stats
    assert stats.reused_positions >= stats.prompt_positions - 6, (
        stats.reused_positions,
        stats.prompt_positions,
    )
    engine.generator.invalidate()
    fresh = "".join(engine.complete(EN + " in the neighbourhood, this tru", params=greedy))
    assert engine.last_stats.reused_positions == 0
    assert reused == fresh
    assert first.strip()


def test_mid_word_completion_is_healed_to_continue_the_word(engine):
    greedy = engine.mode_params[Mode.AUTOCOMPLETE].with_overrides(temperature=0.0)
    out = "".join(
        engine.complete("It was a bright cold day in April, and the clocks were stri", params=greedy)
    )
    assert out[:1].isalpha(), f"expected the rest of the word, got {out!r}"
    assert ("stri" + out).lower().startswith("strik")


def test_autocomplete_stops_at_sentence_end_or_line_end(engine):
    params = engine.mode_params[Mode.AUTOCOMPLETE].with_overrides(seed=0, max_new_tokens=40)
    out = "".join(engine.complete("The rain had stopped, and the", params=params))
    assert "\n" not in out
    body = out.rstrip()
    assert engine.last_stats.stop_reason in ("sentence", "length", "newline", "eos")
    if engine.last_stats.stop_reason == "sentence":
        assert re.search(r"[.!?…][\"'»”’)\]]*$", body)


def test_rephrase_returns_a_different_sentence_in_the_same_language(engine):
    src = "The old man walked slowly along the empty road, thinking about his son."
    params = engine.mode_params[Mode.REPHRASE].with_overrides(seed=0)
    out = "".join(engine.rephrase(src, params=params))
    assert out.strip() and out.strip() != src
    assert "\n" not in out and not CYRILLIC.search(out)


def test_soft_prefix_conditions_the_output_and_keys_the_cache(engine):
    class Persona:
        def __init__(self, t):
            self.soft_tokens = t

    greedy = engine.mode_params[Mode.CONTINUE].with_overrides(temperature=0.0, max_new_tokens=8)
    torch.manual_seed(0)
    scale = engine.backend.embed_tokens([100, 200]).std()
    persona_a = Persona(torch.randn(4, engine.backend.hidden_size) * scale * 3)
    base = "".join(engine.continue_text(EN, params=greedy))
    with_a = "".join(engine.continue_text(EN, params=greedy, persona=persona_a))
    assert engine.last_stats.prompt_positions == engine.last_stats.reused_positions + (
        engine.last_stats.prompt_positions - engine.last_stats.reused_positions
    )
    again = "".join(engine.continue_text(EN, params=greedy, persona=persona_a))
    assert engine.last_stats.reused_positions >= engine.last_stats.prompt_positions - 1
    assert with_a == again
    assert with_a != base


@pytest.mark.parametrize("bad", ["", "   \n "])
def test_bad_prompts_raise_a_clear_error(engine, bad):
    with pytest.raises(PromptError) as err:
        list(engine.continue_text(bad))
    assert "input" in str(err.value).lower()


def test_a_megabyte_of_text_before_the_cursor_is_served_from_its_end(engine):
    """A long manuscript is not refused: the engine reads the text near the cursor (near_cursor)."""
    greedy = engine.mode_params[Mode.CONTINUE].with_overrides(temperature=0.0, max_new_tokens=6)
    manuscript = "x" * (1024 * 1024) + "\n\n" + EN
    assert "".join(engine.continue_text(manuscript, params=greedy)) == "".join(
        engine.continue_text(EN, params=greedy)
    )


def test_rephrasing_a_whole_chapter_is_refused_with_advice(engine):
    with pytest.raises(PromptError, match="Select a paragraph"):
        list(engine.rephrase("A sentence. " * 1000))


def test_autocomplete_after_a_full_stop_suggests_words_not_a_line_break(engine):
    params = engine.mode_params[Mode.AUTOCOMPLETE].with_overrides(temperature=0.0)
    out = "".join(engine.complete(EN + ". ", params=params))
    assert out.strip(), "an empty suggestion after a full stop"
    assert "\n" not in out


def test_speculative_healing_gives_the_same_text_with_one_model_call_fewer(engine):
    greedy = engine.mode_params[Mode.AUTOCOMPLETE].with_overrides(temperature=0.0)
    text = "She folded the letter carefully, put it back into the envelope and"  # ends on a whole word
    backend = engine.backend
    calls = []
    real_forward = backend.forward_tokens

    def counting_forward(*args, **kwargs):
        calls.append(len(args[0]))
        return real_forward(*args, **kwargs)

    results = {}
    try:
        backend.forward_tokens = counting_forward
        for rows in (backend.max_logits_rows, 1):
            type(backend).max_logits_rows, saved = rows, type(backend).max_logits_rows
            try:
                engine.generator.invalidate()
                calls.clear()
                results[rows] = (
                    "".join(engine.complete(text, params=greedy)),
                    len(calls),
                    engine.last_stats.new_tokens,
                )
            finally:
                type(backend).max_logits_rows = saved
    finally:
        del backend.forward_tokens
    (spec_text, spec_calls, spec_tokens), (plain_text, plain_calls, plain_tokens) = results.values()
    assert spec_text == plain_text and spec_text.strip()
    assert spec_tokens == plain_tokens
    assert spec_calls == plain_calls - 1, (spec_calls, plain_calls)


def test_a_carriage_return_ends_a_line_bound_take_as_a_line_feed_does():
    """A Rephrase take once ran on past "\\r\\r\\r" into "Original: …": "\\r" is a line break too."""
    from engine.generation import _apply_stops

    line = GenerationParams(max_new_tokens=8, stop_at_newline=True)
    assert _apply_stops("She left. \r\r\rOriginal: x", line) == ("She left. ", "newline")
    assert _apply_stops("She left.\nMore", line) == ("She left.", "newline")
    assert _apply_stops("She left. \rMore", GenerationParams(max_new_tokens=8)) == ("She left. \rMore", "")
