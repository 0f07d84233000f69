"""Model drafts: the base model continuing the same passage the human wrote next.

    passage context --Engine(use_adapters=False).continue_text--> draft  (the "worse" side)
    the human's next sentences, cut to about the draft's length      (the "better" side)

Cutting the human side to the draft's length keeps length out of the comparison.
Generation is slow on CPU (~5-10 tokens/s), so drafts are cached one JSON line each in
``.data/wqrm/drafts-<base>.jsonl`` and a rerun only generates the missing ones.

    .venv/bin/python -m training.data.degrade_drafts --base gemma3-270m --n-train 36 --n-test 24
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from engine.quality.metrics_text import split_sentences as sentences
from training.config import REPO
from training.data.degrade import Passage, split_passages

DRAFTS_DIR = REPO / ".data" / "wqrm"


def drafts_path(base: str) -> Path:
    return DRAFTS_DIR / f"drafts-{base}.jsonl"


def cut_to_words(text: str, n_words: int) -> str:
    """Whole sentences of ``text`` whose word count is closest to ``n_words`` (at least one)."""
    sents, out, best, best_gap = sentences(text), [], "", None
    for s in sents:
        out.append(s)
        gap = abs(len(" ".join(out).split()) - n_words)
        if best_gap is None or gap < best_gap:
            best, best_gap = " ".join(out), gap
    return best or text


def load_drafts(base: str) -> list[dict]:
    path = drafts_path(base)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def generate_drafts(base: str, items: list[tuple[str, Passage]], seed: int = 0) -> list[dict]:
    """Rows {split, corpus, title, context, human, draft}; cached, so reruns are cheap."""
    import torch

    from engine.api import Engine
    from engine.modes import DEFAULT_PARAMS, Mode

    done = {(r["title"], r["context"][-200:]): r for r in load_drafts(base)}
    todo = [(s, p) for s, p in items if (p.title, p.context[-200:]) not in done]
    if todo:
        torch.set_num_threads(1)
        engine = Engine(base, backend="eager", threads=1, use_adapters=False)
        drafts_path(base).parent.mkdir(parents=True, exist_ok=True)
        for k, (split, p) in enumerate(todo):
            params = DEFAULT_PARAMS[Mode.CONTINUE].with_overrides(seed=seed + k)  # the app's Continue settings
            draft = engine.run_to_text(engine.continue_text(p.context, params=params)).strip()
            row = {"split": split, "corpus": p.corpus, "title": p.title, "context": p.context, "draft": draft}
            row["human"] = cut_to_words(p.text, len(draft.split()))
            with drafts_path(base).open("a") as fh:  # one line per draft: an interrupted run keeps its work
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            done[(p.title, p.context[-200:])] = row
            print(f"[{k + 1}/{len(todo)}] {p.title}: {len(draft.split())} words", flush=True)
    return [done[(p.title, p.context[-200:])] for _, p in items]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="gemma3-270m")
    ap.add_argument("--n-train", type=int, default=36)
    ap.add_argument("--n-test", type=int, default=24)
    ns = ap.parse_args(argv)
    train, test = split_passages(ns.n_train, ns.n_test, seed=7)
    # Interleaved, so an interrupted run still has drafts on both sides of the split.
    items = [("test", p) for p in test] + [("train", p) for p in train]
    items.sort(key=lambda item: (test + train).index(item[1]) % max(1, len(test)))
    rows = generate_drafts(ns.base, items)
    print(f"{len(rows)} drafts in {drafts_path(ns.base)}")


if __name__ == "__main__":
    main()
