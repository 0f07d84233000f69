"""Held-out comparison of SFT vs DPO vs DDPO adapters: quality, diversity, and what they cost the LM.

    python -m training.eval.ddpo --task continue --n 16 --samples 8 \
        --adapter dpo=.data/runs/task_continue_dpo/adapter --adapter ddpo=.data/runs/task_continue_ddpo/adapter

Each row is persona (merged, as in the recipe) + one version of the task adapter. On held-out prompts
(the 'test' part of the training writers, and the held-out writers for continue) it draws
``samples`` answers per prompt and reports:

- quality: mean WQRM score; the suite's anti-slop (generic-phrase rate, n-gram novelty, LZMA ratio)
  and coherence (semantic continuity) metrics;
- diversity of each prompt's samples: distinct-2 and distinct-3 (distinct n-grams / n-grams over the
  prompt's samples together), mean pairwise MiniLM distance (semantic), mean pairwise character-3-gram
  distance (style);
- NLL (nats/token) of held-out human continuations: refinement must not wreck the LM;
- for rephrase, ``faithful``: the share of samples the meaning guard passes.

Ship rule (issue 15): a refined adapter ships only if its WQRM beats SFT's without lowering any
diversity measure (and, for rephrase, without lowering ``faithful``).
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ANTI_SLOP = ("generic_phrase_rate", "ngram_novelty", "lzma_ratio")
COHERENCE = ("semantic_continuity",)


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct word n-grams / all word n-grams over ``texts`` together (0 when there is none)."""
    grams = [tuple(ws[i : i + n]) for t in texts for ws in [t.lower().split()] for i in range(len(ws) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def mean_pairwise_distance(vectors: np.ndarray) -> float:
    """Mean (1 - cosine) over all pairs of unit rows."""
    if len(vectors) < 2:
        return 0.0
    sims = vectors @ vectors.T
    upper = sims[np.triu_indices(len(vectors), k=1)]
    return float(np.mean(1.0 - upper))


def mean_pairwise_style_distance(texts: Sequence[str]) -> float:
    from engine.quality.metrics_text import char_ngrams, cosine_counts

    profiles = [char_ngrams(t) for t in texts]
    pairs = list(itertools.combinations(profiles, 2))
    return float(np.mean([1.0 - cosine_counts(a, b) for a, b in pairs])) if pairs else 0.0


def diversity(samples: Sequence[Sequence[str]], encoder) -> dict[str, float]:
    """The four diversity measures, averaged over prompts (each prompt's samples compared together)."""
    rows = [
        (
            distinct_n(group, 2),
            distinct_n(group, 3),
            mean_pairwise_distance(np.asarray(encoder.encode([t or "-" for t in group]))),
            mean_pairwise_style_distance(group),
        )
        for group in samples
    ]
    keys = ("distinct_2", "distinct_3", "semantic_distance", "style_distance")
    return {k: round(float(np.mean([r[i] for r in rows])), 4) for i, k in enumerate(keys)}


def quality(texts: Sequence[str], wqrm) -> dict[str, float]:
    from engine.quality.metrics import score_texts

    scores = [s for s in wqrm.score(list(texts)) if s is not None]
    metrics = score_texts(list(texts), names=[*ANTI_SLOP, *COHERENCE])
    out = {"wqrm": round(float(np.mean(scores)), 4) if scores else None, "wqrm_scored": len(scores)}
    for name in (*ANTI_SLOP, *COHERENCE):
        values = [m[name] for m in metrics if name in m]
        out[name] = round(float(np.mean(values)), 4) if values else None
    return out


def faithful_share(sources: Sequence[str], answers: Sequence[Sequence[str]], guard) -> float:
    """Share of rephrase samples the meaning guard passes (the rewriter's known failure)."""
    verdicts = [v.ok for source, group in zip(sources, answers, strict=True) for v in guard.check_many(source, group)]
    return round(float(np.mean(verdicts)), 4) if verdicts else 0.0


def ships(sft: dict, candidate: dict) -> bool:
    """Quality up, no diversity measure down, and (rephrase) no more meaning errors than SFT."""
    keys = ("distinct_2", "distinct_3", "semantic_distance", "style_distance")
    kept_meaning = candidate.get("faithful", 1.0) >= sft.get("faithful", 1.0)
    better = (candidate["wqrm"] or -1e9) > (sft["wqrm"] or -1e9)
    return better and kept_meaning and all(candidate[k] >= sft[k] for k in keys)


def evaluate(
    task: str, n: int, samples: int, adapters: dict[str, Path], base: str, seed: int, sft: bool = True
) -> dict:
    """One row per adapter (SFT first unless ``sft`` is False). Every row samples from the same seed,
    so rows measured in separate runs (on two cores at once) are the rows one run would give."""
    from peft import PeftModel

    from engine.manifest import artifact
    from engine.models import load_model
    from engine.persona.encoder import default_encoder
    from engine.quality.guard import MeaningGuard
    from engine.quality.wqrm import WQRM
    from training.data import tasks
    from training.data.preference_pairs import TASK_ADAPTERS, sample_answers, task_items
    from training.eval.adapters import continue_nll

    loaded = load_model(base)
    below, sft_name = TASK_ADAPTERS[task]
    loaded.model = PeftModel.from_pretrained(loaded.model, str(artifact(below).folder)).merge_and_unload()
    corpora = ["austen", "moby_dick", "reuters", "jargon_file"]
    items = task_items(task, corpora, "test", n, seed)
    heldout = tasks.continue_examples(corpora, "test", n, seed + 1)
    encoder, wqrm = default_encoder(), WQRM.load()
    guard = MeaningGuard(encoder) if task == "rephrase" else None
    model, results = None, {}
    rows = {"SFT": artifact(sft_name).folder, **adapters} if sft else dict(adapters)
    for label, folder in rows.items():
        if model is None:
            model = PeftModel.from_pretrained(loaded.model, str(folder), adapter_name=label)
        else:
            model.load_adapter(str(folder), adapter_name=label)
        model.set_adapter(label)
        answers = sample_answers(loaded, [q for q, _, _ in items], samples, 48, 0.1, seed)
        flat = [a for group in answers for a in group]
        results[label] = {
            **quality(flat, wqrm),
            **diversity(answers, encoder),
            "heldout_nll": round(continue_nll(loaded, heldout), 4),
        }
        if guard:
            results[label]["faithful"] = faithful_share([src for _, _, src in items], answers, guard)
    if sft:
        for label in adapters:
            results[label]["ships"] = ships(results["SFT"], results[label])
    return results


SHIP_RULE = "WQRM above SFT's, no diversity measure (nor rephrase's faithful share) below"


def record_refinement(
    task: str, results: dict, adapters: dict[str, Path], settings: dict, root: Path | None = None
) -> dict:
    """Write the comparison into the manifest entry of the task's SFT adapter (training/eval/record.py)."""
    from training.data.preference_pairs import TASK_ADAPTERS
    from training.eval.record import record_comparison, verdict

    winners, outcome = verdict(results, "SFT", list(adapters), ships, "SFT kept: no refined adapter passed")
    if "SFT" in results:  # rows merged from several runs carry no verdict yet
        for label in adapters:
            results[label]["ships"] = label in winners
    return record_comparison(
        TASK_ADAPTERS[task][1],
        "refinement",
        eval_script="training/eval/ddpo.py",
        rows=results,
        adapters=adapters,
        settings=settings,
        rule=SHIP_RULE,
        outcome=outcome,
        root=root,
    )


def markdown(results: dict) -> str:
    cols = [c for c in next(iter(results.values())) if c != "wqrm_scored"]
    lines = ["| adapter | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    lines += [f"| {k} | " + " | ".join(str(r.get(c, "")) for c in cols) + " |" for k, r in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--task", choices=["continue", "rephrase"], required=True)
    p.add_argument("--base", default="gemma3-270m")
    p.add_argument("--n", type=int, default=16, help="held-out prompts")
    p.add_argument("--samples", type=int, default=8, help="answers per prompt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--adapter", action="append", default=[], help="label=peft folder")
    p.add_argument("--json", type=Path)
    p.add_argument("--skip-sft", action="store_true", help="only the --adapter rows (merge with --from-json)")
    p.add_argument("--record", action="store_true", help="write the result into the SFT adapter's manifest entry")
    p.add_argument("--from-json", type=Path, action="append", help="record rows earlier runs wrote with --json")
    args = p.parse_args(argv)
    adapters = {a.split("=", 1)[0]: Path(a.split("=", 1)[1]) for a in args.adapter}
    settings = {"prompts": args.n, "samples_per_prompt": args.samples, "seed": args.seed}
    if args.from_json:
        from training.eval.record import measured_rows

        results, settings["measured"] = measured_rows(args.from_json)
    else:
        results = evaluate(args.task, args.n, args.samples, adapters, args.base, args.seed, not args.skip_sft)
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.record:
        print(record_refinement(args.task, results, adapters, settings)["outcome"])


if __name__ == "__main__":
    main()
