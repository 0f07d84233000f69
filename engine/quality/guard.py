"""The meaning guard: does a rewrite say what its source said?

    guard = MeaningGuard()                       # MiniLM from the style memory's encoder
    verdict = guard.check("She refused to leave.", "She did not refuse to leave.")
    verdict.ok, verdict.reasons                  # False, ("a negation was added or removed: ...",)

Four checks, each cheap and explainable (the reasons are shown to the user):

- **negation**: every clause gets a polarity (the parity of the negation cues in it, scope cut at
  "except"/"but" so "nothing ... except a pencil" keeps the pencil affirmative). A content word that
  the source and the candidate share must sit in a clause of the same polarity. "refused to leave"
  (one cue: a negative verb) vs "did not refuse to leave" (two cues) flips "leave". MiniLM barely
  sees negation (cosine 0.9+ for a flipped sentence), hence a rule and not an embedding.
- **numbers and dates**: digits, number words, ordinals, months and weekdays must match as multisets.
- **names**: capitalized words inside a sentence (not after a sentence end) must survive, and the
  candidate may not bring a capitalized word the source does not hold.
- **content**: MiniLM cosine to the source, content-word coverage of the whole text, and per clause
  (a clause of >= 3 content words none of which survive was dropped).

A candidate that fails any check is demoted (best-of-n shows it after every passing one, with the
reasons), never silently dropped. English rules; the negation lexicon also holds the Russian cues, and
the embedding check is skipped for Cyrillic text (MiniLM is English-only).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

# ---------------------------------------------------------------- lexicons

# Words that negate their clause. "refuse", "fail", "deny", "lack" are negative verbs: "refused to
# leave" = "did not leave"; counted so that "did not refuse" (two cues) reads as affirmative.
_NEGATION_WORDS = {
    "not", "no", "never", "nothing", "nobody", "none", "nowhere", "neither", "nor", "cannot", "without",
    "hardly", "scarcely", "barely", "nought", "naught", "unable", "unaware", "unknown", "unseen",
    "refuse", "refuses", "refused", "refusing", "fail", "fails", "failed", "failing",
    "deny", "denies", "denied", "denying", "lack", "lacks", "lacked", "lacking", "absent",
    # Russian
    "не", "ни", "нет", "без", "никогда", "ничего", "ничто", "никто", "никого", "нигде", "никуда", "нельзя",
}
# Idioms holding a negation word that do not negate: "not only X but also Y", "no doubt", "no longer"
# does negate (kept), "nothing but" = "only" (handled as an exception marker below).
_NOT_NEGATIONS = re.compile(r"\b(?:not only|no doubt|no sooner|not least|none the less|nonetheless)\b", re.I)
# After these, the rest of the clause is outside the negation's scope: "nothing except two keys".
_SCOPE_BREAKS = {"except", "but", "save", "besides", "apart", "other", "only"}
# "unanswered", "unnoticed", "unhappy": a prefix negation. Not "under…", "united", "universal"…
_UN_WORD = re.compile(r"^un(?!der|it|iv|ion|less|til)[a-z]{3,}(?:ed|able|ible|ful|ing)$")

# Clause boundaries for the polarity check: subordinators, "but", and a comma or semicolon before a
# conjunction. A bare comma is not one ("For a long while, she left it unanswered" is one clause),
# nor a bare "and" ("Elinor and Marianne had not seen him").
_CLAUSE_SPLIT = re.compile(
    r"[;:()\u2014\u2013]|\s-\s|--|,\s*(?:and|or|yet|so|и|а|или)\b|"
    r"\b(?:but|because|although|though|(?<!a )(?<!long )while|whereas|when|whenever|which|who|whom|whose|"
    r"if|unless|until|since|that|where|но|потому|хотя|когда|который|которая|которое|которые|если|что|чтобы)\b",
    re.I,
)
# Finer boundaries for the dropped-clause check: every comma too.
_PHRASE_SPLIT = re.compile(_CLAUSE_SPLIT.pattern + r"|,", re.I)
_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])[\"'»”’)\]]*\s+")
_WORD = re.compile(r"[A-Za-zÀ-ÿ\u0400-\u04FF]+(?:'[A-Za-z]+)?|\d[\d,.]*\d|\d")

STOPWORDS = frozenset(
    """a an the and or but if of to in on at by for with from into onto upon over under about as is are was were
    be been being am do does did done doing have has had having will would shall should can could may might must
    i me my mine we us our ours you your yours he him his she her hers it its they them their theirs this that
    these those there here then than so such very too also just only even still yet again ever all any some
    each every both either much many more most less least other another what which who whom whose when where
    why how not no nor never nothing none nobody up down out off own same s t one ones thing things
    would've could've i'm it's he's she's that's there's let let's quite rather really""".split()
)

_NUMBER_WORDS = {
    "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16,
    "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "hundred": 100, "thousand": 1000,
    "million": 10**6, "billion": 10**9, "dozen": 12, "score": 20, "twice": 2, "thrice": 3,
    "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8, "ninth": 9,
    "tenth": 10, "twentieth": 20, "hundredth": 100, "half": 0.5, "quarter": 0.25,
    "pct": 0.01, "percent": 0.01,
}
# "one" is left out: "no one", "one of them", "one must" and "a"/"one" swaps are not number changes.
_MONTHS = (
    "january february march april may june july august september october november december "
    "monday tuesday wednesday thursday friday saturday sunday"
).split()
_UNITS = {
    "second", "minut", "hour", "day", "night", "week", "month", "year", "decad", "century", "centurie",
    "mile", "yard", "feet", "foot", "inch", "metr", "meter", "kilometr", "pound", "shilling", "guinea",
    "dollar", "cent", "dlr", "dlrs", "ton", "tonn", "barrel", "share", "percent", "pct", "time", "gallon",
}
_TITLES = {"mr", "mrs", "miss", "ms", "dr", "sir", "lady", "lord", "st", "captain", "colonel", "i"}


# ---------------------------------------------------------------- text helpers


def words(text: str) -> list[str]:
    return _WORD.findall(text.replace("’", "'"))


def stem(word: str) -> str:
    """A crude stem so that "refused"/"refuse", "stopped"/"stops" and "days"/"day" meet."""
    w = word.lower()
    if w.endswith("n't"):
        return "not"
    w = re.sub(r"'s$", "", w)
    for suffix in ("ingly", "edly", "ings", "ing", "ied", "ies", "ed", "es", "ly", "s", "e"):
        if len(w) - len(suffix) >= 3 and w.endswith(suffix):
            w = w[: -len(suffix)]
            break
    if len(w) >= 4 and w[-1] == w[-2] and w[-1] not in "aeiou":  # stopp -> stop
        w = w[:-1]
    return w


def content_stems(text: str) -> list[str]:
    return [stem(w) for w in words(text) if w.lower() not in STOPWORDS and len(w) >= 3 and not w[0].isdigit()]


def is_negation(word: str) -> bool:
    w = word.lower()
    return w in _NEGATION_WORDS or w.endswith("n't") or bool(_UN_WORD.match(w))


def clauses(text: str, fine: bool = False) -> list[str]:
    """Clauses of ``text``; ``fine`` also cuts at every comma (phrases, for the dropped-clause check)."""
    splitter = _PHRASE_SPLIT if fine else _CLAUSE_SPLIT
    out = []
    for sentence in _SENTENCE_SPLIT.split(text):
        # A fronted subordinate clause ends at its comma: "Because nobody was home, the guests left".
        sentence = _FRONTED.sub(r"\1;", sentence)
        out.extend(c.strip() for c in splitter.split(sentence) if c and c.strip())
    return out


_FRONTED = re.compile(
    r"^(\W*(?:because|although|though|if|unless|when|whenever|since|while|until|after|before|as|"
    r"потому что|хотя|если|когда|пока)\b[^,;]*),",
    re.I,
)


def clause_polarities(text: str) -> list[tuple[int, list[str], bool]]:
    """[(negated 0/1, content stems, exceptive)] per clause: the parity of its negation cues.

    An exceptive clause ("nothing in it except a pencil", "it held only a pencil") says the same
    thing either way round: the words before the exception are ambiguous (exceptive=True, not
    compared), the words after it are affirmed (a clause of their own).
    """
    text = _NOT_NEGATIONS.sub(" ", text)
    out = []
    for clause in clauses(text):
        cues = 0
        neither = False
        exceptive = False
        in_scope: list[str] = []
        after: list[str] = []
        for w in words(clause):
            low = w.lower()
            if low in _SCOPE_BREAKS and (cues or low == "only"):
                exceptive = True
                continue
            target = after if exceptive else in_scope
            if is_negation(w):
                if low == "nor" and neither:  # "neither … nor": one negation, not two
                    continue
                neither = neither or low == "neither"
                cues += 1
                # The negative verb itself is content too ("refused" -> "refus"), so that
                # "refused" vs "did not refuse" compare through a shared word.
                if low in _NEGATION_WORDS and len(low) > 5 and low.isascii():
                    target.append(stem(low))
                continue
            if low in STOPWORDS or len(low) < 3 or low[0].isdigit():
                continue
            target.append(stem(low))
        out.append((cues % 2, in_scope, exceptive))
        if after:
            out.append((0, after, False))
    return out


def _polarity_of_stems(text: str) -> dict[str, set[int]]:
    seen: dict[str, set[int]] = {}
    for negated, stems, exceptive in clause_polarities(text):
        for s in stems:
            seen.setdefault(s, set()).update((0, 1) if exceptive else (negated,))
    return seen


def negation_count(text: str) -> int:
    """Negated clauses, exceptive ones left out (their polarity is a matter of wording)."""
    return sum(neg for neg, _, exceptive in clause_polarities(text) if not exceptive)


def number_facts(text: str) -> Counter:
    """Digits (as values), number words, ordinals, months, weekdays, and the unit after a number
    ("three days" vs "three weeks"), as a multiset."""
    facts: Counter = Counter()
    tokens = words(text)
    for i, w in enumerate(tokens):
        low = w.lower().replace("'s", "")
        if low[0].isdigit() or any(p in _NUMBER_WORDS for p in low.split("-")):
            for nxt in tokens[i + 1 : i + 3]:  # "three whole days": the unit within two words
                if stem(nxt) in _UNITS:
                    facts[stem(nxt)] += 1
                    break
        if low[0].isdigit():
            try:
                facts[float(low.replace(",", ""))] += 1
            except ValueError:
                facts[low] += 1
            continue
        for part in low.split("-"):
            part = part[:-1] if part.endswith("s") and part[:-1] in _NUMBER_WORDS else part  # "millions"
            if part in _NUMBER_WORDS:
                facts[float(_NUMBER_WORDS[part])] += 1
            elif part in _MONTHS and not (part == "may" and w[0].islower()) and not (
                part == "march" and w[0].islower()
            ):
                facts[part] += 1
    return facts


def names(text: str) -> tuple[set[str], set[str]]:
    """(capitalized words inside sentences, every capitalized word): names and places, roughly."""
    inside, every = set(), set()
    for sentence in _SENTENCE_SPLIT.split(text):
        tokens = re.findall(r"[\"“(‘']?[A-Za-zÀ-ÿ\u0400-\u04FF][\w'’-]*", sentence)
        for i, token in enumerate(tokens):
            bare = token.lstrip("\"“(‘'")
            if not bare[:1].isupper() or bare.lower().rstrip(".") in _TITLES or bare.lower() in _MONTHS:
                continue
            every.add(bare)
            if i > 0 and bare == token:  # not sentence-initial and not after an opening quote
                inside.add(bare)
    return inside, every


# ---------------------------------------------------------------- the guard


class Encoder(Protocol):
    def encode(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Unit vectors [len(texts), dim]."""


@dataclass(frozen=True)
class GuardVerdict:
    """What the guard found in one candidate. ``reasons`` are sentences for the user."""

    ok: bool
    reasons: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()  # "negation", "number", "name", "content", "structure"
    similarity: float | None = None  # MiniLM cosine to the source (None: not English)
    coverage: float = 1.0  # share of the source's content words found in the candidate
    details: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class GuardThresholds:
    """Set by hand on the guard's unit tests and the dev split of training/data/meaning_guard (never the test split)."""

    # MiniLM cosine source -> candidate. 0.80 flagged "She would not leave the house" for "She refused
    # to leave the house" (0.79, tests/engine/quality/test_meaning_guard.py): 0.75.
    min_similarity: float = 0.75
    min_coverage: float = 0.40  # share of source content stems present in the candidate
    clause_min_words: int = 3  # phrases with at least this many content words are checked one by one
    clause_min_kept: float = 0.5  # ... a phrase keeping fewer of its content words is a suspect
    clause_min_similarity: float = 0.5  # ... and a suspect this far (MiniLM) from the candidate is dropped
    structure: bool = True  # English: compare the parses (engine/quality/structure.py)


class MeaningGuard:
    def __init__(self, encoder: Encoder | None = None, thresholds: GuardThresholds | None = None) -> None:
        self._encoder = encoder
        self.thresholds = thresholds or GuardThresholds()
        self._structure: tuple[str, object] | None = None  # (source, StructureCheck): parsed once per source

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            from engine.persona.encoder import default_encoder

            self._encoder = default_encoder()
        return self._encoder

    def check(self, source: str, candidate: str) -> GuardVerdict:
        return self.check_many(source, [candidate])[0]

    def check_many(self, source: str, candidates: Sequence[str]) -> list[GuardVerdict]:
        """One verdict per candidate; the source and the candidates are embedded in one batch."""
        sims: list[float | None] = [None] * len(candidates)
        if candidates and not _is_cyrillic(source):
            vectors = self.encoder.encode([source, *candidates])
            sims = [float(v) for v in vectors[1:] @ vectors[0]]
        return [self._verdict(source, c, s) for c, s in zip(candidates, sims, strict=True)]

    def _verdict(self, source: str, candidate: str, similarity: float | None) -> GuardVerdict:
        found: list[tuple[str, str]] = []
        if not candidate.strip():
            return GuardVerdict(False, ("the rewrite is empty",), ("content",), similarity, 0.0)
        found += [("negation", r) for r in negation_changes(source, candidate)]
        found += [("number", r) for r in number_changes(source, candidate)]
        found += [("name", r) for r in name_changes(source, candidate)]
        if self.thresholds.structure and similarity is not None:  # English (the parser's language)
            found += [("structure", r) for r in self._structure_of(source).changes(candidate)]
        coverage = content_coverage(source, candidate)
        t = self.thresholds
        if similarity is not None and similarity < t.min_similarity:
            found.append(("content", f"it drifts from the original (similarity {similarity:.2f})"))
        if coverage < t.min_coverage:
            found.append(("content", f"it keeps only {coverage:.0%} of the original's content words"))
        for clause in self._dropped(source, candidate, similarity is not None):
            found.append(("content", f"a clause was dropped: “{clause.rstrip('.!?')}”"))
        kinds = tuple(dict.fromkeys(k for k, _ in found))
        return GuardVerdict(not found, tuple(r for _, r in found), kinds, similarity, coverage)


    def _structure_of(self, source: str):
        from engine.quality.structure import StructureCheck

        if self._structure is None or self._structure[0] != source:
            self._structure = (source, StructureCheck.of(source))
        return self._structure[1]

    def _dropped(self, source: str, candidate: str, embed: bool) -> list[str]:
        """Suspect phrases whose meaning the candidate does not hold (MiniLM cosine phrase -> candidate);
        without embeddings (Cyrillic), only phrases none of whose content words survive."""
        t = self.thresholds
        suspects = suspect_clauses(source, candidate, t.clause_min_words, t.clause_min_kept)
        if not suspects:
            return []
        if not embed:
            cand = set(content_stems(candidate))
            return [c for c in suspects if not set(content_stems(c)) & cand]
        vectors = self.encoder.encode([candidate, *suspects])
        sims = vectors[1:] @ vectors[0]
        return [c for c, sim in zip(suspects, sims, strict=True) if sim < t.clause_min_similarity]


def _is_cyrillic(text: str) -> bool:
    return len(re.findall(r"[\u0400-\u04FF]", text)) > len(re.findall(r"[A-Za-z]", text))


def negation_changes(source: str, candidate: str) -> list[str]:
    """Shared content words whose clause polarity flipped; else a changed count of negated clauses."""
    src, cand = _polarity_of_stems(source), _polarity_of_stems(candidate)
    flipped = [s for s in src if s in cand and len(src[s]) == 1 and len(cand[s]) == 1 and src[s] != cand[s]]
    if flipped:
        # Name a word the reader sees flipped ("leave"), not the negative verb itself ("refused").
        plain = [w for w in words(source) if stem(w) in flipped and not is_negation(w)]
        example = plain[0] if plain else next(w for w in words(source) if stem(w) in flipped)
        now = "negated" if cand[stem(example)] == {1} else "affirmed"
        return [f"a negation was added or removed: “{example}” is now {now}"]
    n_src, n_cand = negation_count(source), negation_count(candidate)
    if n_src != n_cand:
        return [f"the number of negated clauses changed ({n_src} → {n_cand})"]
    return []


def number_changes(source: str, candidate: str) -> list[str]:
    # Sets, not counts: "three months, full three months" may say its number once.
    src, cand = set(number_facts(source)), set(number_facts(candidate))
    if src == cand:
        return []
    lost, added = src - cand, cand - src
    parts = []
    if lost:
        parts.append("lost " + ", ".join(_fmt(k) for k in lost))
    if added:
        parts.append("added " + ", ".join(_fmt(k) for k in added))
    return [f"a number or date changed ({'; '.join(parts)})"]


def _fmt(fact) -> str:
    if isinstance(fact, float):
        return f"{fact:g}"
    return str(fact).capitalize()


def name_changes(source: str, candidate: str) -> list[str]:
    src_inside, src_every = names(source)
    cand_inside, cand_every = names(candidate)
    cand_words = {w.lower() for w in words(candidate)}
    src_words = {w.lower() for w in words(source)}
    lost = sorted(n for n in src_inside if _bare(n) not in cand_words and n.lower() not in cand_words)
    added = sorted(n for n in cand_inside if n.lower() not in src_words and _bare(n) not in src_words)
    out = []
    if lost:
        out.append(f"a name is missing: {', '.join(lost)}")
    if added:
        out.append(f"a name was brought in: {', '.join(added)}")
    return out


def _bare(name: str) -> str:
    return re.sub(r"['’]s$", "", name.lower())


def content_coverage(source: str, candidate: str) -> float:
    src = set(content_stems(source))
    if not src:
        return 1.0
    cand = set(content_stems(candidate))
    return len(src & cand) / len(src)


def suspect_clauses(source: str, candidate: str, min_words: int = 3, min_kept: float = 0.5) -> list[str]:
    """Phrases of the source (>= ``min_words`` content words) of which the candidate keeps under
    ``min_kept``: dropped, or reworded with synonyms (the embedding check tells which)."""
    cand = set(content_stems(candidate))
    out = []
    for clause in clauses(_NOT_NEGATIONS.sub(" ", source), fine=True):
        stems = set(content_stems(clause))
        if len(stems) >= min_words and len(stems & cand) / len(stems) < min_kept:
            out.append(clause)
    return out
