"""Modes: what the engine is asked to do, each with its own sampling and length defaults.

The adapter composition of each mode lives in engine/adapters.py; a mode here
only names it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from engine.sampling import LogitsRule, SamplingParams


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
    # A per-request rule over the logits (Rephrase: engine.sampling.CopyRule for its source).
    rule: LogitsRule | None = field(default=None, compare=False)

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
        # No prompt-wide n-gram ban: it forbade copying any 4 tokens of the source, so long names and
        # fixed phrases were mangled. Engine.rephrase adds the copy-aware rule instead
        # (engine/quality/keep.py): what must stay cannot be lost, nothing the source lacks comes in.
        sampling=SamplingParams(temperature=0.5, min_p=0.15, repetition_penalty=1.0),
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
# Rephrase in my style rewrites as Rephrase does, one line, with the same sampling and copy rule.
DEFAULT_PARAMS[Mode.REPHRASE_STYLE] = DEFAULT_PARAMS[Mode.REPHRASE]
