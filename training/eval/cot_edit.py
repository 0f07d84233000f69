"""Chain-of-thought edit step vs plain best-of-n Rephrase (issue 13), on dev units only.

    python -m training.eval.cot_edit --units 20 --out /tmp/cot_edit.jsonl

The edit step: (1) find the weakest span of the source, (2) rewrite only that span with the Rephrase
composition (best-of-n of the span), (3) splice each take back and guard + rank the whole text as
Rephrase does. It competes with plain best-of-n on the whole text at the same number of model calls
(n takes each), scored by the WQRM and the meaning guard; wall times are recorded for both.

Which span is weak: the WQRM scores whole texts (and means nothing under 8 words), so a span is scored
by leave-one-out: the span whose removal raises the text's WQRM most is the weakest. Asking the 270M
model which span is weak was not tried: it has no instruction tuning for critique, and its answer would
need parsing back onto the source, a second failure point; the WQRM is the judge the result is scored
by anyway. Spans are sentences, or for a one-sentence unit its clauses (cut at , ; : with at least
3 words each).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from dataclasses import replace
from pathlib import Path

from engine.quality.best_of_n import Candidate, rank

MIN_SPAN_WORDS = 3
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“(A-Z])")
_CLAUSE_CUT = re.compile(r"(?<=[,;:])\s+")
_END_PUNCT = ".!?"


def _pieces(text: str, cut: re.Pattern) -> list[tuple[int, int]]:
    """Character spans between the cuts, each at least MIN_SPAN_WORDS words (short ones join the next)."""
    bounds, start = [], 0
    for m in cut.finditer(text):
        if len(text[start : m.start()].split()) >= MIN_SPAN_WORDS:
            bounds.append((start, m.start()))
            start = m.end()
    if bounds and len(text[start:].split()) < MIN_SPAN_WORDS:
        bounds[-1] = (bounds[-1][0], len(text.rstrip()))  # a short tail joins the span before it
    else:
        bounds.append((start, len(text.rstrip())))
    return bounds


def spans(text: str) -> list[tuple[int, int]]:
    """Sentences; for a single sentence, its clauses. Each (start, end) indexes ``text``."""
    text_start = len(text) - len(text.lstrip())
    sentences = [(s + text_start, e + text_start) for s, e in _pieces(text.strip(), _SENTENCE_END)]
    if len(sentences) > 1:
        return sentences
    return [(s + text_start, e + text_start) for s, e in _pieces(text.strip(), _CLAUSE_CUT)]


def weakest_span(text: str, bounds: list[tuple[int, int]], score) -> tuple[int, int]:
    """The span whose removal raises the score most; the longest span where no score means anything.

    ``score(texts) -> list[float | None]`` (the WQRM's signature)."""
    if len(bounds) == 1:
        return bounds[0]
    without = [" ".join((text[:s] + text[e:]).split()) for s, e in bounds]
    scores = score([text, *without])
    if any(v is None for v in scores):
        return max(bounds, key=lambda b: b[1] - b[0])
    gains = [v - scores[0] for v in scores[1:]]
    return bounds[max(range(len(bounds)), key=gains.__getitem__)]


def splice(source: str, start: int, end: int, rewrite: str) -> str:
    """``source`` with ``source[start:end]`` replaced by ``rewrite``, fitted to its place.

    Rephrase writes a whole sentence (capital first, full stop last); inside a sentence the take gets
    the span's own first-letter case and trailing punctuation instead."""
    span, new = source[start:end], rewrite.strip()
    if not new:
        return source
    if span[:1].islower() and new[:1].isupper() and not new.startswith(("I ", "I'")):
        first = new.split()[0]
        if first not in source:  # a name the source capitalizes too stays capitalized
            new = new[0].lower() + new[1:]
    tail = span[-1] if span[-1] in _END_PUNCT + ",;:" else ""
    new = new.rstrip(_END_PUNCT + ",;:") + tail
    return source[:start] + new + source[end:]


def cot_candidates(engine, text: str, n: int, seed: int) -> tuple[list[Candidate], tuple[int, int]]:
    """The edit step through the engine: weakest span, n takes of it, spliced, guarded and ranked."""
    scorer = engine.quality_scorer
    from engine.errors import KillahError

    start, end = weakest_span(text, spans(text), lambda texts: scorer.score(text, texts))
    try:
        takes = engine.rephrase_candidates(text[start:end], n=n, seed=seed).candidates
    except KillahError:  # the span alone is refused (too few English words to tell its language)
        start, end = 0, len(text)
        takes = engine.rephrase_candidates(text, n=n, seed=seed).candidates
    full = [splice(text, start, end, t.text) for t in takes]
    verdicts = engine.meaning_guard.check_many(text, full)
    scores = scorer.score(text, full)
    spliced = [
        replace(t, text=f, verdict=v, score=s)
        for t, f, v, s in zip(takes, full, verdicts, scores, strict=True)
    ]
    return rank(spliced), (start, end)


def _shown(cands) -> dict:
    best = cands[0]
    return {"text": best.text, "wqrm": best.score, "guard_ok": not best.demoted}


def run(units: int, n: int, out: Path) -> None:
    import torch

    torch.set_num_threads(1)
    from engine.api import Engine
    from training.data.meaning_guard import load_set
    from training.eval.meaning_guard import _seed

    engine = Engine(backend="executorch", threads=1)
    print(f"backend {engine.backend.name}; scorer {engine.quality_scorer.name}", flush=True)
    done = {json.loads(line)["text"] for line in out.read_text().splitlines()} if out.exists() else set()
    for i, unit in enumerate(load_set("dev")[:units]):  # dev only: never tune or choose on test
        text, seed = unit["text"], _seed(unit["text"])
        if text in done:  # resumable
            continue
        t0 = time.perf_counter()
        plain = engine.rephrase_candidates(text, n=n, seed=seed).candidates
        t1 = time.perf_counter()
        cot, (s, e) = cot_candidates(engine, text, n, seed)
        t2 = time.perf_counter()
        row = {
            "text": text,
            "source_wqrm": engine.quality_scorer.score(text, [text])[0],
            "span": text[s:e],
            "plain": {**_shown(plain), "seconds": round(t1 - t0, 2)},
            "cot": {**_shown(cot), "seconds": round(t2 - t1, 2)},
            "backend": engine.backend.name,
        }
        with out.open("a") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{i + 1}/{units} plain {row['plain']['seconds']}s cot {row['cot']['seconds']}s", flush=True)


def summary(path: Path) -> None:
    """Wins on WQRM, guard passes and wall time of what each method shows first."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    both = [r for r in rows if r["plain"]["wqrm"] is not None and r["cot"]["wqrm"] is not None]
    wins = sum(r["cot"]["wqrm"] > r["plain"]["wqrm"] for r in both)
    ties = sum(r["cot"]["wqrm"] == r["plain"]["wqrm"] for r in both)

    def mean(key, sub):
        values = [r[sub][key] for r in both]
        return sum(values) / max(1, len(values))

    print(f"units {len(rows)}, both scored {len(both)}; CoT beats plain on WQRM in {wins}, ties {ties}")
    print("| method | mean WQRM shown first | guard passes shown first | mean s per unit |")
    print("|---|---|---|---|")
    for sub in ("plain", "cot"):
        ok = sum(r[sub]["guard_ok"] for r in rows)
        secs = sum(r[sub]["seconds"] for r in rows) / max(1, len(rows))
        print(f"| {sub} | {mean('wqrm', sub):+.3f} | {ok}/{len(rows)} | {secs:.1f} |")
    print(f"mean source WQRM {sum(r['source_wqrm'] or 0 for r in both) / max(1, len(both)):+.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=20, help="dev units (the first by the set's hash order)")
    parser.add_argument("--n", type=int, default=3, help="model calls (takes) per method and unit")
    parser.add_argument("--out", type=Path, default=Path("/tmp/cot_edit.jsonl"))
    parser.add_argument("--summary", action="store_true", help="only summarize an existing --out file")
    args = parser.parse_args()
    if not args.summary:
        run(args.units, args.n, args.out)
    summary(args.out)


if __name__ == "__main__":
    main()
