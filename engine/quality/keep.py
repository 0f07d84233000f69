"""What a rewrite must keep of its source, and the copy rule that makes the sampler keep it.

    keep = Keep.of("Anna has not seen the 3 letters since May.")
    keep.missing(" Anna")            # ['3', 'May', 'a negation']: the take may not end yet
    rule = copy_rule(source, source_ids, VocabClasses(vocab_strings), end_ids)  # engine.sampling.CopyRule

The facts are the meaning guard's own (engine/quality/guard.py): names inside sentences, numbers and
dates as ``number_facts`` reads them, and the count of negation cues. What the sampler forbids is read
off each token's string once per vocabulary (``VocabClasses``): digits, number words, months and
weekdays, negators, and capitalized word starts (names). English and Russian alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from difflib import SequenceMatcher

from engine.quality.guard import (
    _MONTHS,
    _NEGATION_WORDS,
    _NOT_NEGATIONS,
    _NUMBER_WORDS,
    _bare,
    is_negation,
    names,
    number_facts,
    words,
)
from engine.sampling import CopyRule

# The nudge toward the source's next token, in nats. Chosen on 8 sentences written for the purpose, not
# corpus units (docs/quality.md, "Copy-aware decoding"): without the forced break 1.5 copies verbatim.
DEFAULT_COPY_BIAS = 1.5
# A copied run of this many source tokens must be broken by a change (names, numbers excepted).
DEFAULT_MAX_COPY_RUN = 5

_RU_NUMBER_WORDS = {
    "два", "две", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять", "десять", "двадцать",
    "тридцать", "сорок", "пятьдесят", "сто", "тысяча", "тысячи", "тысяч", "миллион", "миллиона", "половина",
    "дважды", "трижды", "второй", "третий", "пятый", "десятый",
}
# Word starts that negate: the whole negators, and the halves of a contraction ("didn" + "'t").
_NEGATORS = {
    "not", "no", "never", "nothing", "nobody", "none", "nowhere", "neither", "nor", "cannot", "without",
    "didn", "don", "doesn", "isn", "wasn", "weren", "aren", "couldn", "wouldn", "shouldn", "hasn", "haven",
    "hadn", "mustn", "needn", "ain",
    "не", "ни", "нет", "никогда", "ничего", "ничто", "никто", "никого", "нигде", "никуда", "нельзя", "без",
}
_CONTRACTION_TAIL = re.compile(r"^(?:n?['’]t|n['’]t)$")
_DIGITS = re.compile(r"\d")
_PRONOUN_I = re.compile(r"^I(?:['’]\w*)?$")  # "I", "I'm", "I've": not a name
_SENTENCE_END = re.compile(r"[.!?…]+[\"'»”’)\]]*(?=\s|$)")
_ENDS_SENTENCE = re.compile(r"[.!?…]+[\"'»”’)\]]*$")
_PUNCT_END = re.compile(r"^[^\w\s]*[.!?…][^\w\s]*$")


def sentence_ends(text: str) -> int:
    """Sentence-ending punctuation marks in ``text`` (an abbreviation counts too: alike in source and take)."""
    return len(_SENTENCE_END.findall(text.strip()))


def negation_cues(text: str) -> int:
    """Negation cues in ``text`` ("not only", "no doubt" are not cues)."""
    return sum(is_negation(w) for w in words(_NOT_NEGATIONS.sub(" ", text)))


@dataclass(frozen=True)
class Keep:
    """The facts of a source that a rewrite must hold before it may end."""

    names: frozenset[str]  # lower-case names written inside a sentence
    facts: frozenset  # number_facts keys: values, months, weekdays, units after a number
    negations: int
    sentences: int = 1

    @classmethod
    def of(cls, source: str) -> Keep:
        inside, _ = names(source)
        return cls(frozenset(_bare(n) for n in inside), frozenset(number_facts(source)), negation_cues(source), max(1, sentence_ends(source)))

    def finished(self, text: str) -> bool:
        """The take has as many sentences as the source and stands at the end of one."""
        return sentence_ends(text) >= self.sentences and bool(_ENDS_SENTENCE.search(text.rstrip()))

    def missing(self, text: str) -> list[str]:
        """What ``text`` does not yet hold, as short labels (empty: everything is there)."""
        have = {_bare(w) for w in words(text)}
        out = sorted(n for n in self.names if n not in have)
        facts = set(number_facts(text))
        out += sorted(_label(f) for f in self.facts if f not in facts)
        if negation_cues(text) < self.negations:
            out.append("a negation")
        return out

    def negations_left(self, text: str) -> int:
        return self.negations - negation_cues(text)


def _label(fact) -> str:
    return f"{fact:g}" if isinstance(fact, float) else str(fact)


class VocabClasses:
    """Token ids by what they could bring into a take, read once per vocabulary.

    ``strings`` are the tokens' texts with a leading space for a word start (engine.generation.VocabIndex).
    """

    def __init__(self, strings: list[str]) -> None:
        self.strings = strings
        self.digits: dict[int, frozenset[str]] = {}
        self.number_words: dict[int, str] = {}
        self.months: dict[int, str] = {}
        self.negators: set[int] = set()
        self.capitals: dict[int, str] = {}  # token -> its string, for tokens that start with a capital
        self.sentence_ends: set[int] = set()
        number_words = set(_NUMBER_WORDS) | _RU_NUMBER_WORDS
        for i, s in enumerate(strings):
            if not s:
                continue
            bare = s.strip()
            if _PUNCT_END.match(bare):
                self.sentence_ends.add(i)
            if _DIGITS.search(s):
                self.digits[i] = frozenset(_DIGITS.findall(s))
                continue
            if _CONTRACTION_TAIL.match(bare):
                self.negators.add(i)
                continue
            if bare[:1].isupper() and not _PRONOUN_I.match(bare) and any(c.isalpha() for c in bare):
                self.capitals[i] = s  # a name's start, or its middle piece ("Mc" + "Donald")
            if not s.startswith(" ") or not bare.isalpha():
                continue
            low = bare.lower()
            if low in number_words:
                self.number_words[i] = low
            if low in _NEGATORS or (low in _NEGATION_WORDS and len(low) > 3):
                self.negators.add(i)
            if bare[0].isupper() and low in _MONTHS:
                self.months[i] = low


def copy_rule(
    source: str,
    source_ids: list[int],
    vocab: VocabClasses,
    end_ids: set[int],
    copy_bias: float = DEFAULT_COPY_BIAS,
    max_copy_run: int = DEFAULT_MAX_COPY_RUN,
) -> CopyRule:
    """The CopyRule for rewriting ``source`` (``source_ids``: its tokens as they would appear in a take)."""
    keep = Keep.of(source)
    source_words = {w.lower() for w in words(source)}
    source_digits = set(_DIGITS.findall(source))
    values = {f for f in keep.facts if isinstance(f, float)}
    forbidden = {i for i, d in vocab.digits.items() if not d <= source_digits}
    forbidden |= {
        i
        for i, w in vocab.number_words.items()
        if w not in source_words and float(_NUMBER_WORDS.get(w, -1)) not in values
    }
    forbidden |= {i for i, m in vocab.months.items() if m not in source_words}
    capitalized = [" " + w for w in re.findall(r"[^\W\d_][\w'’-]*", source) if w[0].isupper()]
    # A capitalized piece may come in only as (part of) a capitalized word of the source.
    name_ids = {i for i, s in vocab.capitals.items() if not any(s in w for w in capitalized)}
    return CopyRule(
        source_ids=tuple(source_ids),
        missing=keep.missing,
        end_ids=frozenset(end_ids),
        forbidden_ids=frozenset(forbidden),
        name_ids=frozenset(name_ids),
        negator_ids=frozenset(vocab.negators),
        negations_left=keep.negations_left,
        sentence_end_ids=frozenset(vocab.sentence_ends),
        finished=keep.finished,
        copy_bias=copy_bias,
        hold_limit=int(1.3 * len(source_ids)) + 4,
        max_copy_run=max_copy_run,
        free_ids=frozenset(free_tokens(source_ids, vocab)),
    )


def free_tokens(source_ids: list[int], vocab: VocabClasses) -> set[int]:
    """The source's tokens a take may always copy: names (a capitalized word and its pieces), numbers,
    negators and punctuation. A rewrite changes the other words, never these."""
    free, in_name = set(), False
    for t in source_ids:
        s = vocab.strings[t] if t < len(vocab.strings) else ""
        word_start = s.startswith(" ") or not s[:1].isalnum()
        in_name = (t in vocab.capitals) or (in_name and not word_start)
        if in_name or t in vocab.digits or t in vocab.negators or not any(c.isalnum() for c in s):
            free.add(t)
    return free


def words_changed(source: str, take: str) -> float:
    """Share of the source's words that the take does not keep in order (0: a copy, 1: all new).
    A rephrase that changes under ~15 % is a copy to the reader."""
    src = [w.lower() for w in words(source)]
    if not src:
        return 0.0
    kept = SequenceMatcher(None, src, [w.lower() for w in words(take)], autojunk=False)
    return 1.0 - sum(block.size for block in kept.get_matching_blocks()) / len(src)
