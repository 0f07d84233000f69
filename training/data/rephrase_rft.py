"""Rejection-sampling fine-tuning data for task_rephrase: the rewriter's own takes that the guard verifies.

    python -m training.data.rephrase_rft --round 1 --n 200            # the shipped composition samples
    python -m training.data.rephrase_rft --round 2 --adapters-root R1   # the next round samples from round 1
    python -m training.recipes.sft_lora --config training/configs/gemma3-270m/task_rephrase.yaml \
        data.pairs=.data/rephrase/rft_round1.jsonl output.name=task_rephrase_rft1 ...

Each source sentence (the **train** part of the training corpora, never a held-out writer) gets
``--takes`` takes drawn exactly as the Rephrase dialog draws them (copy-aware decoding, the take
sampling of best-of-n), and a take is kept only if the meaning guard passes it and it changes at least
``MIN_CHANGED`` of the words: the filter of the old builder (training/data/rephrase.py: a MiniLM cosine
and a negation count) passed the very swaps and drops the guard flags. A source keeps its best kept
take (the most words changed). The round's report gives the pass rate, so rounds can be compared.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from training.config import REPO


def verified_takes(
    sources: Iterable[tuple[str, str]],
    draw: Callable[[str, int], list[str]],
    judge: Callable[[str, str], tuple[bool, float, tuple[str, ...]]],
    takes: int,
    round_: int,
    min_changed: float,
) -> tuple[list[dict], dict]:
    """(pairs, report): for each (source, origin), ``draw(source, takes)`` texts, ``judge(source, take)``
    -> (guard ok, words changed, fault kinds); the source's kept pair is its most changed verified take."""
    rows, reasons, drawn, n_sources = [], Counter(), 0, 0
    for source, origin in sources:
        n_sources += 1
        best = None
        for take in draw(source, takes):
            drawn += 1
            ok, changed, kinds = judge(source, take)
            if not ok:
                reasons.update(kinds or ("guard",))
            elif changed < min_changed:
                reasons["near_copy"] += 1
            elif best is None or changed > best["change"]:
                best = {"source": source, "paraphrase": take, "change": round(changed, 4)}
        if best is not None:
            rows.append({**best, "origin": origin, "part": "train", "round": round_})
    kept_takes = drawn - sum(reasons.values())
    report = {
        "round": round_,
        "sources": n_sources,
        "takes_drawn": drawn,
        "takes_passing": kept_takes,
        "pass_rate": round(kept_takes / max(drawn, 1), 4),
        "sources_kept": len(rows),
        "rejected": dict(sorted(reasons.items())),
        "min_changed": min_changed,
    }
    return rows, report


def build(n: int, takes: int, round_: int, out: Path, adapters_root: Path | None, seed: int) -> dict:
    import torch
    from tqdm import tqdm

    from engine.api import Engine
    from engine.errors import KillahError
    from engine.modes import Mode
    from engine.quality.best_of_n import MIN_CHANGED, all_take_params
    from engine.quality.keep import words_changed
    from training.data.tasks import rephrase_sources

    torch.set_num_threads(1)
    started = time.monotonic()
    engine = Engine(threads=1, adapters_root=adapters_root)
    items = rephrase_sources(["austen", "moby_dick", "reuters"], "train", n, seed)

    def draw(source: str, k: int) -> list[str]:
        base = engine.mode_params[Mode.REPHRASE]
        try:
            return ["".join(engine.rephrase(source, params=p)).strip() for p in all_take_params(base, k, seed)]
        except KillahError:
            return []

    def judge(source: str, take: str) -> tuple[bool, float, tuple[str, ...]]:
        verdict = engine.meaning_guard.check(source, take)
        return verdict.ok, words_changed(source, take), verdict.kinds

    rows, report = verified_takes(tqdm(items, desc=f"RFT round {round_}"), draw, judge, takes, round_, MIN_CHANGED)
    report.update(adapters=engine.adapter_status, seconds=round(time.monotonic() - started, 1), seed=seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    out.with_suffix(".report.json").write_text(json.dumps(report, indent=2))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--round", type=int, default=1)
    parser.add_argument("--n", type=int, default=200, help="source sentences")
    parser.add_argument("--takes", type=int, default=4, help="takes drawn per source")
    parser.add_argument("--adapters-root", type=Path, default=None, help="the previous round's manifest folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    out = args.out or REPO / ".data" / "rephrase" / f"rft_round{args.round}.jsonl"
    print(json.dumps(build(args.n, args.takes, args.round, out, args.adapters_root, args.seed), indent=2))


if __name__ == "__main__":
    main()
