"""Baselines of every quality metric (guide §3.2): reference corpora vs the base model's own drafts.

    .venv/bin/python -m training.eval.quality_baselines --base gemma3-270m [--n 12] [--no-lm] [--json out.json]

Rows:
- each corpus (Austen, Moby Dick, Reuters): mean of each metric over ``n`` passages, the style
  metrics against a profile of 40 other paragraphs of the same corpus;
- "human (draft prompts)" vs "base model drafts": the human continuation and the base model's
  continuation of the same passages (cached by training.data.degrade_drafts; run it first), with
  the task metrics (BLEU, chrF, ROUGE-L, meaning preservation) of the draft against the human text.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch

from engine.quality.metrics import METRICS, QualityContext, StyleProfile, score_texts
from training.data.corpora import load_corpus
from training.data.degrade import passages
from training.data.degrade_drafts import load_drafts

CORPUS_OF = {"Moby Dick": "moby_dick"}


def profile_for(corpus: str, skip: set[str], n: int = 40) -> StyleProfile:
    paras = [p for ps in load_corpus(corpus).values() for p in ps if len(p.split()) >= 30 and p not in skip]
    step = max(1, len(paras) // n)
    return StyleProfile.from_texts(paras[::step][:n])


def with_nll(texts: list[str], contexts: list[QualityContext], loaded) -> None:
    from engine.quality.metrics_lm import token_nll

    for text, ctx in zip(texts, contexts, strict=True):
        ctx.token_nll = token_nll(loaded.model, loaded.tokenizer, text)


def mean_row(rows: list[dict[str, float]]) -> dict[str, float]:
    names = [m.name for m in METRICS]
    return {n: float(np.mean(v)) for n in names if (v := [r[n] for r in rows if n in r])}


def corpus_rows(n: int, loaded) -> dict[str, dict[str, float]]:
    out = {}
    for corpus in ("austen", "moby_dick", "reuters"):
        texts = [p.text for p in passages({corpus: load_corpus(corpus)}, n, seed=3)]
        profile = profile_for(corpus, set(texts))
        contexts = [QualityContext(profile=profile) for _ in texts]
        if loaded is not None:
            with_nll(texts, contexts, loaded)
        out[f"{corpus} (n={len(texts)})"] = mean_row(score_texts(texts, contexts))
    return out


def draft_rows(base: str, loaded) -> dict[str, dict[str, float]]:
    drafts = [d for d in load_drafts(base) if len(d["draft"].split()) >= 8]
    if not drafts:
        return {}
    profiles = {c: profile_for(c, set()) for c in {d["corpus"] for d in drafts}}
    human = [d["human"] for d in drafts]
    model = [d["draft"] for d in drafts]
    h_ctx = [QualityContext(profile=profiles[d["corpus"]]) for d in drafts]
    m_ctx = [QualityContext(profile=profiles[d["corpus"]], reference=d["human"], source=d["human"]) for d in drafts]
    if loaded is not None:
        with_nll(human, h_ctx, loaded)
        with_nll(model, m_ctx, loaded)
    return {
        f"human, draft prompts (n={len(drafts)})": mean_row(score_texts(human, h_ctx)),
        f"{base} drafts (n={len(drafts)})": mean_row(score_texts(model, m_ctx)),
    }


def print_table(rows: dict[str, dict[str, float]]) -> None:
    cols = list(rows)
    print("| metric | family | better | " + " | ".join(cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    for m in METRICS:
        cells = [rows[c].get(m.name, math.nan) for c in cols]
        if all(math.isnan(x) for x in cells):
            continue
        text = " | ".join("" if math.isnan(x) else f"{x:.3f}" for x in cells)
        print(f"| {m.name} | {m.family} | {'higher' if m.higher_is_better else 'lower'} | {text} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", default="gemma3-270m")
    ap.add_argument("--n", type=int, default=12, help="passages per corpus")
    ap.add_argument("--no-lm", action="store_true", help="skip the LM's per-token NLL (ppl_cv)")
    ap.add_argument("--json")
    ns = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    loaded = None
    if not ns.no_lm:
        from engine.models import load_model

        loaded = load_model(ns.base)
    rows = corpus_rows(ns.n, loaded) | draft_rows(ns.base, loaded)
    print_table(rows)
    print(f"\n{time.time() - t0:.0f} s")
    if ns.json:
        with open(ns.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
