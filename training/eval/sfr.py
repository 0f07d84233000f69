"""SFT vs SFT + SFR (training/sfr.py) on the held-out writers: NLL, cross-style collapse, diversity.

Each adapter (a peft folder from training/recipes/sft_lora.py) is put on the base model and scored
on the 5 writers of ``training.data.corpora.HELD_OUT`` (never trained on), with the writer's own
exemplars retrieved from a real style memory before the text, as the app does
(``training.eval.style_retrieval``: memory = the first 85% of the writer's paragraphs):

    NLL        held-out paragraphs: the first 12 words typed, the rest scored (nats/token)
    collapse   continuations sampled after each writer's exemplars (continue mode's sampling, min-p),
               then a nearest-centroid author classifier on MiniLM embeddings (centroids: each
               writer's other held-out paragraphs) names the writer: accuracy, chance = 1/5.
               High accuracy = the text follows the memory that conditioned it; 1/5 = collapse.
    diversity  8 samples per prompt: distinct-2 / distinct-3 of the 8 together and the mean pairwise
               MiniLM cosine distance (1 - cos) of the 8, averaged over prompts

The first adapter is the reference row; the table gives the others' deltas and ratios against it.

    python -m training.eval.sfr --adapter sft=/tmp/sfr_runs/sft/adapter \
        --adapter sfr=/tmp/sfr_runs/sfr/adapter [--per-writer 8 --prompts 3 --samples 8 --json out.json]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from engine import prompts
from engine.modes import DEFAULT_PARAMS, Mode
from engine.persona.exemplars import DEFAULT_BUDGET_TOKENS, DEFAULT_K
from training.eval.ddpo import distinct_n, mean_pairwise_distance
from training.eval.style_retrieval import (
    MAX_CONT,
    MAX_PROMPT,
    build_memory,
    held_out_writers,
    retrieve,
    split_prefix,
)
from training.loss import CompletionLM, mean_completion_nll, tokenize_example

GEN_TOKENS = 40  # per sample: a sentence or two, enough for the classifier and n-gram counts


def conditioned_prompt(memory, prefix: str, key: str, count) -> str:
    """The writer's own exemplars (k and budget as the app) before the typed prefix."""
    exemplars = retrieve(memory, prefix, key, DEFAULT_K, DEFAULT_BUDGET_TOKENS, count)
    return prompts.with_exemplars(exemplars, prompts.continue_prompt(prefix))


def build_sets(loaded, writers, memories, per_writer: int, n_prompts: int) -> tuple[dict, dict]:
    """Per writer: NLL rows (the first held-out paragraphs) and generation prompts (the last ones)."""
    tok = loaded.tokenizer

    def count(text: str) -> int:  # the exemplar budget is in the model's tokens
        return len(tok(text, add_special_tokens=False)["input_ids"])

    nll_rows, gen_prompts = {}, {}
    for name, writer in writers.items():
        splits = [split_prefix(p) for p in writer.heldout[:per_writer]]
        nll_rows[name] = [
            tokenize_example(
                tok, conditioned_prompt(memories[name], pre, f"nll/{i}", count), cont, MAX_PROMPT, MAX_CONT
            )
            for i, (pre, cont) in enumerate(splits)
        ]
        gen_prompts[name] = [
            conditioned_prompt(memories[name], split_prefix(p)[0], f"gen/{i}", count)
            for i, p in enumerate(writer.heldout[-n_prompts:])
        ]
    return nll_rows, gen_prompts


@torch.no_grad()
def sample(model, tok, prompt: str, n: int, seed: int) -> list[str]:
    """``n`` continuations with the continue mode's sampling (temperature, min-p, repetition
    penalty, no-repeat 4-grams), cut at the paragraph end as the engine's continue mode stops."""
    params = DEFAULT_PARAMS[Mode.CONTINUE].sampling
    enc = tok(prompt, return_tensors="pt")
    torch.manual_seed(seed)  # the same seed for every adapter: differences come from the weights
    out = model.generate(
        **enc,
        do_sample=True,
        temperature=params.temperature,
        min_p=params.min_p,
        repetition_penalty=params.repetition_penalty,
        no_repeat_ngram_size=params.no_repeat_ngram,
        max_new_tokens=GEN_TOKENS,
        num_return_sequences=n,
        pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
    )
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return [t.split("\n\n")[0].strip() for t in texts]


class MiniLMCentroids:
    """Nearest centroid (cosine) over MiniLM embeddings of each writer's reference paragraphs."""

    def __init__(self, references: dict[str, list[str]]) -> None:
        from training.data.personas import embed_texts

        self.names = list(references)
        centroids = np.stack([embed_texts(references[n]).mean(0) for n in self.names])
        self.centroids = centroids / np.linalg.norm(centroids, axis=1, keepdims=True)

    def predict(self, vectors: np.ndarray) -> list[str]:
        return [self.names[i] for i in np.argmax(vectors @ self.centroids.T, axis=1)]


def score_samples(samples: dict[str, list[list[str]]], classifier: MiniLMCentroids) -> dict:
    """Collapse accuracy and diversity of one adapter's samples {writer: [8 samples per prompt]}."""
    from engine.persona.encoder import default_encoder

    encoder = default_encoder()
    hits, d2, d3, dist, words = [], [], [], [], []
    per_writer = {}
    for name, groups in samples.items():
        writer_hits = []
        for group in groups:
            kept = [s if s else "." for s in group]  # an empty sample (paragraph ended at once) still counts
            vectors = encoder.encode(kept)
            writer_hits += [p == name for p in classifier.predict(vectors)]
            d2.append(distinct_n(group, 2))
            d3.append(distinct_n(group, 3))
            dist.append(mean_pairwise_distance(vectors))
            words += [len(s.split()) for s in group]
        per_writer[name] = float(np.mean(writer_hits))
        hits += writer_hits
    return {
        "collapse_acc": float(np.mean(hits)),
        "collapse_acc_per_writer": per_writer,
        "distinct_2": float(np.mean(d2)),
        "distinct_3": float(np.mean(d3)),
        "pairwise_dist": float(np.mean(dist)),
        "sample_words": float(np.mean(words)),
        "samples": int(len(hits)),
    }


def evaluate_model(model, tok, nll_rows, gen_prompts, classifier, n_samples: int, with_samples: bool) -> dict:
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    wrapper = CompletionLM(model)
    nll = {name: mean_completion_nll(wrapper, rows, pad, batch_size=4) for name, rows in nll_rows.items()}
    all_rows = [r for rows in nll_rows.values() for r in rows]
    result = {"nll": mean_completion_nll(wrapper, all_rows, pad, batch_size=4), "nll_per_writer": nll}
    if with_samples:
        samples = {
            name: [sample(model, tok, p, n_samples, seed=1000 * w + i) for i, p in enumerate(ps)]
            for w, (name, ps) in enumerate(gen_prompts.items())
        }
        result |= score_samples(samples, classifier)
        result["examples"] = {name: groups[0][:2] for name, groups in samples.items()}
    return result


def table(results: dict, reference: str) -> str:
    """Markdown table: each row against the reference row (delta for NLL, ratio for the rest)."""
    ref = results[reference]
    cols = ("collapse_acc", "distinct_2", "distinct_3", "pairwise_dist")
    head = "| model | NLL | ΔNLL | collapse acc | ratio | distinct-2 | ratio | distinct-3 | ratio | pairwise dist | ratio |"
    lines = [head, "|" + "---|" * 11]
    for name, r in results.items():
        cells = [name, f"{r['nll']:.3f}", f"{r['nll'] - ref['nll']:+.3f}"]
        for c in cols:
            if c in r and c in ref:
                cells += [f"{r[c]:.3f}", f"{r[c] / ref[c]:.2f}" if ref[c] else "-"]
            else:
                cells += ["-", "-"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--adapter", action="append", required=True, help="name=peft folder; the first is the reference"
    )
    ap.add_argument("--base", default="gemma3-270m")
    ap.add_argument("--base-nll", action="store_true", help="also score the bare base (NLL only)")
    ap.add_argument("--per-writer", type=int, default=8, help="held-out paragraphs per writer scored for NLL")
    ap.add_argument("--prompts", type=int, default=3, help="generation prompts per writer")
    ap.add_argument("--samples", type=int, default=8, help="samples per prompt")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    from peft import PeftModel

    from engine.models import load_model

    torch.set_num_threads(args.threads)
    started = time.monotonic()
    adapters = dict(a.split("=", 1) for a in args.adapter)
    loaded = load_model(args.base)
    writers = held_out_writers()
    with tempfile.TemporaryDirectory() as folder:
        memories = {n: build_memory(w, Path(folder)) for n, w in writers.items()}
        nll_rows, gen_prompts = build_sets(loaded, writers, memories, args.per_writer, args.prompts)
    references = {n: w.heldout[: -args.prompts] for n, w in writers.items()}
    classifier = MiniLMCentroids(references)
    names = list(adapters)
    model = PeftModel.from_pretrained(loaded.model, adapters[names[0]], adapter_name=names[0])
    for name in names[1:]:
        model.load_adapter(adapters[name], adapter_name=name)
    model.eval()
    results = {}
    for name in names:
        model.set_adapter(name)
        results[name] = evaluate_model(
            model, loaded.tokenizer, nll_rows, gen_prompts, classifier, args.samples, True
        )
        print(json.dumps({name: {k: v for k, v in results[name].items() if k != "examples"}}), flush=True)
    if args.base_nll:
        with model.disable_adapter():
            results["base (no adapter)"] = evaluate_model(
                model, loaded.tokenizer, nll_rows, gen_prompts, classifier, args.samples, False
            )
    out = {
        "results": results,
        "adapters": adapters,
        "writers": list(writers),
        "nll_paragraphs": sum(len(r) for r in nll_rows.values()),
        "prompts": sum(len(p) for p in gen_prompts.values()),
        "samples_per_prompt": args.samples,
        "gen_tokens": GEN_TOKENS,
        "seconds": round(time.monotonic() - started, 1),
    }
    print(table(results, names[0]))
    print(json.dumps({k: v for k, v in out.items() if k != "results"}))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
