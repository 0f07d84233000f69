"""Dictation clean-up without a model: the baseline, and the fallback when the model's version is rejected.

    tidy_rules("um so i i went to the the market comma and bought bread period")
    -> "So I went to the market, and bought bread."

What the rules do, in order (each conservative: they never delete a word that could be content):
  1. spoken punctuation ("comma", "period"/"full stop", "question mark", "exclamation mark|point",
     "colon", "semicolon") becomes the mark; "period" stays a word after a determiner
     ("a period of", "the period") or before "of";
  2. hesitation fillers ("um", "uh", "er", "erm", "hmm", ...) are removed; "you know" / "I mean"
     only where they cannot be content: at the start of the utterance or set off by commas;
  3. immediate repetitions of 1-4 words are collapsed ("I I think", "to the to the"), except the
     grammatical doubles "had had", "that that", "is is";
  4. capitals: the first word (when the context ends a sentence), after . ? !, "I", and words the
     context writes capitalized mid-sentence (names); a final "." when the utterance ends a sentence.

``check_tidy(transcript, output)`` is the guard on a model's clean-up: the output's words must be
the transcript's words in order, with only fillers, spoken punctuation, repetitions and at most a
short false start left out. Commands ("new line", "scratch that") never reach this module: the
command grammar (engine/audio/commands.py) takes whole utterances first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FILLERS = frozenset({"um", "umm", "uh", "uhh", "uhm", "er", "erm", "hmm", "hm", "mm", "mhm"})
SOFT_FILLERS = (("you", "know"), ("i", "mean"))  # fillers that can also be content ("I mean it")
# Spoken punctuation, longest first: (words, mark).
SPOKEN_MARKS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("question", "mark"), "?"),
    (("exclamation", "mark"), "!"),
    (("exclamation", "point"), "!"),
    (("full", "stop"), "."),
    (("semi", "colon"), ";"),
    (("semicolon",), ";"),
    (("colon",), ":"),
    (("comma",), ","),
    (("period",), "."),
)
# "a period of", "the period": the word, not the mark.
_PERIOD_WORD_BEFORE = frozenset(
    {
        "a",
        "the",
        "this",
        "that",
        "each",
        "every",
        "any",
        "some",
        "no",
        "his",
        "her",
        "its",
        "their",
        "our",
        "my",
        "your",
        "long",
        "short",
        "whole",
        "same",
        "trial",
        "grace",
        "waiting",
        "transition",
        "another",
    }
)
GRAMMATICAL_DOUBLES = frozenset({"had", "that", "is"})
MAX_REPEAT_WORDS = 4
FALSE_START_BUDGET = 3  # content words a clean-up may drop beyond fillers and repetitions
TITLES = {"mr": "Mr.", "mrs": "Mrs.", "dr": "Dr.", "st": "St."}
_I_FORMS = {"i": "I", "i'm": "I'm", "i'll": "I'll", "i've": "I've", "i'd": "I'd"}
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*\s*$")
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)*")


@dataclass(frozen=True)
class TidyResult:
    """What ``Engine.tidy_dictation`` returned and why."""

    text: str  # what the writer gets
    source: str  # "model" | "rules" (the model's line was rejected by the guard, or no model)
    reason: str = ""  # why the model's line was rejected
    model_text: str = ""  # the model's own line, for inspection


def words(text: str) -> list[str]:
    """Lowercased words without punctuation (apostrophes kept, hyphens split): what the guard compares."""
    return _WORD.findall(text.lower().replace("’", "'").replace("-", " "))


@dataclass
class _Token:
    lead: str  # punctuation before the word ("(", quote)
    core: str  # the word as spoken
    trail: str  # punctuation after it
    role: str = "word"  # word | filler | soft | mark | repeat

    @property
    def key(self) -> str:
        return self.core.lower().replace("’", "'")


_SPLIT = re.compile(r"^([^\w']*)(.*?)([^\w']*)$")


def _tokens(text: str) -> list[_Token]:
    out = []
    for raw in text.split():
        lead, core, trail = _SPLIT.match(raw).groups()
        if core:
            out.append(_Token(lead, core, trail))
        elif out:  # a lone mark ("-", ",") belongs to the word before it
            out[-1].trail += raw
    return out


def _mark_at(toks: list[_Token], i: int) -> tuple[int, str] | None:
    """(number of tokens, mark) when spoken punctuation starts at token i."""
    for phrase, mark in SPOKEN_MARKS:
        n = len(phrase)
        if tuple(t.key for t in toks[i : i + n]) != phrase:
            continue
        if phrase == ("period",):
            before = toks[i - 1].key if i else ""
            after = toks[i + 1].key if i + 1 < len(toks) else ""
            if i == 0 or before in _PERIOD_WORD_BEFORE or after == "of":
                return None
        if i == 0 and mark != ".":  # an utterance cannot start with a comma
            return None
        return n, mark
    return None


def analyse(transcript: str) -> list[_Token]:
    """Tokens of the transcript, each with the role the rules give it (nothing is removed here)."""
    toks = _tokens(" ".join(transcript.split()))
    i = 0
    while i < len(toks):
        found = _mark_at(toks, i)
        if found:
            n, mark = found
            for t in toks[i : i + n]:
                t.role = "mark"
            toks[i + n - 1].trail = mark
            i += n
            continue
        if toks[i].key in FILLERS:
            toks[i].role = "filler"
        elif i + 1 < len(toks) and (toks[i].key, toks[i + 1].key) in SOFT_FILLERS:
            # Set off by commas (Whisper's "and, you know, then") or closing the utterance; a bare
            # "I mean it" or "you know he left" stays: there it may be what the writer meant.
            set_off = "," in toks[i + 1].trail and (i == 0 or toks[i - 1].trail.endswith(","))
            if set_off or (i + 2 == len(toks) and i > 0):
                toks[i].role = toks[i + 1].role = "soft"
            i += 2
            continue
        i += 1
    _mark_repeats(toks)
    return toks


def _mark_repeats(toks: list[_Token]) -> None:
    """Mark the first copy of an immediately repeated 1-4 word group (fillers between copies ignored)."""
    live = [i for i, t in enumerate(toks) if t.role == "word"]
    j = 0
    while j < len(live):
        for n in range(MAX_REPEAT_WORDS, 0, -1):
            first, second = live[j : j + n], live[j + n : j + 2 * n]
            if len(second) < n:
                continue
            if [toks[k].key for k in first] != [toks[k].key for k in second]:
                continue
            if n == 1 and toks[first[0]].key in GRAMMATICAL_DOUBLES:
                continue
            if any(toks[k].trail.rstrip(",") for k in first):  # "Go. Go." is two sentences, not a stutter
                continue
            for k in first:
                toks[k].role = "repeat"
            j += n - 1
            break
        j += 1


def _names(context: str) -> set[str]:
    """Words the context writes capitalized in mid-sentence (after a lowercase word or a comma)."""
    return {m.group(1) for m in re.finditer(r"(?<=[a-z,;] )([A-Z][a-z'’]+)", context)}


def tidy_rules(transcript: str, context: str = "") -> str:
    """The rule-based clean-up of one dictated utterance (see the module docstring)."""
    toks = analyse(transcript)
    kept: list[_Token] = []
    for t in toks:
        if t.role == "word":
            kept.append(_Token(t.lead, t.core, t.trail))
        elif t.role == "mark" and t.trail and kept:
            kept[-1].trail = kept[-1].trail.rstrip(",.;:!?") + t.trail
        elif t.role in ("filler", "soft", "repeat") and kept:
            if t.trail.strip(",") and not kept[-1].trail:
                kept[-1].trail = t.trail.strip(",")  # "... the end um." keeps its full stop
            elif t.role != "repeat" and "," in t.trail and kept[-1].trail == ",":
                kept[-1].trail = ""  # "and, um, then": the filler's commas go with it
    if not kept:
        return ""
    names = {n.lower(): n for n in _names(context)}
    starts_sentence = not context.strip() or bool(_SENTENCE_END.search(context))
    capital_next = starts_sentence
    for t in kept:
        key = t.key
        if key in _I_FORMS:
            t.core = _I_FORMS[key]
        elif key in TITLES and t.core.islower():
            t.core, t.trail = TITLES[key][:-1], "." + t.trail.lstrip(".")
        elif key.removesuffix("'s") in names:
            t.core = names[key.removesuffix("'s")] + t.core[len(key.removesuffix("'s")) :]
        if capital_next and t.core[:1].islower():
            t.core = t.core[0].upper() + t.core[1:]
        capital_next = bool(re.search(r"[.!?…]$", t.trail)) and key not in TITLES
    # Whisper leaves a comma before a filler it heard ("and, um, then"): drop a doubled or dangling one.
    text = " ".join(f"{t.lead}{t.core}{t.trail}" for t in kept)
    text = re.sub(r",([.!?;:])", r"\1", text).rstrip(",;: ")
    if starts_sentence and not re.search(r"[.!?…][\"'”’)\]]*$", text):
        text += "."
    return text


# ---------------------------------------------------------------- guard


def check_tidy(transcript: str, output: str, budget: int = FALSE_START_BUDGET) -> tuple[bool, str]:
    """Does ``output`` keep the writer's words, and only them? (True, "") or (False, why).

    The output's words must appear in the transcript in the same order (nothing added or
    changed). What the rules drop (fillers, spoken punctuation, the first copy of a repetition)
    must be gone from the output too, and is free to drop; "you know"/"I mean" may stay or go;
    at most ``budget`` other words may be left out (a false start such as "she was, she had
    been"), never more than a third of them.
    """
    if not output.strip():
        return False, "empty output"
    spoken: list[tuple[str, str]] = [(w, t.role) for t in analyse(transcript) for w in words(t.core)]
    wrote = words(output)
    n, m = len(spoken), len(wrote)
    inf = n + 1
    # cost[i][j]: fewest content words dropped to match wrote[j:] inside spoken[i:].
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    cost[n][m] = 0
    for i in range(n - 1, -1, -1):
        word, role = spoken[i]
        drop = 0 if role != "word" else 1
        cost[i][m] = cost[i + 1][m] + drop
        for j in range(m - 1, -1, -1):
            best = cost[i + 1][j] + drop
            if word == wrote[j] and role in ("word", "soft"):
                best = min(best, cost[i + 1][j + 1])
            cost[i][j] = best
    dropped = cost[0][0] if m else inf
    if dropped >= inf:
        keep = {w for w, role in spoken if role in ("word", "soft")}
        extra = [w for w in wrote if w not in keep]
        return False, f"words added, changed or left as spoken: {' '.join(extra[:5]) or 'order changed'}"
    content = sum(1 for _, role in spoken if role == "word")
    if dropped > min(budget, max(1, content // 3)):
        return False, f"{dropped} of {content} words left out"
    return True, ""
