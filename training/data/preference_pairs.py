"""Preference pairs for DPO / DDPO of the writing adapters, scored by the WQRM.

    python -m training.data.preference_pairs --task continue --prompts 48 --samples 6 \
        --out .data/ddpo/continue.jsonl

For each training prompt (continuation or rephrase, training writers only), ``samples`` answers are
drawn from the SFT composition as it runs in the app (persona + the task adapter, summed), scored
by the WQRM; chosen = the best, rejected = the worst if it is at least ``margin`` below (else the
prompt gives no pair). Each pair records the chosen answer's deviation from the prompt's other
answers (Chung et al.'s DDPO weight):

- semantic: mean MiniLM cosine distance (``training.ddpo.deviation``);
- style: mean distance of character 3-gram profiles (a content-light stylometric representation);
- combined by geometric mean, then scaled to mean 1 over the file (``normalise_weights``).

Rephrase pairs are also meaning-checked (``engine.quality.guard``): the hand-labelled takes of the
writing-quality issue showed the rewriter's failure is meaning, not prose (14 of 381 takes faithful),
and the WQRM, which reads only the output, prefers a fluent rewrite that says something else. So a
rewrite the guard flags can never be chosen and ranks below every faithful one when the rejected side
is picked; a prompt with no faithful sample gives no pair.
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from training.ddpo import combined_deviation, deviation, normalise_weights

TASK_ADAPTERS = {"continue": ("persona", "task_continue"), "rephrase": ("persona", "task_rephrase")}


@dataclass(frozen=True)
class PreferencePair:
    prompt: str
    chosen: str
    rejected: str
    weight: float  # DDPO's delta_w, mean 1 over a file; DPO ignores it
    chosen_score: float
    rejected_score: float
    semantic_deviation: float
    style_deviation: float
    origin: str
    rejected_faithful: bool = True  # False: the guard flagged the rejected rewrite (rephrase only)


def style_deviation(texts: Sequence[str], chosen: int) -> float:
    """Mean (1 - cosine) of character 3-gram profiles between the chosen text and the others."""
    from engine.quality.metrics_text import char_ngrams, cosine_counts

    profiles = [char_ngrams(t) for t in texts]
    others = [p for i, p in enumerate(profiles) if i != chosen]
    return float(np.mean([1.0 - cosine_counts(profiles[chosen], p) for p in others])) if others else 1.0


def choose_pair(
    scores: Sequence[float | None], margin: float, faithful: Sequence[bool] | None = None
) -> tuple[int, int] | None:
    """(chosen, rejected) indices: the best faithful sample and the worst one, if they differ clearly.

    ``faithful`` (rephrase) marks the samples the meaning guard passed. An unfaithful sample is never
    chosen and is worse than every faithful one; a meaning error is a clear loss whatever the margin."""
    ok = list(faithful) if faithful is not None else [True] * len(scores)
    ranked = [(ok[i], s, i) for i, s in enumerate(scores) if s is not None]
    eligible = [r for r in ranked if r[0]]
    if len(ranked) < 2 or not eligible:
        return None
    (_, best, b), (rejected_ok, worst, w) = max(eligible), min(ranked)
    if b == w:
        return None
    return (b, w) if not rejected_ok or best - worst >= margin else None


def task_prompts(task: str, corpora: Sequence[str], part: str, n: int, seed: int) -> list[tuple[str, str]]:
    """(prompt in the engine's format, origin) for a task's training or held-out prompts."""
    return [(prompt, origin) for prompt, origin, _ in task_items(task, corpora, part, n, seed)]


def task_items(task: str, corpora: Sequence[str], part: str, n: int, seed: int) -> list[tuple[str, str, str]]:
    """(prompt, origin, source) where source is the sentence to rephrase ("" for continue)."""
    from engine.prompts import rephrase_prompt
    from training.data import tasks

    if task == "continue":
        return [(e.prompt, e.source, "") for e in tasks.continue_examples(corpora, part, n, seed)]
    return [(rephrase_prompt(s), origin, s) for s, origin in tasks.rephrase_sources(corpora, part, n, seed)]


def sample_answers(loaded, prompts: list[str], samples: int, max_new_tokens: int, min_p: float, seed: int):
    """``samples`` sampled answer lines per prompt from the active composition."""
    import torch

    from training.answer_lines import answer_lines

    torch.manual_seed(seed)
    bar = tqdm(total=len(prompts), desc="sampling", unit="prompt")
    out = answer_lines(
        loaded, prompts, batch_size=4, max_new_tokens=max_new_tokens, samples=samples,
        progress=lambda done, _total: bar.update(done - bar.n),
        do_sample=True, temperature=1.0, min_p=min_p, top_k=0, top_p=1.0,
    )
    bar.close()
    return out


def build_pairs(
    items: list[tuple[str, str, str]], answers: list[list[str]], wqrm, encoder, margin: float, guard=None
) -> list[PreferencePair]:
    """Score every prompt's answers and keep a weighted pair where the WQRM (and, for a rephrase with a
    ``guard``, the meaning guard) separates them. ``items`` are ``task_items``' (prompt, origin, source)."""
    raw = []
    for (prompt, origin, source), texts in zip(items, answers, strict=True):
        texts = [t.strip() for t in texts]
        if len(set(texts)) < 2:
            continue
        scores = wqrm.score(texts)
        faithful = [v.ok for v in guard.check_many(source, texts)] if guard and source else None
        picked = choose_pair(scores, margin, faithful)
        if picked is None:
            continue
        semantic = deviation(np.asarray(encoder.encode(texts)), picked[0])
        style = style_deviation(texts, picked[0])
        rejected_ok = faithful[picked[1]] if faithful else True
        raw.append((prompt, origin, texts, picked, scores, semantic, style, rejected_ok))
    weights = normalise_weights([combined_deviation(r[5], r[6]) for r in raw])
    return [
        PreferencePair(prompt, " " + texts[c], " " + texts[r], w, s[c], s[r], sem, sty, origin, ok)
        for (prompt, origin, texts, (c, r), s, sem, sty, ok), w in zip(raw, weights, strict=True)
    ]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", default="gemma3-270m")
    p.add_argument("--task", choices=sorted(TASK_ADAPTERS), required=True)
    p.add_argument("--corpora", nargs="+", default=["austen", "moby_dick", "reuters", "jargon_file"])
    p.add_argument("--prompts", type=int, default=48)
    p.add_argument("--samples", type=int, default=6)
    p.add_argument("--max-new-tokens", type=int, default=48)
    p.add_argument("--min-p", type=float, default=0.1)
    p.add_argument("--margin", type=float, default=0.1, help="WQRM gap between chosen and rejected")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)

    import torch
    from peft import PeftModel

    from engine.manifest import artifact
    from engine.models import load_model
    from engine.persona.encoder import default_encoder
    from engine.quality.guard import MeaningGuard
    from engine.quality.wqrm import WQRM

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    loaded = load_model(args.base)
    names = TASK_ADAPTERS[args.task]
    model = PeftModel.from_pretrained(loaded.model, str(artifact(names[0]).folder), adapter_name=names[0])
    for name in names[1:]:
        model.load_adapter(str(artifact(name).folder), adapter_name=name)
    model.base_model.set_adapter(list(names), inference_mode=True)  # the summed composition the app runs
    items = task_items(args.task, args.corpora, "train", args.prompts, args.seed)
    answers = sample_answers(loaded, [q for q, _, _ in items], args.samples, args.max_new_tokens, args.min_p, args.seed)
    encoder = default_encoder()
    guard = MeaningGuard(encoder) if args.task == "rephrase" else None
    pairs = build_pairs(items, answers, WQRM.load(), encoder, args.margin, guard)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(asdict(pair)) + "\n" for pair in pairs))
    flagged = sum(not p.rejected_faithful for p in pairs)
    print(json.dumps({"prompts": len(items), "pairs": len(pairs), "rejected_flagged": flagged, "out": str(args.out)}))


if __name__ == "__main__":
    main()
