"""Does the persona help? Mean per-token NLL of held-out continuations under several conditionings.

For each persona (seen in training or not) and each of its held-out paragraphs,
the LM sees BOS, [soft tokens], the first words, and is scored on the rest:

    none         no soft tokens: the frozen LM alone
    prefix only  the projector's persona-independent part (its ``base``): what any fixed prefix buys
    own          the persona built from the same persona's history paragraphs (attention, as trained)
    own (mean)   the same history, plain mean aggregation (the baseline aggregator)
    other        the persona built from another author's history

Lower is better; "own" beating "other" shows the gain comes from the persona itself.

    .venv/bin/python -m training.eval.persona_gain --base gemma3-270m [--per-persona 24] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from training.recipes.persona_projector import continuation_nll, make_example, persona_vectors

# Another author for each persona's "other" column.
OTHER_AUTHOR = {"Austen": "Melville: Moby Dick", "Melville": "Reuters: news", "Reuters": "Austen: Emma"}
CONDITIONS = ("none", "prefix only", "own", "own (mean)", "other")


def _projector_for(base: str, folder: str | None):
    from engine import manifest
    from engine.persona.projector import PersonaProjector

    if folder:
        return PersonaProjector.load(Path(folder)), folder
    found = [
        a for a in manifest.load_manifest().values() if a.kind == "persona_projector" and a.base_model == base
    ]
    if not found:
        raise SystemExit(f"No persona projector for {base} in assets/manifest.json; train one first.")
    art = manifest.artifact(sorted(found, key=lambda a: a.created)[-1].name)
    return PersonaProjector.load(art.folder), art.name


def evaluate(
    base: str, per_persona: int, max_cont: int, batch_size: int, projector_folder: str | None
) -> dict:
    from engine.models import load_model
    from training.data.personas import SEEN, UNSEEN, build_personas, embed_texts, split_prefix

    torch.set_num_threads(1)
    loaded = load_model(base)
    model, tokenizer = loaded.model, loaded.tokenizer
    projector, projector_name = _projector_for(base, projector_folder)
    cfg = projector.config
    personas = build_personas()
    histories = {name: torch.from_numpy(embed_texts(p.history)) for name, p in personas.items()}

    results: dict[str, dict] = {}
    started = time.monotonic()
    for name in SEEN + UNSEEN:
        persona = personas[name]
        splits = [split_prefix(p) for p in persona.heldout[:per_persona]]
        queries = torch.from_numpy(embed_texts([pre for pre, _ in splits]))
        examples = [make_example(tokenizer, pre, cont, max_cont) for pre, cont in splits]
        other = OTHER_AUTHOR[persona.author]
        sums = dict.fromkeys(CONDITIONS, 0.0)
        tokens = 0
        for start in range(0, len(examples), batch_size):
            batch = examples[start : start + batch_size]
            q = queries[start : start + batch_size]
            with torch.no_grad():
                softs = {
                    "none": None,
                    "prefix only": projector.base,
                    "own": projector(
                        persona_vectors(cfg.aggregation, q, histories[name], cfg.top_k, cfg.temperature)
                    ),
                    "own (mean)": projector(
                        persona_vectors("mean", q, histories[name], cfg.top_k, cfg.temperature)
                    ),
                    "other": projector(
                        persona_vectors(cfg.aggregation, q, histories[other], cfg.top_k, cfg.temperature)
                    ),
                }
                for condition, soft in softs.items():
                    s, c = continuation_nll(model, batch, soft)
                    sums[condition] += float(s.sum())
                tokens += int(c.sum())
        row = {condition: sums[condition] / tokens for condition in CONDITIONS}
        row.update(seen=name in SEEN, tokens=tokens, paragraphs=len(examples), other_persona=other)
        results[name] = row
        print(f"{name:32s} " + " ".join(f"{row[c]:.4f}" for c in CONDITIONS), flush=True)
    return {
        "base": base,
        "projector": projector_name,
        "per_persona": per_persona,
        "max_continuation_tokens": max_cont,
        "seconds": round(time.monotonic() - started, 1),
        "personas": results,
    }


def format_table(result: dict) -> str:
    lines = [
        "| persona | seen in training | " + " | ".join(CONDITIONS) + " | other = |",
        "|---|---|" + "---|" * len(CONDITIONS) + "---|",
    ]
    for group in (True, False):
        rows = {n: r for n, r in result["personas"].items() if r["seen"] == group}
        for name, row in rows.items():
            best = min(CONDITIONS, key=lambda c: row[c])
            cells = [f"**{row[c]:.3f}**" if c == best else f"{row[c]:.3f}" for c in CONDITIONS]
            lines.append(
                f"| {name} | {'yes' if group else 'no'} | "
                + " | ".join(cells)
                + f" | {row['other_persona']} |"
            )
        if rows:
            # token-weighted mean over the group's personas
            total = sum(r["tokens"] for r in rows.values())
            means = [sum(r[c] * r["tokens"] for r in rows.values()) / total for c in CONDITIONS]
            label = "mean of seen" if group else "mean of unseen"
            lines.append(f"| *{label}* | | " + " | ".join(f"*{m:.3f}*" for m in means) + " | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--projector", default=None, help="projector folder (default: the manifest's)")
    parser.add_argument("--per-persona", type=int, default=24)
    parser.add_argument("--max-cont", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--json", default=None, help="also write the numbers here")
    args = parser.parse_args(argv)
    result = evaluate(args.base, args.per_persona, args.max_cont, args.batch_size, args.projector)
    print()
    print(f"mean per-token NLL of held-out continuations ({args.base}, projector {result['projector']}):")
    print(format_table(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
