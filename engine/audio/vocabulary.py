"""Custom vocabulary for dictation: the writer's names and rare words, and how recognizers use them.

Sources: the user's list (Settings) and the style memory's paragraphs (engine/persona store):
words written capitalized in the middle of a sentence (names: "Pemberley", "Darcy") and long words
used more than once. Whisper is biased through its previous-text prompt (``whisper_prompt``);
Moonshine takes no prompt, so its text is corrected afterwards (``correct_with_vocabulary``): a
word (or two words run together) is replaced by a vocabulary entry only when they are very close
in sound and spelling, so ordinary words are left alone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from engine.audio.targets import similarity

MAX_PROMPT_CHARS = 220  # Whisper's prompt is at most 224 tokens; a short list keeps decoding fast
CORRECTION_THRESHOLD = 0.84
_MID_SENTENCE_CAPITAL = re.compile(r"(?<=[a-z,;] )([A-Z][a-z]{2,}(?:-[A-Z][a-z]+)?)\b")
_LONG_WORD = re.compile(r"\b[a-z]{9,}\b")
_COMMON_CAPITALS = {"The", "And", "But", "She", "His", "Her", "They", "This", "That", "What", "When", "Then",
                    "Mr", "Mrs", "Miss", "Sir", "Lady", "Lord", "God", "English", "Monday", "Sunday"}


def vocabulary_from_paragraphs(paragraphs: Iterable[str], limit: int = 150) -> list[str]:
    """Names (capitalized mid-sentence, most frequent first) and long words used at least twice."""
    names: Counter[str] = Counter()
    long_words: Counter[str] = Counter()
    for paragraph in paragraphs:
        names.update(w for w in _MID_SENTENCE_CAPITAL.findall(paragraph) if w not in _COMMON_CAPITALS)
        long_words.update(_LONG_WORD.findall(paragraph))
    picked = [w for w, _ in names.most_common(limit)]
    picked += [w for w, n in long_words.most_common() if n >= 2 and w.capitalize() not in names][: limit // 3]
    return picked[:limit]


def style_memory_vocabulary(db_path: Path | None = None, limit: int = 150) -> list[str]:
    """The vocabulary of the documents in the style memory ([] when there is none or it cannot be read)."""
    from engine.persona.store import PersonaStore, default_db_path

    path = db_path or default_db_path()
    if not Path(path).exists():
        return []
    try:
        store = PersonaStore(path)
        try:
            paragraphs = [p for doc in store.documents() for p in store.iter_paragraph_texts(doc.path)]
        finally:
            store.close()
    except Exception:  # noqa: BLE001 - a damaged memory must not stop dictation; it only loses the bias
        return []
    return vocabulary_from_paragraphs(paragraphs, limit)


def merge(*lists: Iterable[str]) -> list[str]:
    """Vocabulary lists joined in order, blanks and repeats dropped."""
    return list(dict.fromkeys(w.strip() for words in lists for w in words if w and w.strip()))


def whisper_prompt(vocabulary: list[str]) -> str | None:
    """Whisper's previous-text prompt naming the words ("Glossary: Pemberley, Darcy, Longbourn.")."""
    if not vocabulary:
        return None
    chosen: list[str] = []
    for word in vocabulary:
        if len(", ".join([*chosen, word])) > MAX_PROMPT_CHARS:
            break
        chosen.append(word)
    return "Glossary: " + ", ".join(chosen) + "."


def correct_with_vocabulary(text: str, vocabulary: list[str], threshold: float = CORRECTION_THRESHOLD) -> str:
    """Replace words that a vocabulary entry almost certainly is ("Pemberly" -> "Pemberley",
    "Long born" -> "Longbourn"). Words already in the vocabulary, and short words, are kept."""
    if not vocabulary or not text:
        return text
    known = {v.lower() for v in vocabulary}
    tokens = re.findall(r"[\w'-]+|[^\w'-]+", text)

    def entry_for(chunk: str) -> str | None:
        if not chunk[:1].isalpha() or len(chunk) < 5 or chunk.lower() in known:
            return None
        best = max(vocabulary, key=lambda v: similarity(chunk, v))
        ok = similarity(chunk, best) >= threshold and best[0].lower() == chunk[0].lower()
        return best if ok else None

    out: list[str] = []
    i = 0
    while i < len(tokens):
        single = entry_for(tokens[i])
        if single:
            out.append(single)
            i += 1
            continue
        # Two words run apart ("Long born"): both at least 3 letters, and the second is not itself an entry
        # ("to Longbourne" is "to" + a near miss, not one word).
        if i + 2 < len(tokens) and tokens[i + 1] == " " and min(len(tokens[i]), len(tokens[i + 2])) >= 3 \
                and tokens[i + 2].lower() not in known and not entry_for(tokens[i + 2]):
            pair = entry_for(tokens[i] + " " + tokens[i + 2])
            if pair:
                out.append(pair)
                i += 3
                continue
        out.append(tokens[i])
        i += 1
    return "".join(out)
