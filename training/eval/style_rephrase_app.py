"""Rephrase vs "Rephrase in my style" through the engine's own app path, on held-out writers.

    python -m training.eval.style_rephrase_app --per-writer 4 [--json out.json]

For each English held-out writer W (training/data/corpora.py HELD_OUT): a style memory of W's
first ``MEMORY_PARAGRAPHS`` paragraphs, and sentences of the next held-out writer to rewrite
towards W. Each sentence goes through ``Engine.rephrase_candidates`` (Rephrase) and
``Engine.rephrase_in_style_candidates`` (the writer's retrieved paragraphs before the prompt,
served by whatever composition the manifest gives: task_rephrase_style, or task_rephrase standing
in). The take the app shows first is scored with training/eval/style_rl.py's measures against the
sentences of W's memory, and the guard's verdict on it is counted. A style request the engine refuses
(no usable paragraph of W: empty, paused, or another script) is counted and left out of the paired rows.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

MEMORY_PARAGRAPHS = 40
REFERENCE_SENTENCES = 48  # as many of W's sentences as grpo_style.py scores R_style against


def writer_items(per_writer: int, seed: int = 0) -> list[tuple[str, list[str], str]]:
    """(target writer, its memory paragraphs, a sentence of the next writer) for every English held-out writer."""
    from training.data.corpora import HELD_OUT, SOURCES, load_corpus
    from training.data.tasks import sentences

    english = [w for w in HELD_OUT if SOURCES[w].language == "en"]
    paragraphs = {
        w: [p for ps in load_corpus(w).values() for p in ps if len(p.split()) >= 25] for w in english
    }
    rng, items = random.Random(seed), []
    for i, writer in enumerate(english):
        other = english[(i + 1) % len(english)]
        pool = [s for p in paragraphs[other][-60:] for s in sentences(p) if 8 <= len(s.split()) <= 30]
        for source in rng.sample(pool, min(per_writer, len(pool))):
            items.append((writer, paragraphs[writer][:MEMORY_PARAGRAPHS], source))
    return items


def memory_of(folder: Path, writer: str, paragraphs: list[str]):
    from engine.persona import StyleMemory

    (folder / writer).mkdir(parents=True, exist_ok=True)
    (folder / writer / f"{writer}.txt").write_text("\n\n".join(paragraphs) + "\n")
    memory = StyleMemory(folder / f"{writer}.sqlite3")
    memory.add_folder(folder / writer)
    return memory


def run(per_writer: int, seed: int = 0) -> dict:
    import numpy as np

    from engine.api import Engine
    from engine.errors import PromptError, StyleError
    from engine.persona import StyleRequest
    from engine.persona.encoder import default_encoder
    from training.data.tasks import sentences
    from training.eval.style_rl import score_rewrites, style_similarity
    from training.rl.entities import named_entities

    engine, encoder = Engine(), default_encoder()
    items = writer_items(per_writer, seed)
    rows: dict[str, list] = {"rephrase": [], "in my style": []}
    refused, skipped, seconds = [], [], {"rephrase": [], "in my style": []}
    with tempfile.TemporaryDirectory() as tmp:
        memories = {w: memory_of(Path(tmp), w, ps) for w, ps in {w: ps for w, ps, _ in items}.items()}
        for k, (writer, paragraphs, source) in enumerate(items):
            rng = random.Random(seed + k)
            ref = [s for p in paragraphs for s in sentences(p)]
            ref_vecs = encoder.encode(rng.sample(ref, min(len(ref), REFERENCE_SENTENCES)))
            engine.attach_style_memory(memories[writer])
            engine.generator.invalidate()  # each request starts cold, as a new selection does
            started = time.perf_counter()
            try:
                plain = engine.rephrase_candidates(source, n=3, seed=seed + k)
            except PromptError as exc:  # Rephrase itself refuses it (code-like, another language): not a pair
                skipped.append({"writer": writer, "source": source, "why": str(exc)})
                continue
            seconds["rephrase"].append(time.perf_counter() - started)
            engine.generator.invalidate()
            started = time.perf_counter()
            try:
                styled = engine.rephrase_in_style_candidates(
                    source, style=StyleRequest(f"eval-{k}"), n=3, seed=seed + k
                )
            except StyleError as exc:
                refused.append({"writer": writer, "source": source, "why": str(exc)})
                continue
            seconds["in my style"].append(time.perf_counter() - started)
            for label, found in (("rephrase", plain), ("in my style", styled)):
                best = found.best
                rows[label].append(
                    (writer, source, best.text if best else "", ref_vecs, best and not best.demoted)
                )
    served_by = engine.adapters.status("rephrase_style") if engine.adapters else engine.adapter_status
    gain = paired_gain(
        [style_similarity(encoder.encode(sentences(r[2]) or [r[2] or "-"]), r[3]) for r in rows["rephrase"]],
        [
            style_similarity(encoder.encode(sentences(r[2]) or [r[2] or "-"]), r[3])
            for r in rows["in my style"]
        ],
    )
    results = {}
    for label, got in rows.items():
        scores = score_rewrites(
            [r[1] for r in got],
            [r[2] for r in got],
            [r[3] for r in got],
            encode=encoder.encode,
            split=sentences,
            entities=named_entities,
        )
        scores["guard_pass"] = round(sum(bool(r[4]) for r in got) / max(1, len(got)), 4)
        scores["seconds_p50"] = round(float(np.median(seconds[label])), 2) if seconds[label] else None
        results[label] = scores
    texts = [
        {
            "writer": p[0],
            "source": p[1],
            "rephrase": p[2],
            "in my style": q[2],
            "guarded": [bool(p[4]), bool(q[4])],
        }
        for p, q in zip(rows["rephrase"], rows["in my style"], strict=True)
    ]
    return {
        "results": results,
        "gain": gain,
        "refused": refused,
        "items": len(items),
        "served_by": served_by,
        "texts": texts,
        "skipped": skipped,
    }


def paired_gain(a: list[float], b: list[float], rounds: int = 2000, seed: int = 0) -> dict:
    """Mean of b - a over the same sentences, with a 95% paired bootstrap interval."""
    diffs = [y - x for x, y in zip(a, b, strict=True)]
    if not diffs:
        return {"gain": None, "ci95": None}
    rng = random.Random(seed)
    means = sorted(sum(rng.choice(diffs) for _ in diffs) / len(diffs) for _ in range(rounds))
    return {"gain": round(sum(diffs) / len(diffs), 4), "ci95": [round(means[50], 4), round(means[1949], 4)]}


def markdown(report: dict) -> str:
    cols = [
        "style_sim",
        "input_style_sim",
        "svc",
        "not_rewritten",
        "ne_kept",
        "length_ratio",
        "guard_pass",
        "seconds_p50",
        "n",
    ]
    from training.eval.style_rl import table

    res = report["results"]
    lines = [table(res, cols)]
    a, b = res["rephrase"]["style_sim"], res["in my style"]["style_sim"]
    if a and b:
        g = report["gain"]
        lines.append(
            f"\nstyle_sim ratio in my style / rephrase: {b / a:.3f}; difference {g['gain']:+.4f} "
            f"(95% paired bootstrap {g['ci95'][0]:+.4f} to {g['ci95'][1]:+.4f})"
        )
    lines.append(f"refused (no usable paragraph): {len(report['refused'])} of {report['items']}")
    lines.append(f"skipped (Rephrase itself refuses the sentence): {len(report['skipped'])}")
    lines.append(f"composition: {report['served_by']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--per-writer", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    report = run(args.per_writer, args.seed)
    print(markdown(report), flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
