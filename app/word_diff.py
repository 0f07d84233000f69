"""A word diff of a rewrite against its source, as HTML for a QTextEdit (difflib over words)."""

from __future__ import annotations

import difflib
import html
import re

_TOKEN = re.compile(r"\s+|[^\s]+")
DELETED = "color:#a40000;text-decoration:line-through;"
INSERTED = "color:#006400;background:#e6ffe6;text-decoration:underline;"


def word_ops(before: str, after: str) -> list[tuple[str, str]]:
    """[(op, text)] with op in {"same", "del", "ins"}, over words (whitespace kept with its word)."""
    a, b = before.split(), after.split()
    out: list[tuple[str, str]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(("same", " ".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", " ".join(a[i1:i2])))
        if j2 > j1:
            out.append(("ins", " ".join(b[j1:j2])))
    return out


def word_diff_html(before: str, after: str) -> str:
    spans = []
    for op, text in word_ops(before, after):
        escaped = html.escape(text)
        if op == "del":
            spans.append(f'<span style="{DELETED}">{escaped}</span>')
        elif op == "ins":
            spans.append(f'<span style="{INSERTED}">{escaped}</span>')
        else:
            spans.append(escaped)
    return " ".join(spans)
