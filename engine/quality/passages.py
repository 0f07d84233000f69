"""Rephrase of a passage, sentence by sentence, so that no sentence is lost.

A 270M rewriter given two sentences at once rewrote one and dropped the other (docs/quality.md); each
sentence alone is a task it can do, and the guard can check each one against its own source.

    units = passage_units("It rained. We stayed in.\n\nThe end.")
    [(u.before, u.text, u.kept) for u in units]
    # [('', 'It rained.', False), (' ', 'We stayed in.', False), ('\n\n', 'The end.', True)]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from engine.quality.best_of_n import Candidate
from engine.quality.guard import GuardVerdict
from engine.quality.keep import words_changed
from engine.quality.selection_check import rewritable

# Whitespace after a sentence end (closing quotes and brackets stay with the sentence), or a line break.
_SEPARATOR = re.compile(r"(?:(?<=[.!?…])|(?<=[.!?…][\"'»”’)\]]))\s+|\s*\n\s*")
# A full stop after these is not a sentence end: "Mr. Darcy", "J. Smith", "e.g. this".
_ABBREVIATION = re.compile(r"(?:\b(?:Mr|Mrs|Ms|Dr|St|Sr|Jr|Prof|Capt|Col|Gen|Lt|vs|etc|No)|\b[A-Za-z])\.$")


@dataclass(frozen=True)
class Unit:
    before: str  # the whitespace between the previous unit and this one ('' for the first)
    text: str
    kept: bool  # too short to rephrase, or only names and numbers: copied as it is


def passage_units(text: str) -> list[Unit]:
    """The sentences of ``text`` with the whitespace between them, in order."""
    text = text.strip()
    units, start, before = [], 0, ""
    for match in _SEPARATOR.finditer(text):
        piece = text[start : match.start()]
        line_break = "\n" in match.group(0)
        if not piece or not line_break and (_ABBREVIATION.search(piece) or text[match.end()].islower()):
            continue  # "Mr. Darcy", "10 p.m. on Monday", "“Go!” he said"
        units.append(Unit(before, piece, not rewritable(piece)))
        start, before = match.end(), match.group(0)
    if start < len(text):
        units.append(Unit(before, text[start:], not rewritable(text[start:])))
    return units or [Unit("", text, False)]


def passage_candidates(source: str, units: Sequence[Unit], takes: Sequence[Sequence[Candidate]]) -> list[Candidate]:
    """The passage's takes: take k joins each sentence's k-th best (its best when it has fewer).
    A take passes the guard only if every sentence's does; the reasons say which sentence failed."""
    out = []
    for k in range(max(len(t) for t in takes)):
        chosen = [t[min(k, len(t) - 1)] for t in takes]
        text = "".join(u.before + c.text for u, c in zip(units, chosen, strict=True))
        out.append(
            Candidate(
                text,
                chosen[0].min_p,
                chosen[0].seed,
                sum(c.seconds for c in chosen),
                _joined_verdict(chosen),
                None,
                words_changed(source, text),
            )
        )
    return out


def _joined_verdict(chosen: Sequence[Candidate]) -> GuardVerdict:
    reasons, kinds = [], []
    for i, c in enumerate(chosen, 1):
        if c.verdict is not None and not c.verdict.ok:
            reasons += [f"sentence {i}: {r}" for r in c.verdict.reasons]
            kinds += list(c.verdict.kinds)
    return GuardVerdict(not reasons, tuple(reasons), tuple(dict.fromkeys(kinds)))
