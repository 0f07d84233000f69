"""Modes: what the engine is asked to do, each with its own sampling and length defaults.

The adapter composition of each mode lives in engine/adapters.py; a mode here
only names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from engine.sampling import SamplingParams


class Mode(StrEnum):
    AUTOCOMPLETE = "autocomplete"
    CONTINUE = "continue"
    REPHRASE = "rephrase"
    REPHRASE_STYLE = "rephrase_style"  # Rephrase in my style: the writer's paragraphs before the prompt
    DICTATION = "dictation"


@dataclass(frozen=True)
class GenerationParams:
    max_new_tokens: int
    sampling: SamplingParams = field(default_factory=SamplingParams)
    seed: int | None = None  # fixed seed: the same output for the same input
    stop_at_sentence_end: bool = False  # autocomplete: stop after . ! ? …
    stop_at_newline: bool = False
    stop_at_paragraph: bool = False

    def with_overrides(self, **kwargs) -> GenerationParams:
        sampling_keys = {"temperature", "min_p", "repetition_penalty", "no_repeat_ngram"}
        sampling = {k: kwargs.pop(k) for k in list(kwargs) if k in sampling_keys and kwargs[k] is not None}
        params = replace(self, **{k: v for k, v in kwargs.items() if v is not None})
        if sampling:
            params = replace(params, sampling=replace(params.sampling, **sampling))
        return params


# Autocomplete must be short and safe: low temperature, a tight min-p.
DEFAULT_PARAMS: dict[Mode, GenerationParams] = {
    Mode.AUTOCOMPLETE: GenerationParams(
        max_new_tokens=12,
        sampling=SamplingParams(temperature=0.3, min_p=0.2, repetition_penalty=1.05),
        stop_at_sentence_end=True,
        stop_at_newline=True,
    ),
    Mode.CONTINUE: GenerationParams(
        max_new_tokens=80,
        sampling=SamplingParams(temperature=0.8, min_p=0.1, repetition_penalty=1.1, no_repeat_ngram=4),
        stop_at_paragraph=True,
    ),
    Mode.REPHRASE: GenerationParams(
        max_new_tokens=120,
        # A base model's easiest "rewrite" is a copy: forbidding any 4-gram already in the
        # prompt (which holds the source) forces new wording but allows its words.
        sampling=SamplingParams(temperature=0.5, min_p=0.15, repetition_penalty=1.0, no_repeat_ngram=4),
        stop_at_newline=True,
    ),
    # Dictation clean-up copies the writer's words: greedy (the same transcript gives the same text,
    # as in the eval), and no repetition penalty, which would push the model off the words it must copy.
    # The answer is one line (engine.prompts.dictation_prompt); Engine.tidy_dictation also caps the
    # length by the transcript's.
    Mode.DICTATION: GenerationParams(
        max_new_tokens=96,
        sampling=SamplingParams(temperature=0.0, min_p=0.0, repetition_penalty=1.0),
        stop_at_newline=True,
    ),
}
# Rephrase in my style rewrites as Rephrase does, one line, with the same sampling. The 4-gram ban
# also covers the exemplar paragraphs in its prompt (they are prompt text): their phrases cannot be
# copied word for word. Not measured against the eval's sampling, which has no ban (docs/style_rl.md).
DEFAULT_PARAMS[Mode.REPHRASE_STYLE] = DEFAULT_PARAMS[Mode.REPHRASE]
