"""Incremental prefill (Engine.prefill / Generator.prefill): the cache kept current while the writer types.

The contract: after any sequence of prefills (typing, deleting, editing mid-text), a request gives exactly
what it gives from a cold cache, and a cancel stops the prefill within one forward step with the cache
still consistent. Checked on a tiny random model (every chunk boundary, in seconds) and on the real one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

from engine.cancel import CancelToken
from engine.generation import PREFILL_CHUNK, Generator
from engine.modes import GenerationParams, Mode
from engine.sampling import SamplingParams

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "export"))  # the tiny model builders

GREEDY = GenerationParams(max_new_tokens=12, sampling=SamplingParams(temperature=0.0, repetition_penalty=1.0))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny random Llama with a word-level tokenizer ("w1 w2 ..."), loaded as the engine loads models."""
    from tiny_models import save_tiny_llama, save_word_tokenizer

    from engine.models import load_model

    folder = save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))
    save_word_tokenizer(folder)
    return load_model(folder)


def _generator(loaded) -> Generator:
    from engine.backends.eager import EagerBackend

    return Generator(EagerBackend(loaded), loaded.tokenizer, {loaded.tokenizer.eos_token_id})


def _ids(loaded, text: str) -> list[int]:
    return loaded.tokenizer(text)["input_ids"]


def _cold(loaded, text: str, heal: bool = False) -> tuple[str, list[int]]:
    gen = _generator(loaded)
    out = "".join(gen.stream(_ids(loaded, text), GREEDY, prompt_text=text, heal=heal))
    return out, list(gen.last_stats.tokens)


def _words(start: int, n: int) -> str:
    return " ".join(f"w{(start + 7 * i) % 500 + 4}" for i in range(n))


class CountingBackend:
    """The real backend, counting forward calls; ``on_call`` runs inside each (e.g. to cancel mid-step)."""

    def __init__(self, backend, on_call=None) -> None:
        self._backend = backend
        self.calls: list[int] = []
        self.on_call = on_call

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def forward_tokens(self, token_ids, start_pos, **kwargs):
        self.calls.append(len(token_ids))
        if self.on_call is not None:
            self.on_call()
        return self._backend.forward_tokens(token_ids, start_pos, **kwargs)


def test_prefill_while_typing_gives_the_cold_prefills_logits_and_tokens(tiny):
    text = _words(3, 150)  # crosses two PREFILL_CHUNK boundaries
    gen = _generator(tiny)
    typed = text.split(" ")
    for i in range(1, len(typed) + 1, 9):  # a prefill per burst of words, as the debounce coalesces them
        assert gen.prefill(_ids(tiny, " ".join(typed[:i])), GREEDY)
    assert gen.prefill(_ids(tiny, text), GREEDY)
    warm_logits = gen._tail[1]
    cold_gen = _generator(tiny)
    cold_logits = cold_gen.backend.forward_tokens(_ids(tiny, text), 0)
    assert torch.allclose(warm_logits, cold_logits, atol=1e-4), (warm_logits - cold_logits).abs().max()

    out = "".join(gen.stream(_ids(tiny, text), GREEDY, prompt_text=text))
    assert gen.last_stats.reused_positions == gen.last_stats.prompt_positions  # nothing left to prefill
    assert (out, gen.last_stats.tokens) == _cold(tiny, text)


def test_prefill_after_an_edit_inside_the_text_gives_the_cold_result(tiny):
    before = _words(5, 120)
    words = before.split(" ")
    edited = " ".join(words[:40] + ["w9", "w10"] + words[43:] + ["w11"])  # changed mid-text, then typed on
    gen = _generator(tiny)
    assert gen.prefill(_ids(tiny, before), GREEDY)
    cached_before = gen.cached_positions
    assert gen.prefill(_ids(tiny, edited), GREEDY)
    assert gen.last_prefill_stats.reused_positions == 40  # truncated to the common prefix, not dropped
    assert cached_before == len(_ids(tiny, before))
    out = "".join(gen.stream(_ids(tiny, edited), GREEDY, prompt_text=edited))
    assert (out, gen.last_stats.tokens) == _cold(tiny, edited)


def test_a_request_after_prefill_runs_no_forward_call_before_its_first_token(tiny):
    text = _words(11, 30)
    gen = _generator(tiny)
    gen.prefill(_ids(tiny, text), GREEDY)
    gen.backend = counting = CountingBackend(gen.backend)
    stream = gen.stream(_ids(tiny, text), GREEDY, prompt_text=text)
    first = next(stream)
    assert first and counting.calls == []
    assert "".join([first, *stream]) == _cold(tiny, text)[0]


def test_cancel_during_prefill_stops_within_one_step_and_keeps_the_cache_consistent(tiny):
    text = _words(2, 3 * PREFILL_CHUNK + 10)
    token = CancelToken()
    gen = _generator(tiny)
    gen.backend = counting = CountingBackend(gen.backend, on_call=token.cancel)  # cancelled during step one
    assert gen.prefill(_ids(tiny, text), GREEDY, cancel=token) is False
    assert counting.calls == [PREFILL_CHUNK]  # the step in flight finished; no other started
    assert gen.cached_positions == PREFILL_CHUNK
    assert gen.last_prefill_stats.cancelled

    counting.on_call = None
    out = "".join(gen.stream(_ids(tiny, text), GREEDY, prompt_text=text))
    assert gen.last_stats.reused_positions == PREFILL_CHUNK  # the cancelled prefill's work is used
    assert (out, gen.last_stats.tokens) == _cold(tiny, text)


def test_a_cancel_set_before_prefill_runs_nothing(tiny):
    token = CancelToken()
    token.cancel()
    gen = _generator(tiny)
    gen.backend = counting = CountingBackend(gen.backend)
    assert gen.prefill(_ids(tiny, _words(1, 20)), GREEDY, cancel=token) is False
    assert counting.calls == [] and gen.cached_positions == 0


def test_stream_reports_a_length_normalized_log_probability(tiny):
    gen = _generator(tiny)
    text = _words(4, 10)
    "".join(gen.stream(_ids(tiny, text), GREEDY, prompt_text=text))
    stats = gen.last_stats
    assert stats.new_tokens > 0
    assert stats.mean_logprob < 0.0
    assert stats.mean_logprob == pytest.approx(stats.logprob_sum / stats.new_tokens)


# -- the real model ----------------------------------------------------------------------------------

TYPED = "She folded the letter carefully, put it back into the envelope and"


def test_real_model_typing_with_prefill_gives_the_cold_suggestion(engine):
    """Typed character by character with a prefill per keystroke, a typo deleted and retyped: same
    greedy suggestion as from a cold cache, and the request reuses every prompt position."""
    greedy = engine.mode_params[Mode.AUTOCOMPLETE].with_overrides(temperature=0.0)
    typo = TYPED[:40] + "xq"
    steps = (
        [TYPED[:n] for n in range(30, 41, 2)]
        + [typo, TYPED[:40]]
        + [TYPED[:n] for n in range(41, len(TYPED) + 1)]
    )
    for text in steps:
        assert engine.prefill(text, params=greedy)
    warm = "".join(engine.complete(TYPED, params=greedy))
    stats = engine.last_stats
    assert stats.reused_positions == stats.prompt_positions
    engine.generator.invalidate()
    cold = "".join(engine.complete(TYPED, params=greedy))
    assert warm == cold and warm.strip()
    assert engine.last_stats.reused_positions == 0


def test_real_model_cancel_mid_prefill_keeps_the_cache_consistent(engine):
    greedy = engine.mode_params[Mode.AUTOCOMPLETE].with_overrides(temperature=0.0)
    long_text = (TYPED + " ") * 12  # ~170 tokens: three prefill steps from cold
    engine.generator.invalidate()
    token = CancelToken()
    backend = engine.backend
    counting = CountingBackend(backend, on_call=token.cancel)
    engine.generator.backend = counting
    try:
        assert engine.prefill(long_text, params=greedy, cancel=token) is False
    finally:
        engine.generator.backend = backend
    assert counting.calls == [PREFILL_CHUNK]
    assert engine.generator.cached_positions == PREFILL_CHUNK
    warm = "".join(engine.complete(long_text, params=greedy))
    assert engine.last_stats.reused_positions == PREFILL_CHUNK
    engine.generator.invalidate()
    assert warm == "".join(engine.complete(long_text, params=greedy))
