"""Controlled degradations of real prose: the "worse" side of the WQRM's training pairs.

Each degradation takes a human passage and a strength ``level`` (1 = light, 3 = heavy) and
returns a copy that a careful editor would call worse in one named way:

| kind          | what it does                                                            |
|---------------|-------------------------------------------------------------------------|
| `verbosity`   | pads sentences with empty qualifiers ("in a very real sense", ...)      |
| `generic`     | swaps concrete sentences' openings/endings for stock phrases            |
| `cliche`      | inserts cliches ("at the end of the day", "time will tell", ...)        |
| `repetition`  | repeats a sentence, or a clause, verbatim                               |
| `shuffle`     | shuffles the sentence order (broken coherence)                          |
| `transitions` | deletes the connectives ("however", "but", "so", ...) or flattens them  |
| `draft`       | (not here: ``training.data.degrade_drafts``) the base model's own draft |

Higher levels degrade more, so (level i, level j > i) are quality-gradient pairs.
Everything is deterministic given ``seed``. The phrase lists are disjoint from
``engine.quality.phrases.GENERIC_PHRASES`` where noted, so a held-out degradation cannot be
caught by a phrase list that was written for it.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from engine.quality.metrics_text import split_sentences as sentences

KINDS = ("verbosity", "generic", "cliche", "repetition", "shuffle", "transitions")
LEVELS = (1, 2, 3)

PADDING = (
    "in a very real sense",
    "for all intents and purposes",
    "as a matter of fact",
    "to a certain extent",
    "in many ways",
    "more or less",
    "in some sense",
    "basically",
    "actually",
    "really",
    "quite literally",
    "it should be noted that",
)
GENERIC_OPENERS = (
    "It is important to note that",
    "It is worth mentioning that",
    "In today's world,",
    "Needless to say,",
    "Interestingly enough,",
    "All things considered,",
)
GENERIC_SENTENCES = (
    "This was a very important moment for everyone involved.",
    "It was a truly unique and memorable experience.",
    "There were many different things to think about.",
    "Everyone had their own thoughts and feelings about it.",
    "Things would never be quite the same again.",
    "It was a situation that affected many people in many ways.",
)
CLICHES = (
    "at the end of the day",
    "when all is said and done",
    "time will tell",
    "every cloud has a silver lining",
    "only time would tell",
    "it was a blessing in disguise",
    "they were in the same boat",
    "it was the calm before the storm",
    "it was easier said than done",
    "better late than never",
)
TRANSITIONS = (
    "however",
    "but",
    "yet",
    "therefore",
    "thus",
    "so",
    "because",
    "although",
    "though",
    "since",
    "while",
    "moreover",
    "indeed",
    "nevertheless",
    "still",
    "then",
    "for",
    "and",
)
_TRANSITION = re.compile(r"\b(" + "|".join(TRANSITIONS) + r")\b,?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Passage:
    """A run of whole paragraphs from one book: the "human" side of a pair."""

    corpus: str
    title: str
    text: str
    context: str = ""  # the paragraphs before it (the prompt a model draft continues)


def _join(sents: Sequence[str]) -> str:
    return " ".join(s.strip() for s in sents if s.strip())


def _lower_first(s: str) -> str:
    return s[:1].lower() + s[1:] if s[:2] != "I " else s


def _upper_first(s: str) -> str:
    return s[:1].upper() + s[1:]


def _pick(rng: random.Random, n: int, level: int, frac: float = 0.34) -> list[int]:
    """Indices of about level*frac of n sentences (at least one)."""
    k = max(1, min(n, round(n * frac * level)))
    return sorted(rng.sample(range(n), k))


def verbosity(text: str, level: int, rng: random.Random) -> str:
    sents = sentences(text)
    for i in _pick(rng, len(sents), level):
        pads = rng.sample(PADDING, min(level, len(PADDING)))
        words = sents[i].split(" ")
        for pad in pads:  # after the first word or two: "She, basically, ..." reads as padding
            at = rng.randrange(1, max(2, min(4, len(words))))
            words.insert(at, pad + ",")
        sents[i] = " ".join(words)
    return _join(sents)


def generic(text: str, level: int, rng: random.Random) -> str:
    sents = sentences(text)
    for i in _pick(rng, len(sents), level):
        sents[i] = f"{rng.choice(GENERIC_OPENERS)} {_lower_first(sents[i])}"
    for _ in range(level):
        sents.insert(rng.randrange(len(sents) + 1), rng.choice(GENERIC_SENTENCES))
    return _join(sents)


def cliche(text: str, level: int, rng: random.Random) -> str:
    sents = sentences(text)
    for i in _pick(rng, len(sents), level):
        phrase = rng.choice(CLICHES)
        if rng.random() < 0.5:
            sents[i] = f"{_upper_first(phrase)}, {_lower_first(sents[i])}"
        else:
            sents[i] = re.sub(r"([.!?]+[\"'”’)]*)$", rf", {phrase}\1", sents[i], count=1)
    return _join(sents)


def repetition(text: str, level: int, rng: random.Random) -> str:
    sents = sentences(text)
    for _ in range(level):
        i = rng.randrange(len(sents))
        words = sents[i].rstrip(".!?").split(" ")
        if rng.random() < 0.5 or len(words) < 6:
            sents.insert(i + 1, sents[i])  # a whole sentence said twice
        else:
            clause = " ".join(words[: max(3, len(words) // 2)])
            sents.insert(i + 1, f"{_upper_first(clause)}.")  # its first half echoed
    return _join(sents)


def shuffle(text: str, level: int, rng: random.Random) -> str:
    sents = sentences(text)
    if len(sents) < 2:
        return text
    order = list(range(len(sents)))
    swaps = max(1, round(len(sents) * 0.34 * level))
    for _ in range(swaps):
        a, b = rng.sample(order, 2)
        order[a], order[b] = order[b], order[a]
    if order == sorted(order):  # swaps cancelled out: reverse instead
        order.reverse()
    return _join([sents[i] for i in order])


def transitions(text: str, level: int, rng: random.Random) -> str:
    """Drop connectives (level 1: half, 2: all) and at level 3 glue sentences with a flat "And then"."""
    keep = {1: 0.5, 2: 0.0, 3: 0.0}[level]

    def drop(m: re.Match) -> str:
        return m.group(0) if rng.random() < keep else ""

    sents = [_upper_first(_TRANSITION.sub(drop, s).strip()) for s in sentences(text)]
    if level == 3:
        sents = [sents[0], *(f"And then {_lower_first(s)}" for s in sents[1:])]
    return _join(s for s in sents if s)


DEGRADATIONS: dict[str, Callable[[str, int, random.Random], str]] = {
    "verbosity": verbosity,
    "generic": generic,
    "cliche": cliche,
    "repetition": repetition,
    "shuffle": shuffle,
    "transitions": transitions,
}


def degrade(text: str, kind: str, level: int, seed: int = 0) -> str:
    """A degraded copy of ``text`` (deterministic in (text, kind, level, seed))."""
    if kind not in DEGRADATIONS:
        raise ValueError(f"unknown degradation {kind!r}; known: {', '.join(DEGRADATIONS)}")
    rng = random.Random(f"{seed}|{kind}|{level}|{text[:64]}")
    return DEGRADATIONS[kind](text, level, rng)


# ---------------------------------------------------------------- passages


def passages(
    books: dict[str, dict[str, list[str]]],
    n: int,
    seed: int = 0,
    min_words: int = 60,
    max_words: int = 150,
    min_sentences: int = 3,
) -> list[Passage]:
    """Up to ``n`` passages of whole consecutive paragraphs ({corpus: {title: paragraphs}}).

    Paragraphs are joined until the passage has ``min_words`` words and ``min_sentences``
    sentences (Reuters paragraphs are one or two sentences); longer runs are dropped.
    """
    rng = random.Random(seed)
    found: list[Passage] = []
    for corpus, titles in books.items():
        for title, paras in titles.items():
            i = 1
            while i < len(paras):
                j, words = i, 0
                while j < len(paras) and (words < min_words or len(sentences(" ".join(paras[i:j]))) < min_sentences):
                    words += len(paras[j].split())
                    j += 1
                text = " ".join(paras[i:j])
                if min_words <= words <= max_words and not text.isupper() and '"' not in text[:1]:
                    found.append(Passage(corpus, title, text, "\n\n".join(paras[max(0, i - 3) : i]) + "\n\n"))
                i = j + rng.randrange(3, 12)  # gaps, so passages from one book are not neighbours
    rng.shuffle(found)
    return found[:n]


# Held-out texts: no WQRM training run sees these authors' or books' passages.
TEST_CORPORA = ("moby_dick",)  # a whole author (Melville)
TEST_TITLES = ("Persuasion",)  # and one Austen book


def split_passages(n_train: int, n_test: int, seed: int = 0) -> tuple[list[Passage], list[Passage]]:
    """(train, test) passages; test = Moby Dick + Persuasion, train = the other Austen books + Reuters."""
    from training.data.corpora import load_corpus

    books = {name: load_corpus(name) for name in ("austen", "moby_dick", "reuters")}
    test_books = {c: {t: p for t, p in b.items() if c in TEST_CORPORA or t in TEST_TITLES} for c, b in books.items()}
    train_books = {c: {t: p for t, p in b.items() if t not in test_books[c]} for c, b in books.items()}
    return passages(train_books, n_train, seed), passages(test_books, n_test, seed + 1)
