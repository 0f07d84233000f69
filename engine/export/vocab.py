"""Which output tokens a program can produce: a corpus-free rule for the supported languages.

Gemma 3's output layer has 262,144 rows (as many weights as all its blocks);
most rows are tokens of scripts the app does not support (CJK, Devanagari,
Arabic, ...). A pruned program scores only the kept rows and the backend puts
-inf on the rest; the input table stays full, so any token can still be read.

The rule (``latin-cyrillic``) keeps a token when
- it is a byte-fallback token (``<0xHH>``) or, for byte-level BPE, a piece that is
  not valid UTF-8 on its own: with these every string stays spellable (byte-level
  BPE's tokens for control characters other than whitespace decode to those
  characters and are dropped: typed text never contains them);
- it is a special/control token (BOS, EOS, pad, ``<end_of_turn>``, ...), except the
  never-trained ``<unusedN>`` placeholders;
- or its decoded text uses only the characters in ``ALLOWED_RANGES``: ASCII,
  Latin-1 and Latin Extended-A letters (accented Latin), Cyrillic, combining
  accents (Russian stress marks), general punctuation (dashes, quotes, ellipsis)
  and common symbols (currency, №, ™, arrows, maths), any Unicode whitespace.

No corpus decides anything, so the set does not depend on which books were on
disk, and Russian is covered as well as English. Bump ``RULE_VERSION`` when the
rule changes: it is part of every pruned program's cache key.
"""

from __future__ import annotations

import hashlib
import re

RULE_NAME = "latin-cyrillic"
RULE_VERSION = 1
RULES = ("full", RULE_NAME)  # "full": no pruning

# (first, last) code points, inclusive.
ALLOWED_RANGES = (
    (0x0020, 0x007E),  # ASCII printable: Latin letters, digits, punctuation, symbols
    (0x00A0, 0x00FF),  # Latin-1: é ü ß « » ° £ © ± × ÷
    (0x0100, 0x017F),  # Latin Extended-A: ł ő š ž ...
    (0x0300, 0x036F),  # combining diacritics (the Russian stress mark U+0301)
    (0x0400, 0x04FF),  # Cyrillic
    (0x2000, 0x206F),  # general punctuation: – — ‘ ’ “ ” „ … ‰ and thin spaces
    (0x20A0, 0x20CF),  # currency: € ₽ ₴
    (0x2100, 0x214F),  # letterlike: № ™ ℃
    (0x2190, 0x21FF),  # arrows
    (0x2200, 0x22FF),  # mathematical operators: − ≈ ≠ ≤ ≥
)
_BYTE_TOKEN = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")
_UNUSED_TOKEN = re.compile(r"^<unused\d+>$")


def char_allowed(ch: str) -> bool:
    if ch.isspace():
        return True
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in ALLOWED_RANGES)


def text_allowed(text: str) -> bool:
    return all(char_allowed(ch) for ch in text)


def _decode_piece(tokenizer, token: str) -> str:
    """The text of one vocabulary entry (▁ -> space, Ġ -> space, bytes -> characters)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    decoder = getattr(backend, "decoder", None) if backend is not None else None
    if decoder is not None:
        return decoder.decode([token])
    return tokenizer.convert_tokens_to_string([token])


def kept_token_ids(tokenizer, rule: str = RULE_NAME) -> list[int]:
    """Sorted ids of the tokens ``rule`` keeps, over the tokenizer's whole vocabulary (incl. added tokens)."""
    if rule not in RULES:
        raise ValueError(f"unknown vocabulary rule {rule!r}; choose one of {', '.join(RULES)}")
    size = len(tokenizer)
    if rule == "full":
        return list(range(size))
    special = {
        idx: added.content
        for idx, added in getattr(tokenizer, "added_tokens_decoder", {}).items()
        if getattr(added, "special", False)
    }
    special.update(zip(tokenizer.all_special_ids, tokenizer.all_special_tokens, strict=True))
    keep = []
    for idx, token in enumerate(tokenizer.convert_ids_to_tokens(list(range(size)))):
        if token is None:
            continue
        if idx in special:
            if not _UNUSED_TOKEN.match(special[idx]):
                keep.append(idx)
            continue
        if _BYTE_TOKEN.match(token):
            keep.append(idx)
            continue
        text = _decode_piece(tokenizer, token)
        # A byte-level BPE piece that is not valid UTF-8 alone decodes to U+FFFD: a byte, keep it.
        if "\ufffd" in text or text_allowed(text):
            keep.append(idx)
    return keep


def ids_digest(ids: list[int], rule: str = RULE_NAME) -> str:
    """What goes into the cache key: the rule, its version and the exact ids it kept."""
    blob = f"{rule}@{RULE_VERSION}:" + ",".join(map(str, ids))
    return hashlib.sha256(blob.encode()).hexdigest()


def coverage(tokenizer, keep: list[int] | set[int], text: str) -> tuple[int, int, dict[str, int]]:
    """(tokens of ``text`` in the kept set, all tokens, the lost pieces with their counts)."""
    kept = set(keep)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    lost: dict[str, int] = {}
    for idx in ids:
        if idx not in kept:
            piece = tokenizer.convert_ids_to_tokens(idx)
            lost[piece] = lost.get(piece, 0) + 1
    return len(ids) - sum(lost.values()), len(ids), lost


def rule_digest(rule: str) -> str:
    """The cache-key part of a vocabulary rule: its name and version (the tokenizer is fixed by the base sha256)."""
    if rule == "full":
        return ""
    return hashlib.sha256(f"{rule}@{RULE_VERSION}".encode()).hexdigest()
