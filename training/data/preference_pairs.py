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


def style_deviation(texts: Sequence[str], chosen: int) -> float:
    """Mean (1 - cosine) of character 3-gram profiles between the chosen text and the others."""
    from engine.quality.metrics_text import char_ngrams, cosine_counts

    profiles = [char_ngrams(t) for t in texts]
    others = [p for i, p in enumerate(profiles) if i != chosen]
    return float(np.mean([1.0 - cosine_counts(profiles[chosen], p) for p in others])) if others else 1.0


def choose_pair(scores: Sequence[float | None], margin: float) -> tuple[int, int] | None:
    """(chosen, rejected) indices: the best and the worst scored sample, if the gap is >= margin."""
    scored = [(s, i) for i, s in enumerate(scores) if s is not None]
    if len(scored) < 2:
        return None
    (best, b), (worst, w) = max(scored), min(scored)
    return (b, w) if best - worst >= margin else None


def task_prompts(task: str, corpora: Sequence[str], part: str, n: int, seed: int) -> list[tuple[str, str]]:
    """(prompt in the engine's format, origin) for a task's training or held-out prompts."""
    from engine.prompts import rephrase_prompt
    from training.data import tasks

    if task == "continue":
        return [(e.prompt, e.source) for e in tasks.continue_examples(corpora, part, n, seed)]
    return [(rephrase_prompt(s), origin) for s, origin in tasks.rephrase_sources(corpora, part, n, seed)]


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
    prompts: list[tuple[str, str]], answers: list[list[str]], wqrm, encoder, margin: float
) -> list[PreferencePair]:
    """Score every prompt's answers and keep a weighted pair where the WQRM separates them."""
    raw = []
    for (prompt, origin), texts in zip(prompts, answers, strict=True):
        texts = [t.strip() for t in texts]
        picked = choose_pair(wqrm.score(texts), margin) if len(set(texts)) > 1 else None
        if picked is None:
            continue
        scores = wqrm.score([texts[picked[0]], texts[picked[1]]])
        semantic = deviation(np.asarray(encoder.encode(texts)), picked[0])
        style = style_deviation(texts, picked[0])
        raw.append((prompt, origin, texts, picked, scores, semantic, style))
    weights = normalise_weights([combined_deviation(r[5], r[6]) for r in raw])
    return [
        PreferencePair(prompt, " " + texts[c], " " + texts[r], w, s[0], s[1], sem, sty, origin)
        for (prompt, origin, texts, (c, r), s, sem, sty), w in zip(raw, weights, strict=True)
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
    from engine.quality.wqrm import WQRM

    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    loaded = load_model(args.base)
    names = TASK_ADAPTERS[args.task]
    model = PeftModel.from_pretrained(loaded.model, str(artifact(names[0]).folder), adapter_name=names[0])
    for name in names[1:]:
        model.load_adapter(str(artifact(name).folder), adapter_name=name)
    model.base_model.set_adapter(list(names), inference_mode=True)  # the summed composition the app runs
    prompts = task_prompts(args.task, args.corpora, "train", args.prompts, args.seed)
    answers = sample_answers(loaded, [q for q, _ in prompts], args.samples, args.max_new_tokens, args.min_p, args.seed)
    pairs = build_pairs(prompts, answers, WQRM.load(), default_encoder(), args.margin)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("".join(json.dumps(asdict(pair)) + "\n" for pair in pairs))
    print(json.dumps({"prompts": len(prompts), "pairs": len(pairs), "out": str(args.out)}))


if __name__ == "__main__":
    main()
