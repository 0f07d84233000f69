"""How often does Rephrase break the meaning: one sample (today) vs best-of-n + guard (shown first)?

    python -m training.eval.meaning_guard generate --limit 70     # takes -> .data/meaning_guard/takes.jsonl
    python -m training.eval.meaning_guard generate --backend executorch   # the cached INT8 program, ~10x faster
    python -m training.eval.meaning_guard report                  # rates, guard precision/recall
    python -m training.eval.meaning_guard report --takes training/data/meaning_guard_takes.jsonl  # the 11 units of 2026-11-26
    python -m training.eval.meaning_guard perturb                 # guard recall on rule-made faults (no LM)

``generate`` runs the default Rephrase composition (Engine(), eager, adapters on) over the held-out
set (training/data/meaning_guard_set.jsonl): ``--n`` takes per unit through
``Engine.rephrase_candidates``. Take 0 uses the mode's default sampling, so it IS today's single
sample (the baseline); the set's ranking gives what best-of-n shows first. Resumable: units already
in the output file are skipped, so the run can be stopped and continued.

``report`` judges meaning with the hand labels in training/data/meaning_guard_labels.jsonl (labelled
by reading source and rewrite, without the guard's verdict on screen; independent of the guard's
rules) and re-runs the guard with today's thresholds on the stored takes, so threshold changes need
no new generation. Rates are given on the dev and the test split apart (thresholds were tuned on dev).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import re
import time
from pathlib import Path

from training.config import REPO
from training.data.meaning_guard import load_set

OUT = REPO / ".data" / "meaning_guard" / "takes.jsonl"
LABELS = REPO / "training" / "data" / "meaning_guard_labels.jsonl"


def _seed(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def generate(
    limit: int,
    n: int,
    out: Path,
    reverse: bool = False,
    backend: str = "eager",
    split: str | None = None,
    skip: tuple[Path, ...] = (),
) -> None:
    import torch

    torch.set_num_threads(1)
    from engine.api import Engine
    from engine.errors import KillahError

    # Units already in the output file, or in another backend's file (--skip: run only the rest).
    done = {
        json.loads(line)["text"] for f in (out, *skip) if f.exists() for line in f.read_text().splitlines()
    }
    dev, test = load_set("dev"), load_set("test")
    # A first slice of dev (to tune on), then test, then the rest of dev. A second process walks
    # test from its end (two cores, two writers, two files), then dev.
    order = [*test[::-1], *dev[::-1]] if reverse else [*dev[:10], *test, *dev[10:]]
    order = [u for u in order if split is None or u["split"] == split][:limit]
    todo = [u for u in order if u["text"] not in done]
    # "executorch" uses the Rephrase composition's cached program (stays on eager if none is cached:
    # each row records the backend that served it). Its takes differ from eager's (INT8 weights).
    engine = Engine(backend=backend, threads=1)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"{len(todo)} units to do ({len(done)} done), {n} takes each; {engine.adapter_status}", flush=True)
    for i, unit in enumerate(todo):
        started = time.perf_counter()
        try:
            takes = engine.rephrase_candidates(unit["text"], n=n, seed=_seed(unit["text"]))
        except KillahError as exc:  # refused as code/table/another language: say so, count it apart
            print(f"{i + 1}/{len(todo)} refused: {exc}", flush=True)
            continue
        raw = sorted(takes.candidates, key=lambda c: MIN_P_ORDER.index(c.min_p))
        row = {
            "text": unit["text"],
            "split": unit["split"],
            "source": unit["source"],
            "takes": [{"text": c.text, "min_p": c.min_p, "seconds": round(c.seconds, 2)} for c in raw],
            "backend": engine.backend.name,
            "seconds": round(time.perf_counter() - started, 2),
        }
        with out.open("a") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{i + 1}/{len(todo)} {row['seconds']:.1f}s {unit['split']}", flush=True)


MIN_P_ORDER = [0.15, 0.3, 0.05, 0.22, 0.1]  # the default Rephrase min-p first (engine.quality.best_of_n)


def _labels() -> dict[tuple[str, str], dict]:
    if not LABELS.exists():
        return {}
    rows = [json.loads(line) for line in LABELS.read_text().splitlines() if line.strip()]
    return {(r["source"], " ".join(r["output"].split())): r for r in rows}


def _rate(k: int, n: int) -> str:
    if n == 0:
        return "-"
    # Wilson 95 % interval: small n, rates near 0.
    p, z = k / n, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return f"{k}/{n} = {p:.1%} [{max(0, centre - half):.1%}, {min(1, centre + half):.1%}]"


def report(path: Path, verbose: bool = False) -> None:
    from engine.quality.best_of_n import Candidate, default_scorer, rank
    from engine.quality.guard import MeaningGuard

    rows, seen = [], set()
    for file in sorted(path.parent.glob(path.stem + "*.jsonl")):  # takes.jsonl, takes-2.jsonl, ...
        for line in file.read_text().splitlines():
            row = json.loads(line) if line.strip() else None
            if row is not None and row["text"] not in seen:
                seen.add(row["text"])
                rows.append(row)
    labels = _labels()
    guard = MeaningGuard()
    # The engine's own scorer (the WQRM when installed), so "shown first" is what the dialog shows.
    scorer = default_scorer()
    print(f"takes ranked by {scorer.name}")
    stats: dict[str, dict[str, int]] = {}
    pr = {"tp": 0, "fp": 0, "fn": 0, "tn": 0}
    for row in rows:
        src = row["text"]
        texts = [t["text"] for t in row["takes"]]
        verdicts = guard.check_many(src, texts)
        scores = scorer.score(src, texts)
        cands = [
            Candidate(t, t_["min_p"], 0, t_["seconds"], v, s)
            for t, t_, v, s in zip(texts, row["takes"], verdicts, scores, strict=True)
        ]
        shown = rank(cands)[0]
        s = stats.setdefault(
            row["split"],
            dict.fromkeys(
                (
                    "units",
                    "base_flag",
                    "base_lab",
                    "base_bad",
                    "best_lab",
                    "best_bad",
                    "best_silent",
                    "warned",
                ),
                0,
            ),
        )
        s["units"] += 1
        s["base_flag"] += not verdicts[0].ok
        s["warned"] += shown.demoted
        base_label = labels.get((src, " ".join(texts[0].split())))
        if base_label is not None:
            s["base_lab"] += 1
            s["base_bad"] += base_label["label"] == "broken"
        best_label = labels.get((src, " ".join(shown.text.split())))
        if best_label is not None:
            s["best_lab"] += 1
            s["best_bad"] += best_label["label"] == "broken"
            # Shown first with no warning: the dialog presents it as the best take.
            s["best_silent"] += best_label["label"] == "broken" and not shown.demoted
        for text, verdict in zip(texts, verdicts, strict=True):
            label = labels.get((src, " ".join(text.split())))
            if label is None:
                continue
            bad, flagged = label["label"] == "broken", not verdict.ok
            pr["tp" if bad and flagged else "fp" if flagged else "fn" if bad else "tn"] += 1
            if verbose:
                print(f"{label['label']:6} {'FLAG' if flagged else 'pass':4} {text[:90]!r} {verdict.reasons}")
    print(
        "| split | units | single sample (take 0): broken, hand labels | single sample: flagged by the guard "
        "| best-of-n shown first: broken | ... of which shown with no warning | shown first with the "
        "'no take is sure' warning |"
    )
    print("|---|---|---|---|---|---|---|")
    for split, s in sorted(stats.items()):
        print(
            f"| {split} | {s['units']} | {_rate(s['base_bad'], s['base_lab'])} | {_rate(s['base_flag'], s['units'])} "
            f"| {_rate(s['best_bad'], s['best_lab'])} | {_rate(s['best_silent'], s['best_lab'])} "
            f"| {_rate(s['warned'], s['units'])} |"
        )
    precision = pr["tp"] / max(1, pr["tp"] + pr["fp"])
    recall = pr["tp"] / max(1, pr["tp"] + pr["fn"])
    print(
        f"\nguard on {sum(pr.values())} hand-labelled takes: precision {precision:.2f}, recall {recall:.2f} ({pr})"
    )


_AUX = re.compile(
    r"\b(was|were|is|are|had|has|have|could|would|should|will|can|did|does|do|might|must)\b(?! not)"
)
_NUM_WORDS = {
    "two": "three",
    "three": "four",
    "four": "five",
    "five": "six",
    "six": "seven",
    "ten": "twelve",
    "twenty": "thirty",
    "hundred": "thousand",
    "thousand": "hundred",
    "first": "second",
}


def perturbations(text: str) -> dict[str, str]:
    """Meaning-breaking edits made by rules of this script (not the guard's): fault type -> edited text."""
    out = {}
    neg = re.search(r"\b(not|never)\s+|n't\b", text)
    if neg:
        out["negation removed"] = text[: neg.start()] + text[neg.end() :]
    elif _AUX.search(text):
        m = _AUX.search(text)
        out["negation added"] = text[: m.end()] + " not" + text[m.end() :]
    num = re.search(r"\b\d+\b", text)
    if num:
        out["number changed"] = text[: num.start()] + str(int(num.group()) + 7) + text[num.end() :]
    else:
        word = next((w for w in _NUM_WORDS if re.search(rf"\b{w}\b", text)), None)
        if word:
            out["number changed"] = re.sub(rf"\b{word}\b", _NUM_WORDS[word], text, count=1)
    name = re.search(r"(?<=[a-z,;] )([A-Z][a-z]{2,})\b", text)
    if name and name.group(1) not in {"Harriet", "I"}:
        out["name changed"] = text[: name.start()] + "Harriet" + text[name.end() :]
    parts = text.rsplit(", ", 1)
    if len(parts) == 2 and len(parts[1].split()) >= 5 and len(parts[0].split()) >= 4:
        out["clause dropped"] = parts[0].rstrip(",;") + "."
    return out


def perturb_report() -> None:
    """Recall of the guard on rule-made faults over the whole held-out set, per fault type and split."""
    from engine.quality.guard import MeaningGuard

    guard = MeaningGuard()
    counts: dict[tuple[str, str], list[int]] = {}
    for unit in load_set():
        edits = perturbations(unit["text"])
        verdicts = guard.check_many(unit["text"], list(edits.values())) if edits else []
        for kind, verdict in zip(edits, verdicts, strict=True):
            c = counts.setdefault((unit["split"], kind), [0, 0])
            c[0] += not verdict.ok
            c[1] += 1
    print("| split | fault (made by rule) | caught by the guard |")
    print("|---|---|---|")
    for (split, kind), (k, n) in sorted(counts.items()):
        print(f"| {split} | {kind} | {_rate(k, n)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument(
        "--limit", type=int, default=70, help="units to run (about 40 s each on a loaded 2-core VM)"
    )
    g.add_argument("--n", type=int, default=3, help="takes per unit")
    g.add_argument("--out", type=Path, default=OUT)
    g.add_argument("--reverse", action="store_true", help="walk the units from the end (a second process)")
    g.add_argument("--backend", default="eager", choices=["eager", "executorch"], help="what serves Rephrase")
    g.add_argument("--split", choices=["dev", "test"], help="only this split's units")
    g.add_argument(
        "--skip", type=Path, nargs="*", default=[], help="takes files whose units are not run again"
    )
    sub.add_parser("perturb", help="guard recall on rule-made faults over the whole set (no LM)")
    r = sub.add_parser("report")
    r.add_argument("--takes", type=Path, default=OUT)
    r.add_argument("--verbose", action="store_true", help="print each labelled take with the guard's verdict")
    args = parser.parse_args()
    if args.command == "generate":
        generate(args.limit, args.n, args.out, args.reverse, args.backend, args.split, tuple(args.skip))
    elif args.command == "perturb":
        perturb_report()
    else:
        report(args.takes, args.verbose)


if __name__ == "__main__":
    main()
