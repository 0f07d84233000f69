"""Is a selection prose that Rephrase can rewrite? Code, tables and foreign languages are refused up front.

A rewrite of code or of a table is wrong by construction (the model reflows it into a sentence), and
a language the model was not trained on comes back as English or garbage: in both cases the user
gets a clear message and the selection stays as it is.
"""

from __future__ import annotations

import re

from engine.errors import PromptError

# Function words of English: a real English text of a dozen words holds several of them.
_ENGLISH = frozenset(
    "the a an and of to in is was were be been it that he she they i you we his her their for with on at by "
    "as not but had have has from this which or said would could there all so my me him them one do did".split()
)
_CODE_LINE = re.compile(
    r"^\s*(?:def |class |import |from \S+ import|return\b|if .*:\s*$|for .*:\s*$|#include|function\b|"
    r"const |let |var |public |private |}\s*$|{\s*$|</?\w+[^>]*>)|[;{}]\s*$|^\s*(?://|/\*|\*)"
)
_SYMBOLS = re.compile(r"[{}\[\]();=<>|\\/_*#$@^~`+]")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$|\t.*\t|^\s*[-:| ]{5,}\s*$")
_LETTER = re.compile(r"[^\W\d_]")
_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")


def looks_like_code(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return False
    code_lines = sum(bool(_CODE_LINE.search(line)) for line in lines)
    symbols = len(_SYMBOLS.findall(text)) / max(1, len(text.strip()))
    return code_lines >= max(1, len(lines) // 2) or symbols > 0.12


def looks_like_table(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    rows = sum(bool(_TABLE_ROW.search(line)) for line in lines)
    return len(lines) >= 2 and rows >= max(2, len(lines) // 2)


def language_of(text: str) -> str:
    """'en', 'ru', or 'other' (another script, or Latin letters that are not English)."""
    letters = _LETTER.findall(text)
    if not letters:
        return "other"
    cyrillic, latin = len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))
    if cyrillic > latin:
        return "ru"
    if latin < 0.6 * len(letters):
        return "other"
    tokens = re.findall(r"[A-Za-z']+", text.lower())
    if len(tokens) < 6:
        return "en"  # too short to tell: give it the benefit of the doubt
    share = sum(t in _ENGLISH for t in tokens) / len(tokens)
    return "en" if share >= 0.12 else "other"


def check_rephrase_selection(text: str, max_chars: int) -> str:
    """Raise PromptError (a message for the user) unless ``text`` is prose; return its language."""
    if not text.strip():
        raise PromptError("The selection is only whitespace: select the sentences to rephrase.")
    if len(text) > max_chars:
        raise PromptError(
            f"The selection is {len(text):,} characters; Killah rephrases at most {max_chars:,} "
            "at a time. Select a paragraph or two."
        )
    if looks_like_table(text):
        raise PromptError("The selection looks like a table: Rephrase rewrites sentences, not rows and columns.")
    if looks_like_code(text):
        raise PromptError("The selection looks like code: Rephrase rewrites prose, and would break it.")
    if _ONLY_A_NUMBER.fullmatch(text):  # "1994", "3.14": no letters, but not another language either
        raise PromptError(SELECT_A_PHRASE)
    language = language_of(text)
    if language == "other":
        raise PromptError(
            "The selection does not look like English or Russian, the two languages lil Pushkin writes. "
            "Nothing was changed."
        )
    if not rewritable(text):
        raise PromptError(SELECT_A_PHRASE)
    return language


SELECT_A_PHRASE = "Select a phrase or sentence to rephrase: one word, a name or a number has nothing to reword."
_ONLY_A_NUMBER = re.compile(r"[\d\s.,:/%+\-–]+")
_WORDS = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")


def rewritable(text: str) -> bool:
    """A phrase or a sentence: at least two words, not only names and numbers."""
    found = _WORDS.findall(text)
    return len(found) >= 2 and not all(w[0].isupper() or w[0].isdigit() for w in found)
