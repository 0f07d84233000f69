"""Prompts for each mode, for base (non-instruct) models and for chat models.

Base models (Gemma 3 270M) only continue text, so:
- autocomplete and continue feed the writer's own text, nothing else;
- rephrase uses a few-shot template whose examples match the text's script
  (Cyrillic examples for Russian text), so the model answers in the same language.
Chat models (SmolLM2-Instruct) get an instruction through their chat template
for rephrase; they continue raw text well enough for the other modes.

Training recipes build their examples with these same functions, so the
adapters learn exactly the format they meet at inference.
"""

from __future__ import annotations

import re

# The model sees at most this many characters before the cursor. The window
# starts at a paragraph or sentence boundary, so it stays put while the user
# types at the end, and the cached prefix can be reused.
CONTEXT_CHARS = 1500

REPHRASE_EXAMPLES_EN = [
    ("The weather was terrible, so we decided to stay at home.", "Because the weather was awful, we chose to stay in."),
    ("She didn't answer the letter for a long time.", "For a long while, she left the letter unanswered."),
    ("He walked quickly to the station because he was late.", "Running late, he hurried to the station."),
]
REPHRASE_EXAMPLES_RU = [
    ("Погода была ужасной, поэтому мы остались дома.", "Из-за плохой погоды мы решили никуда не ходить."),
    ("Она долго не отвечала на письмо.", "Письмо очень долго оставалось без ответа."),
    ("Он быстро пошёл на вокзал, потому что опаздывал.", "Опаздывая, он поспешил на вокзал."),
]
REPHRASE_HEADER = {
    "en": "Each sentence is rewritten in other words, keeping its meaning.\n\n",
    "ru": "Каждое предложение переписано другими словами, смысл сохранён.\n\n",
}
REPHRASE_LABELS = {"en": ("Original", "Rewritten"), "ru": ("Исходный текст", "Другими словами")}

_BOUNDARY = re.compile(r"\n\s*\n|(?<=[.!?…])\s+")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")


def script_of(text: str) -> str:
    """'ru' when Cyrillic letters dominate, else 'en'."""
    return "ru" if len(_CYRILLIC.findall(text)) > len(_LATIN.findall(text)) else "en"


def context_window(text: str, max_chars: int = CONTEXT_CHARS) -> str:
    """The tail of ``text`` the model sees, starting at a boundary when it had to be cut."""
    if len(text) <= max_chars:
        return text
    cut = len(text) - max_chars
    match = _BOUNDARY.search(text, cut)
    start = match.end() if match and match.end() < len(text) else cut
    return text[start:]


# ---------------------------------------------------------------- style exemplars

# How the writer's own paragraphs (engine.persona StyleMemory.exemplars) precede the text, so that a
# BASE model reads them as earlier text by the same writer. Format and order measured on dev writers
# (training/eval/style_retrieval.py --grid, docs/persona.md "Retrieved exemplars"): within ±0.012
# nats/token of each other, so the simplest stays:
#   "plain": the paragraphs, blank lines between them and before the text;
#   "rule":  the same with a "* * *" section break before the text (a scene break in a book).
EXEMPLAR_SEPARATORS = {"plain": "\n\n", "rule": "\n\n* * *\n\n"}
EXEMPLAR_FORMAT = "plain"
EXEMPLAR_NEAREST_LAST = True  # the most relevant paragraph right before the text


def with_exemplars(
    exemplars: list[str],
    prompt: str,
    fmt: str = EXEMPLAR_FORMAT,
    nearest_last: bool = EXEMPLAR_NEAREST_LAST,
) -> str:
    """``prompt`` preceded by the writer's exemplar paragraphs (given most relevant first).

    The exemplars end in a blank line, so their tokens do not depend on the text after them:
    while they stay the same, the whole block is a reusable cached prefix.
    """
    if not exemplars:
        return prompt
    ordered = list(reversed(exemplars)) if nearest_last else list(exemplars)
    body = "\n\n".join(" ".join(p.split()) for p in ordered)
    return body + EXEMPLAR_SEPARATORS[fmt] + prompt


def autocomplete_prompt(text_before_cursor: str) -> str:
    return context_window(text_before_cursor)


def continue_prompt(text: str) -> str:
    return context_window(text)


def rephrase_prompt(text: str) -> str:
    """Few-shot prompt for base models; the answer is the line after the last label."""
    lang = script_of(text)
    src, dst = REPHRASE_LABELS[lang]
    examples = REPHRASE_EXAMPLES_RU if lang == "ru" else REPHRASE_EXAMPLES_EN
    shots = "".join(f"{src}: {a}\n{dst}: {b}\n\n" for a, b in examples)
    flat = " ".join(text.split())
    return f"{REPHRASE_HEADER[lang]}{shots}{src}: {flat}\n{dst}:"


def rephrase_chat_messages(text: str) -> list[dict[str, str]]:
    return [
        {
            "role": "system",
            "content": "You rewrite the user's text in other words, keeping its meaning, language and tone. "
            "Answer with the rewritten text only.",
        },
        {"role": "user", "content": " ".join(text.split())},
    ]


# ---------------------------------------------------------------- dictation clean-up

# Made-up examples (not from the training corpora): fillers, a stutter, a false start, spoken
# punctuation, a name known from the text before, and a Whisper-style transcript with its own commas.
DICTATION_HEADER = (
    "Dictated speech and the sentence the writer meant: fillers, stutters and false starts removed, "
    "punctuation and capitals restored, every other word kept.\n\n"
)
DICTATION_EXAMPLES = [
    ("", "um so i i went to the the market comma and uh bought some bread period",
     "So I went to the market, and bought some bread."),
    ("Emma Woodhouse lived at Hartfield with her father.",
     "she she rarely left hartfield uh except to visit mrs weston",
     "She rarely left Hartfield except to visit Mrs. Weston."),
    ("", "The letter, um, the long letter arrived this morning. Did you, did you read it question mark",
     "The long letter arrived this morning. Did you read it?"),
]
DICTATION_LABELS = ("Before", "Spoken", "Written")
DICTATION_CONTEXT_CHARS = 200  # the sentence or two before the cursor: names and tone, not the whole text


def dictation_context(text_before: str, max_chars: int = DICTATION_CONTEXT_CHARS) -> str:
    """The last sentences before the cursor on one line, cut at a word boundary."""
    flat = " ".join(text_before.split())
    if len(flat) <= max_chars:
        return flat
    tail = flat[-max_chars:]
    return tail[tail.find(" ") + 1 :] if " " in tail else tail


def _dictation_block(context: str, transcript: str) -> str:
    before, spoken, _ = DICTATION_LABELS
    line = f"{before}: {context}\n" if context else ""
    return f"{line}{spoken}: {' '.join(transcript.split())}\n"


def dictation_prompt(transcript: str, context: str = "") -> str:
    """Few-shot prompt for base models; the answer is the line after the last "Written:".

    ``context`` is the text before the cursor (its last ~200 characters are shown), so the
    model can take names and the writer's conventions from it.
    """
    written = DICTATION_LABELS[2]
    shots = "".join(f"{_dictation_block(c, t)}{written}: {w}\n\n" for c, t, w in DICTATION_EXAMPLES)
    return f"{DICTATION_HEADER}{shots}{_dictation_block(dictation_context(context), transcript)}{written}:"


def dictation_chat_messages(transcript: str, context: str = "") -> list[dict[str, str]]:
    ctx = dictation_context(context)
    user = (f"Text so far: {ctx}\n" if ctx else "") + f"Dictated: {' '.join(transcript.split())}"
    return [
        {
            "role": "system",
            "content": "You turn a dictated transcript into the written sentence the speaker meant: remove "
            "fillers (um, uh, you know), stutters and false starts, turn spoken punctuation (comma, period, "
            "question mark) into marks, fix capitals. Keep every other word exactly. Answer with the sentence only.",
        },
        {"role": "user", "content": user},
    ]
