"""The Russian Rephrase units: 30 sentences from the **test** parts of the Russian corpora.

    python -m training.data.rephrase_ru          # rewrites training/data/rephrase_ru_set.jsonl

Recipe (deterministic; the list is committed): sentences of 8-30 words from the test part of each
Russian writer in ``training.data.corpora`` (no adapter trains on a test part), with at least one of a
negation, a number or a name inside the sentence, no code or command lines; ordered by a sha256 of the
text, at most ``PER_CORPUS`` per corpus, interleaved, the first ``N``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

from training.data.corpora import SOURCES
from training.data.tasks import corpus_part, sentences

N = 30
PER_CORPUS = 10
SET_PATH = Path(__file__).with_name("rephrase_ru_set.jsonl")
_FEATURE = re.compile(r"\b(?:не|нет|ни|никогда|ничего|без)\b|\d|(?<=[а-яё,] )[А-ЯЁ][а-яё]+", re.I)
_CODE = re.compile(r"[/$<>{}=_|#]|\.\w{2,4}\b|--|\b[a-z]+-[a-z]+\b")


def candidates(text: str) -> bool:
    n_words = len(text.split())
    cyrillic = len(re.findall(r"[а-яё]", text, re.I))
    return 8 <= n_words <= 30 and cyrillic > 0.6 * len(text.replace(" ", "")) and bool(_FEATURE.search(text)) and not _CODE.search(text)


def build() -> list[dict]:
    names = [n for n, s in SOURCES.items() if s.language == "ru"]
    pools = []
    for name, books in corpus_part(names, "test").items():
        found = {s for paras in books.values() for p in paras for s in sentences(p) if candidates(s)}
        pools.append([{"text": t, "split": "test", "source": name} for t in sorted(found, key=_hash)][:PER_CORPUS])
    units = [u for group in zip(*pools, strict=False) for u in group]
    rest = [u for pool in pools for u in pool if u not in units]
    return (units + rest)[:N]


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=SET_PATH)
    args = parser.parse_args()
    units = build()
    args.out.write_text("".join(json.dumps(u, ensure_ascii=False) + "\n" for u in units))
    print(f"{len(units)} units -> {args.out}")


if __name__ == "__main__":
    main()
