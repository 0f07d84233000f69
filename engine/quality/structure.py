"""Who does what to whom: the meaning guard's checks on spaCy's parse (English).

Word rules and one MiniLM cosine missed every break that keeps the source's words (docs/quality.md):
"the key" → "the keys", "the guests" → "their guests", "Tom refused to sign" → "Tom was refused",
"for ten years" → "ten years ago", "knew who had sent it" → "knew it had been sent". Each is a change
in the parse, so each check compares one feature of the two parses:

- **number** of a noun both hold (singular ↔ plural);
- **determiner or possessor** of a noun both hold (the ↔ their, his ↔ her, the ↔ a);
- **roles**: for a verb both hold, a word that was its doer is now its undergoer or the reverse
  (passives read through: the passive subject is the undergoer, the "by" phrase the doer), or the doer
  is gone with nothing standing for it;
- **phrases**: a prepositional phrase of the source (a place, a destination, an addressee) whose noun
  the take does not hold;
- **time**: a time phrase's relation ("for", "since", "ago", "until", …) changed;
- **names**: a person, place or organization not written exactly as in the source.

About 20 ms per parse on this CPU; the source is parsed once per request (``StructureCheck.of``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

_DOER, _UNDERGOER = "doer", "undergoer"
_TIME_MARKERS = {"for", "since", "until", "till", "before", "after", "ago", "during", "within", "by", "in", "on", "at"}
_TIME_UNITS = {
    "second", "minute", "hour", "day", "night", "week", "month", "year", "decade", "century", "morning",
    "evening", "afternoon", "o'clock", "p.m.", "a.m.", "spring", "summer", "autumn", "winter", "fall",
}
_SUBORDINATORS = {"because", "although", "though", "if", "unless", "when", "while", "since", "until", "before", "after"}
_DEFINITE = {"the", "this", "that", "these", "those"}
_INDEFINITE = {"a", "an", "some", "any"}
_NAME_LABELS = {"PERSON", "ORG", "GPE", "LOC", "NORP", "FAC", "WORK_OF_ART", "EVENT", "PRODUCT"}
_TITLES = {"mr", "mrs", "miss", "ms", "dr", "sir", "lady", "lord", "st", "captain", "colonel", "the"}
# Stand-ins that may take a doer's place: "nobody" is not a doer the take must keep by name.
_VAGUE = {"it", "there", "one", "someone", "somebody", "something", "they"}
# Personal and reflexive pronouns (spaCy's lemmas): "indulge herself" → "indulge her" is someone else.
_PERSONS = {
    "i", "you", "he", "she", "it", "we", "they", "myself", "yourself", "himself", "herself", "itself",
    "ourselves", "yourselves", "themselves",
}


@dataclass
class Parse:
    """The features of one text that the checks compare."""

    numbers: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # noun -> {"Sing", "Plur"}
    forms: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # noun -> its words
    determiners: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # noun -> classes
    roles: dict[str, dict[str, set[str]]] = field(default_factory=dict)  # verb -> {"doer": .., "undergoer": ..}
    phrases: list[tuple[frozenset, str]] = field(default_factory=list)  # (content lemmas, the phrase's words)
    times: set[tuple[str, str]] = field(default_factory=set)  # (relation, unit)
    names: list[str] = field(default_factory=list)
    lemmas: set[str] = field(default_factory=set)
    words: set[str] = field(default_factory=set)


def parse(doc) -> Parse:
    p = Parse()
    for t in doc:
        p.lemmas.add(t.lemma_.lower())
        p.words.add(t.text.lower())
        if t.pos_ == "NOUN":
            lemma = t.lemma_.lower()
            p.numbers[lemma].update(t.morph.get("Number"))
            p.forms[lemma].add(t.text.lower())
            p.determiners[lemma].add(_determiner(t))
        if t.pos_ in ("VERB", "AUX") and t.dep_ != "aux" and t.dep_ != "auxpass":
            _add_roles(p, t)
        if t.dep_ in ("prep", "dative", "agent"):
            objects = [c for c in t.children if c.dep_ == "pobj" and c.pos_ in ("NOUN", "PROPN")]
            for obj in objects:
                content = {w.lemma_.lower() for w in t.subtree if w.pos_ in ("NOUN", "PROPN", "ADJ", "NUM")}
                p.phrases.append((frozenset(content), " ".join(w.text for w in t.subtree)))
                if obj.lemma_.lower() in _TIME_UNITS or obj.ent_type_ in ("DATE", "TIME"):
                    p.times.add((t.lemma_.lower(), obj.lemma_.lower()))
        if t.lower_ == "ago":
            for unit in t.subtree:
                if unit.lemma_.lower() in _TIME_UNITS:
                    p.times.add(("ago", unit.lemma_.lower()))
            for unit in t.head.subtree if t.head.lemma_.lower() in _TIME_UNITS else ():
                p.times.add(("ago", unit.lemma_.lower()))
    for ent in doc.ents:
        if ent.label_ in _NAME_LABELS:
            p.names.append(ent.text)
    return p


_PRONOUN_POSSESSORS = {"my", "your", "his", "her", "its", "our", "their", "whose", "mine", "yours"}


def _determiner(noun) -> str:
    for c in noun.children:
        if c.dep_ == "poss":
            # "the play's first act" = "the first act of the play": a noun possessor makes it definite;
            # a pronoun says whose ("the guests" → "their guests" is another reading).
            w = c.lower_.replace("’", "'")
            return "poss:" + w if w in _PRONOUN_POSSESSORS else "def"
        if c.dep_ == "det":
            w = c.lower_
            return "def" if w in _DEFINITE else "indef" if w in _INDEFINITE else "det:" + w
    return "none"


def _add_roles(p: Parse, verb) -> None:
    # Keyed by the verb and its subordinator: "She was Rachel … because they were not" has two "be".
    marks = [c.lower_ for c in verb.children if c.dep_ == "mark" and c.lower_ in _SUBORDINATORS]
    key = verb.lemma_.lower() + (f" ({marks[0]})" if marks else "")
    roles = p.roles.setdefault(key, {_DOER: set(), _UNDERGOER: set()})
    for c in verb.children:
        lemma = c.lemma_.lower()
        if c.dep_ == "nsubj":
            roles[_DOER].add(lemma)
        elif c.dep_ in ("dobj", "nsubjpass"):
            roles[_UNDERGOER].add(lemma)
        elif c.dep_ == "agent":
            roles[_DOER].update(g.lemma_.lower() for g in c.children if g.dep_ == "pobj")


@dataclass(frozen=True)
class StructureCheck:
    """The source's parse, kept for the takes of one request."""

    source: Parse

    @classmethod
    def of(cls, source: str) -> StructureCheck:
        from engine.quality.metrics_nlp import spacy_pipeline

        return cls(parse(spacy_pipeline()(source)))

    def changes(self, candidate: str) -> list[str]:
        from engine.quality.metrics_nlp import spacy_pipeline

        return structure_changes(self.source, parse(spacy_pipeline()(candidate)))


def structure_changes(src: Parse, cand: Parse) -> list[str]:
    """Reasons, for the user, why the candidate's parse says something else than the source's."""
    out = []
    out += _number_changes(src, cand)
    out += _determiner_changes(src, cand)
    out += _role_changes(src, cand)
    out += _dropped_phrases(src, cand)
    out += _time_changes(src, cand)
    out += _name_changes(src, cand)
    out += _link_changes(src, cand)
    return out


# How two clauses hang together: "because" → "but" turns a cause into a contrast. A link is lost when
# the source says it with an unambiguous word and the take with none of the words that can say it
# ("since", "as", "so" can say a cause, "yet", "while", "still" a contrast).
_LINKS = {
    "a cause": ({"because", "therefore", "thus", "hence", "consequently"}, {"since", "as", "so", "for"}),
    "a contrast": ({"but", "although", "though", "however", "whereas", "nevertheless"}, {"yet", "while", "still"}),
    "a condition": ({"if", "unless"}, {"provided", "providing", "whether"}),
}


def _link_changes(src: Parse, cand: Parse) -> list[str]:
    """A link the source says is gone and another kind stands in its place ("because" → "but"). A link
    dropped by a restructuring ("Running late, he …" for "… because he was late") is not flagged."""
    out = []
    brought = [k for k, (markers, _) in _LINKS.items() if cand.words & markers and not src.words & markers]
    for link, (markers, also) in _LINKS.items():
        lost = sorted(src.words & markers)
        if lost and not cand.words & (markers | also) and brought:
            out.append(f"the link between the clauses changed: “{lost[0]}” ({link}) became {brought[0]}")
    return out


def _number_changes(src: Parse, cand: Parse) -> list[str]:
    out = []
    for noun, numbers in src.numbers.items():
        other = cand.numbers.get(noun)
        if numbers and other and not numbers & other:
            out.append(f"a noun's number changed: “{min(src.forms[noun])}” → “{min(cand.forms[noun])}”")
    return out


def _determiner_changes(src: Parse, cand: Parse) -> list[str]:
    out = []
    for noun, kinds in src.determiners.items():
        other = cand.determiners.get(noun)
        if not other or kinds & other:
            continue
        before, after = _say(min(kinds)), _say(min(other))
        if before == after:  # "det:every" vs "det:each": another word, the same reading
            continue
        out.append(f"whose or which “{min(src.forms[noun])}” changed: {before} → {after}")
    return out


def _say(kind: str) -> str:
    if kind.startswith("poss:"):
        return f"“{kind[5:]}”"
    return {"def": "“the”", "indef": "“a”", "none": "no determiner"}.get(kind, f"“{kind[4:]}”")


def _role_changes(src: Parse, cand: Parse) -> list[str]:
    out = []
    for verb, roles in src.roles.items():
        other = cand.roles.get(verb)
        if other is None:
            continue
        swapped = (roles[_DOER] & other[_UNDERGOER]) | (roles[_UNDERGOER] & other[_DOER])
        swapped -= _VAGUE
        if swapped:
            out.append(f"who does what changed: “{min(swapped)}” has another role in “{verb}”")
            continue
        doers = roles[_DOER] - _VAGUE
        if doers and not other[_DOER] and not doers & (cand.lemmas | cand.words):
            out.append(f"who does what changed: the doer of “{verb}” is gone")
            continue
        for role in (_DOER, _UNDERGOER):  # "because they were not" → "because she was not"
            before, after = roles[role] & _PERSONS, other[role] & _PERSONS
            if before and after and not before & after:
                out.append(f"who does what changed: “{min(before)}” → “{min(after)}” in “{verb}”")
                break
    return out


def _dropped_phrases(src: Parse, cand: Parse) -> list[str]:
    """A phrase none of whose content words the take holds ("for a long time" → "for a long while" keeps
    "long": reworded, not dropped)."""
    return [
        f"a phrase was dropped: “{text}”"
        for content, text in src.phrases
        if not content & (cand.lemmas | cand.words)
    ]


def _time_changes(src: Parse, cand: Parse) -> list[str]:
    out = []
    for relation, unit in sorted(src.times):
        if (relation, unit) in cand.times:
            continue
        now = sorted(r for r, u in cand.times if u == unit)
        if now:
            out.append(f"a time relation changed: “{relation} … {unit}” → “{now[0]} … {unit}”")
    return out


def _name_changes(src: Parse, cand: Parse) -> list[str]:
    out = []
    for name in dict.fromkeys(src.names):
        parts = [w for w in name.replace("’", "'").split() if w.lower().rstrip(".") not in _TITLES]
        kept = [w.removesuffix("'s") for w in parts]
        if kept and not all(w.lower() in cand.words for w in kept):
            out.append(f"a name is not written as in the original: “{name}”")
    return out
