"""The held-out meaning-guard set: corpus sentences and short paragraphs rich in what rewrites break.

    python -m training.data.meaning_guard          # rewrites training/data/meaning_guard_set.jsonl

Recipe (deterministic; the list is committed so that a change of the corpora shows up in a diff):

1. Text: the **val** and **test** parts (the held-out tail of each book,
   ``training.data.tasks.corpus_part``) of the English prose corpora in ``CORPORA``. No adapter
   trained on them (val only picks checkpoints).
2. Units: single sentences of 8-40 words, and short paragraphs of 2-3 sentences and at most 70 words.
   No dialogue quotes (a rewrite of a half-quoted line is ill-posed), no headings.
3. Features, counted by rules independent of the guard's code: negation words, numbers (digits,
   number words, months, weekdays), names (a capitalized word inside a sentence), subordinate clauses
   (a subordinator). A unit needs at least two of the four kinds.
4. Order: by a sha256 of the text (no cherry-picking); at most ``PER_CORPUS`` per corpus; the
   first ``N`` units after interleaving the corpora.
5. Split: ``dev`` (a third, by hash) for tuning the guard's thresholds; ``test`` for the reported rates.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
from pathlib import Path

from training.data.tasks import corpus_part, sentences

CORPORA = ("austen", "moby_dick", "reuters", "debian_history", "devils_dictionary")
PARTS = ("val", "test")
N = 180
PER_CORPUS = 60
SET_PATH = Path(__file__).with_name("meaning_guard_set.jsonl")

_NEG = re.compile(r"\b(?:not|no|never|nothing|nobody|none|neither|nor|without|cannot|refused?|failed)\b|n't\b", re.I)
_NUM = re.compile(
    r"\b(?:\d[\d,.]*|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozen|January|February|March|April|June|July|August|September|"
    r"October|November|December|Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
)
_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]+")
_SUB = re.compile(r"\b(?:because|although|though|while|whereas|unless|until|since|which|who|whom|if|when)\b", re.I)


def features(text: str) -> dict[str, int]:
    return {
        "negation": len(_NEG.findall(text)),
        "number": len(_NUM.findall(text)),
        "name": len(_NAME.findall(text)),
        "clause": len(_SUB.findall(text)),
    }


def _usable(text: str, min_words: int, max_words: int) -> bool:
    n = len(text.split())
    return (
        min_words <= n <= max_words
        and text[:1].isupper()
        and text[-1:] in ".!?"
        and not re.search(r"[\"“”_\[\]|<>{}]|(?:^|\s)'", text)
        and not text.isupper()
    )


def units(paragraph: str) -> list[tuple[str, str]]:
    """(kind, text): each usable sentence, and the paragraph itself if it is short."""
    sents = sentences(paragraph)
    out = [("sentence", s) for s in sents if _usable(s, 8, 40)]
    if 2 <= len(sents) <= 3 and _usable(paragraph, 16, 70):
        out.append(("paragraph", " ".join(paragraph.split())))
    return out


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def build(n: int = N) -> list[dict]:
    per_corpus: dict[str, list[dict]] = {}
    for corpus in CORPORA:
        rows = []
        books = [(t, ps) for part in PARTS for t, ps in corpus_part([corpus], part)[corpus].items()]
        for title, paragraphs in books:
            for paragraph in paragraphs:
                for kind, text in units(paragraph):
                    f = features(text)
                    if sum(v > 0 for v in f.values()) >= 2:
                        rows.append({"text": text, "kind": kind, "source": f"{corpus}/{title}", "features": f})
        rows.sort(key=lambda r: _hash(r["text"]))
        per_corpus[corpus] = rows[:PER_CORPUS]
    interleaved = [r for group in zip_longest_rows(per_corpus.values()) for r in group]
    chosen = interleaved[:n]
    for row in chosen:
        row["split"] = "dev" if int(_hash("split|" + row["text"])[:8], 16) % 3 == 0 else "test"
    return chosen


def zip_longest_rows(groups) -> list[list[dict]]:
    groups = [list(g) for g in groups]
    return [[g[i] for g in groups if i < len(g)] for i in range(max(map(len, groups), default=0))]


def load_set(split: str | None = None, path: Path = SET_PATH) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=N)
    parser.add_argument("--out", type=Path, default=SET_PATH)
    args = parser.parse_args()
    rows = build(args.n)
    args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    kinds = {k: sum(r["features"][k] > 0 for r in rows) for k in ("negation", "number", "name", "clause")}
    splits = {s: sum(r["split"] == s for r in rows) for s in ("dev", "test")}
    sources = {}
    for r in rows:
        sources[r["source"].split("/")[0]] = sources.get(r["source"].split("/")[0], 0) + 1
    print(f"{len(rows)} units -> {args.out}; with {kinds}; {splits}; {sources}")


if __name__ == "__main__":
    main()
