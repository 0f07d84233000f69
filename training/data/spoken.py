"""A written sentence -> how a writer dictating it might come out of the recognizer (seeded, deterministic).

    spoken_form("Well, I never saw him again.", random.Random(0))
    -> "well i i never um saw him again period"

Two transcript styles, as the app meets them:
- raw (60%): lowercase, punctuation gone or spoken as a word ("comma", "period", "full stop", ...);
- Whisper-like (40%): the sentence's casing kept, each mark kept, spoken or dropped, fillers set
  off by commas ("and, um, then").
Then speech noise: fillers ("um", "uh", "you know", "I mean"), a repeated word or two ("the the",
"to the to the"), and sometimes a false start (the first words said, then restarted; a third of
those skip a word first: "the man, the old man").

The target is always the original sentence, so a model learns to restore it and nothing else.
"""

from __future__ import annotations

import random
import re

FILLERS = ["um", "uh", "um", "uh", "er", "erm"]
SOFT_FILLERS = ["you know", "I mean"]
SPOKEN = {
    ",": ["comma"],
    ".": ["period", "full stop"],
    "?": ["question mark"],
    "!": ["exclamation mark", "exclamation point"],
    ";": ["semicolon"],
    ":": ["colon"],
}
ABBREVIATIONS = {"mr", "mrs", "dr", "st", "messrs", "col", "capt", "gen", "co", "corp", "inc", "ltd", "no"}
NO_REPEAT = {"had", "that", "is"}  # grammatical doubles the clean-up keeps
_TOKEN = re.compile(r"^([\"'“‘(]*)(.*?)([.,;:!?\"'”’)]*)$")


def _split(word: str) -> tuple[str, str, str]:
    return _TOKEN.match(word).groups()


def spoken_form(
    sentence: str,
    rng: random.Random,
    raw_share: float = 0.6,
    speak_marks: float = 0.4,
    filler_rate: float = 0.08,
    repeat_rate: float = 0.06,
    false_start_rate: float = 0.25,
) -> str:
    raw = rng.random() < raw_share
    speaks = rng.random() < speak_marks  # this writer says the punctuation aloud
    out: list[str] = []
    words = sentence.split()
    for i, word in enumerate(words):
        lead, core, trail = _split(word)
        if not core:
            continue
        if rng.random() < filler_rate and out:
            filler = rng.choice(SOFT_FILLERS) if rng.random() < 0.25 else rng.choice(FILLERS)
            if raw:
                out.append(filler.lower())
            else:
                if out[-1][-1].isalnum():
                    out[-1] += ","
                out.append(filler + ",")
        said = core.lower() if raw else lead + core
        if rng.random() < repeat_rate and core.lower() not in NO_REPEAT:
            n = 2 if (rng.random() < 0.3 and i + 1 < len(words)) else 1
            group = [(_split(w)[1].lower() if raw else _split(w)[1]) for w in words[i : i + n]]
            if all(group) and not any(_split(w)[2] for w in words[i : i + n - 1]):
                out += group
        # "Mrs." is said "missus": its full stop is never spoken.
        marks = [] if core.lower() in ABBREVIATIONS else [m for m in trail if m in SPOKEN]
        if core.lower() in ABBREVIATIONS and not raw:
            said += trail[:1]
        tail = ""
        for m in marks[:1]:
            if speaks and rng.random() < 0.85:
                tail = " " + rng.choice(SPOKEN[m])
            elif not raw and rng.random() < 0.7:
                tail = m
        out.append(said + tail)
    text = " ".join(out)
    if rng.random() < false_start_rate and len(words) >= 5:
        k = rng.randint(1, 3)
        start = [(_split(w)[1].lower() if raw else _split(w)[1]) for w in words[: k + 1]]
        if all(start):
            # A third of false starts leave a word out and restart ("the man, the old man").
            head = start[:1] + start[2:] if (k >= 2 and rng.random() < 0.33) else start[:k]
            pause = rng.choice(FILLERS) if rng.random() < 0.4 else ""
            sep = " " if raw else ", "
            text = " ".join(head) + (f" {pause}" if pause else "") + sep + text
    return " ".join(text.split())
