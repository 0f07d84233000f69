"""Word error rate, shared by the dictation benchmark and the audio-projector recipe."""

from __future__ import annotations

import re


def words(text: str) -> list[str]:
    """Lowercased words without punctuation: what WER compares."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower().replace("-", " ")).split()


def edit_distance(a: list[str], b: list[str]) -> int:
    """Levenshtein distance between two word lists (substitutions, insertions, deletions)."""
    d = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        prev, d[0] = d[0], i
        for j, y in enumerate(b, 1):
            prev, d[j] = d[j], min(d[j] + 1, d[j - 1] + 1, prev + (x != y))
    return d[-1]


def wer(refs: list[str], hyps: list[str]) -> float:
    """Corpus-level WER: word edits over reference words."""
    errors = sum(edit_distance(words(r), words(h)) for r, h in zip(refs, hyps, strict=True))
    return errors / max(1, sum(len(words(r)) for r in refs))
