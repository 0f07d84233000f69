"""Does retrieval condition the text on the writer? Held-out writers, the engine's own retrieval and prompt.

Each held-out writer's paragraphs are split as in ``training.data.personas``: the first 85% go into a
real style memory (SQLite file, MiniLM vectors, ``StyleMemory.exemplars``), the last 15% are held out.
For each held-out paragraph the model sees its first 12 words (the typed prefix) and is scored on the
rest (mean NLL, nats/token, base model, no adapters), under:

    none          the prefix alone
    own           the writer's own exemplars (``engine.prompts.with_exemplars``) before the prefix
    other         another held-out writer's exemplars, retrieved with the same query
    own + soft    own exemplars and the shipped projector's soft tokens (--soft)

Then (unless --nll-only): continuations generated with style on / off, scored by Burrows' Delta over
function words (faststylometry) against every held-out writer's held-out text, and by a nearest-centroid
author classifier (function-word frequencies standardised on the NON-held-out authors' text); the
share of generated 8-grams copied from the exemplars; and ghost-text keystroke savings with style on
vs off (``training.eval.adapters`` replay, paired bootstrap).

    python -m training.eval.style_retrieval [--per-writer 24] [--json out.json]
    python -m training.eval.style_retrieval --grid --per-writer 12      # choose k, budget, format
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from engine import prompts
from engine.persona import StyleMemory, StyleRequest
from engine.persona.exemplars import DEFAULT_BUDGET_TOKENS, DEFAULT_K
from training.loss import CompletionLM, mean_completion_nll, tokenize_example

MAX_CONT = 40  # continuation tokens scored per paragraph
MAX_PROMPT = 900  # exemplars (<= 512 tokens) + the prefix fit untruncated
GEN_TOKENS = 60
NGRAM = 8


@dataclass
class Writer:
    name: str
    history: list[str]  # what the style memory holds
    heldout: list[str]  # never in the memory: the paragraphs scored


MIN_WORDS = 25  # shorter paragraphs (headings, dictionary one-liners) carry too little to predict
MAX_MEMORY = 300  # memory paragraphs per writer: a few documents' worth; bounds MiniLM time on a loaded core
HELD_OUT_MIN = 32  # held-out paragraphs per writer: 24 scored for NLL + 8 generation prompts


def writer_from_paragraphs(name: str, paragraphs: list[str]) -> Writer:
    """The tail of a writer's long paragraphs is held out; the rest (thinned evenly) is the memory."""
    kept = [p for p in paragraphs if len(p.split()) >= MIN_WORDS]
    cut = len(kept) - max(HELD_OUT_MIN, int(len(kept) * 0.15))
    history = kept[:cut]
    if len(history) > MAX_MEMORY:
        step = len(history) / MAX_MEMORY
        history = [history[int(i * step)] for i in range(MAX_MEMORY)]
    return Writer(name, history, kept[cut:])


def held_out_writers(names: list[str] | None = None) -> dict[str, Writer]:
    """The corpora's fixed held-out writers (never trained on by any recipe), or the named corpora."""
    from training.data.corpora import HELD_OUT, load_corpus

    return {
        name: writer_from_paragraphs(name, [p for paras in load_corpus(name).values() for p in paras])
        for name in (names or HELD_OUT)
    }


def training_authors_text(exclude: set[str]) -> dict[str, list[str]]:
    """Paragraphs of English writers that are NOT held out (the classifier's standardisation)."""
    from training.data.corpora import load_corpus, training_corpora

    out = {}
    for name in training_corpora("en"):
        if name not in exclude:
            paras = [p for ps in load_corpus(name).values() for p in ps if len(p.split()) >= MIN_WORDS]
            out[name] = paras[:: max(1, len(paras) // 150)][:150]
    return out


def english(names: list[str]) -> list[str]:
    """Burrows' Delta and the function-word classifier count English words only."""
    from training.data.corpora import SOURCES

    return [n for n in names if n not in SOURCES or SOURCES[n].language == "en"]


def build_memory(writer: Writer, folder: Path) -> StyleMemory:
    """A real style memory (SQLite file) holding the writer's history paragraphs as one document."""
    from training.data.personas import embed_texts

    memory = StyleMemory(folder / f"{writer.name}.sqlite3")
    vectors = embed_texts(writer.history)
    name = writer.name + ".txt"
    memory.store.replace_document(str(folder / name), 0, 0, "eval", "txt", writer.history, vectors)
    return memory


def split_prefix(paragraph: str, words: int = 12) -> tuple[str, str]:
    parts = paragraph.split()
    return " ".join(parts[:words]), " " + " ".join(parts[words:])


def retrieve(memory: StyleMemory, text: str, key: str, k: int, budget: int, count) -> list[str]:
    found = memory.exemplars(text, StyleRequest(document=key), budget_tokens=budget, k=k, count_tokens=count)
    return found.texts


# ---------------------------------------------------------------- NLL


def nll(loaded, prompts_and_conts: list[tuple[str, str]], soft=None) -> float:
    tok = loaded.tokenizer
    rows = [tokenize_example(tok, p, c, MAX_PROMPT, MAX_CONT) for p, c in prompts_and_conts]
    if soft is not None:
        for row, s in zip(rows, soft, strict=True):
            row["soft_tokens"] = s
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    return mean_completion_nll(CompletionLM(loaded.model), rows, pad, batch_size=4)


def other_of(names: list[str], name: str) -> str:
    return names[(names.index(name) + 1) % len(names)]


def nll_table(
    loaded,
    writers,
    memories,
    per_writer,
    k,
    budget,
    fmt,
    nearest_last,
    soft_fn=None,
    conditions=("none", "own", "other"),
    score: list[str] | None = None,
) -> dict:
    count = _counter(loaded.tokenizer)
    names = list(writers)
    rows = {}
    for name in tqdm(score or names, desc=f"NLL k={k} budget={budget} {fmt}"):
        splits = [split_prefix(p) for p in writers[name].heldout[:per_writer]]
        other = other_of(names, name)
        row: dict = {"other_writer": other, "paragraphs": len(splits)}

        def exemplars_of(writer: str, splits=splits, name=name) -> list[list[str]]:
            return [
                retrieve(memories[writer], pre, f"{name}/{i}", k, budget, count)
                for i, (pre, _) in enumerate(splits)
            ]

        def cond(exs, splits=splits):
            return [
                (prompts.with_exemplars(ex, pre, fmt, nearest_last), cont)
                for ex, (pre, cont) in zip(exs, splits, strict=True)
            ]

        if "none" in conditions:
            row["none"] = nll(loaded, splits)
        own_ex = exemplars_of(name)
        row["own_exemplars_mean"] = float(np.mean([len(e) for e in own_ex]))
        row["own_tokens_mean"] = float(np.mean([count(prompts.with_exemplars(e, "")) for e in own_ex]))
        if "own" in conditions:
            row["own"] = nll(loaded, cond(own_ex))
        if "other" in conditions:
            row["other"] = nll(loaded, cond(exemplars_of(other)))
        if soft_fn is not None:
            soft = soft_fn(name, [pre for pre, _ in splits])
            row["own + soft"] = nll(loaded, cond(own_ex), soft)
        rows[name] = row
        print(
            f"{name}: "
            + ", ".join(f"{c} {row[c]:.3f}" for c in ("none", "own", "other", "own + soft") if c in row),
            flush=True,
        )
    return rows


def _counter(tokenizer):
    return lambda text: len(tokenizer(text, add_special_tokens=False)["input_ids"])


def soft_tokens_fn(loaded, writers):
    """Soft tokens of the shipped projector for a writer's history (the old persona path), per query."""
    from training.data.personas import embed_texts
    from training.eval.persona_gain import _projector_for
    from training.recipes.persona_projector import persona_vectors

    projector, name = _projector_for(loaded.info.name, None)
    cfg = projector.config
    histories = {n: torch.from_numpy(embed_texts(w.history)) for n, w in writers.items()}

    def fn(writer: str, queries: list[str]) -> list[torch.Tensor]:
        q = torch.from_numpy(embed_texts(queries))
        with torch.no_grad():
            soft = projector(
                persona_vectors(cfg.aggregation, q, histories[writer], cfg.top_k, cfg.temperature)
            )
        return list(soft)

    return fn, name


# ---------------------------------------------------------------- generation and stylometry


@torch.no_grad()
def generate(loaded, prompt_texts: list[str], seed: int = 0) -> list[str]:
    """Sampled continuations (the continue mode's temperature), one batch per call, left-padded."""
    tok, model = loaded.tokenizer, loaded.model
    tok.padding_side = "left"
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    torch.manual_seed(seed)
    out = []
    for i in range(0, len(prompt_texts), 4):
        enc = tok(prompt_texts[i : i + 4], return_tensors="pt", padding=True)
        gen = model.generate(
            **enc, do_sample=True, temperature=0.8, top_p=0.95, max_new_tokens=GEN_TOKENS, pad_token_id=pad
        )
        out += [tok.decode(row, skip_special_tokens=True) for row in gen[:, enc["input_ids"].shape[1] :]]
    return out


def copied_share(text: str, sources: list[str], n: int = NGRAM) -> float:
    """Share of the text's word n-grams that also occur in ``sources`` (verbatim copying of exemplars)."""
    words = text.split()
    grams = {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}
    if not grams:
        return 0.0
    seen = set()
    for s in sources:
        w = s.split()
        seen |= {tuple(w[i : i + n]) for i in range(len(w) - n + 1)}
    return len(grams & seen) / len(grams)


def burrows_delta(references: dict[str, str], tests: dict[str, str]) -> dict[str, dict[str, float]]:
    """Delta of each test text to each reference author (faststylometry, 50 most frequent words)."""
    from faststylometry import Corpus, calculate_burrows_delta, tokenise_remove_pronouns_en

    train, test = Corpus(), Corpus()
    for author, text in references.items():
        train.add_book(author, "heldout", text)
    for key, text in tests.items():
        test.add_book(key, "generated", text)
    train.tokenise(tokenise_remove_pronouns_en)
    test.tokenise(tokenise_remove_pronouns_en)
    frame = calculate_burrows_delta(train, test, vocab_size=50)  # rows: reference authors, columns: tests
    return {
        str(col).split(" - ")[0]: {str(idx): float(frame.loc[idx, col]) for idx in frame.index}
        for col in frame.columns
    }


FUNCTION_WORDS = (
    "the of and to a in that it is was he for on as with his be at by i this had not are but from or have an "
    "they which one you were her all she there would their we him been has when who will more no if out so "
    "said what up its about into than them can only other new some could time these two may then do first "
    "any my now such like our over man me even most made after also did many before must through back years "
    "where much your way well down should because each just those mr how too little state good very make "
    "world still own see men work long get here between both life being under never day same another know "
    "while last might us great old year off come since against go came right used take three"
).split()


def fw_features(text: str) -> np.ndarray:
    words = [w.strip(".,;:!?\"'()").lower() for w in text.split()]
    total = max(1, len(words))
    counts = {w: 0 for w in FUNCTION_WORDS}
    for w in words:
        if w in counts:
            counts[w] += 1
    return np.array([counts[w] / total for w in FUNCTION_WORDS], dtype=np.float64)


def chunks(paragraphs: list[str], words: int = 60) -> list[str]:
    flat = " ".join(paragraphs).split()
    return [" ".join(flat[i : i + words]) for i in range(0, len(flat) - words + 1, words)]


class CentroidClassifier:
    """Nearest centroid on function-word frequencies, z-scored with statistics of the NON-held-out authors."""

    def __init__(self, training_text: dict[str, list[str]], heldout_text: dict[str, list[str]]) -> None:
        train = np.stack([fw_features(c) for paras in training_text.values() for c in chunks(paras)])
        self.mean, self.std = train.mean(0), train.std(0) + 1e-6
        self.centroids = {
            name: np.mean([self._z(c) for c in chunks(paras)], axis=0) for name, paras in heldout_text.items()
        }

    def _z(self, text: str) -> np.ndarray:
        return (fw_features(text) - self.mean) / self.std

    def predict(self, text: str) -> str:
        z = self._z(text)
        return min(self.centroids, key=lambda n: float(np.linalg.norm(z - self.centroids[n])))


def style_table(loaded, writers, memories, n_prompts: int, k: int, budget: int) -> dict:
    count = _counter(loaded.tokenizer)
    names = english(list(writers))
    generated: dict[tuple[str, str], list[str]] = {}
    copied: dict[str, float] = {}
    for name in tqdm(names, desc="generate (style on/off)"):
        paras = writers[name].heldout[-n_prompts:]  # the last held-out paragraphs: not the NLL ones
        prefixes = [split_prefix(p)[0] for p in paras]
        exs = [
            retrieve(memories[name], pre, f"gen/{name}/{i}", k, budget, count)
            for i, pre in enumerate(prefixes)
        ]
        generated[(name, "off")] = generate(loaded, prefixes)
        generated[(name, "on")] = generate(
            loaded, [prompts.with_exemplars(e, p) for e, p in zip(exs, prefixes, strict=True)]
        )
        copied[name] = float(
            np.mean([copied_share(t, e) for t, e in zip(generated[(name, "on")], exs, strict=True)])
        )
    Path("/tmp/style_retrieval_generated.json").write_text(
        json.dumps({f"{n}|{c}": v for (n, c), v in generated.items()}, indent=1)
    )  # kept if the scoring below fails
    references = {n: " ".join(writers[n].heldout[: -n_prompts or None]) for n in names}
    tests = {f"{n}|{c}": " ".join(generated[(n, c)]) for n in names for c in ("off", "on")}
    delta = burrows_delta(references, tests)
    classifier = CentroidClassifier(
        training_authors_text(set(writers)), {n: writers[n].heldout[: -n_prompts or None] for n in names}
    )
    rows = {}
    for n in names:
        row = {"copied_8gram_share": copied[n]}
        for c in ("off", "on"):
            d = delta[f"{n}|{c}"]
            others = {a: v for a, v in d.items() if a != n}
            row[f"delta_own_{c}"] = d[n]
            row[f"delta_best_other_{c}"] = min(others.values())
            row[f"closest_is_own_{c}"] = d[n] < min(others.values())
            row[f"classifier_acc_{c}"] = float(
                np.mean([classifier.predict(t) == n for t in generated[(n, c)]])
            )
        rows[n] = row
    return {"rows": rows, "samples": {f"{n}|{c}": v[:2] for (n, c), v in generated.items()}}


# ---------------------------------------------------------------- keystroke savings


def keystroke_items(writer: Writer, n_sentences: int, seed: int = 3) -> list[tuple[str, str]]:
    """(previous held-out paragraph + the sentence's predecessors, a sentence of 6-25 words), shuffled."""
    from training.data import tasks

    pool = []
    for i, p in enumerate(writer.heldout[1:], start=1):
        sents = tasks.sentences(p)
        for j, s in enumerate(sents):
            if 6 <= len(s.split()) <= 25 and '"' not in s:
                pool.append((writer.heldout[i - 1] + "\n\n" + "".join(x + " " for x in sents[:j]), s))
    random.Random(seed).shuffle(pool)
    return pool[:n_sentences]


def keystroke_table(loaded, writers, memories, n_sentences: int, k: int, budget: int) -> dict:
    """Ghost-text replay per writer, style off then on (the exemplars fixed per sentence, as the
    engine's per-paragraph cache keeps them); the gain over all writers with a 95% paired bootstrap."""
    from training.eval.adapters import autocomplete_metrics, savings_gain

    count = _counter(loaded.tokenizer)
    rows, keys_off, keys_on, chars = {}, [], [], []
    for name, writer in writers.items():
        started = time.monotonic()
        items = keystroke_items(writer, n_sentences)
        lead = {
            before: prompts.with_exemplars(
                retrieve(memories[name], before, f"ks/{name}/{i}", k, budget, count), ""
            )
            for i, (before, _) in enumerate(items)
        }
        off = autocomplete_metrics(loaded, items)
        on = autocomplete_metrics(loaded, items, prefix_for=lambda before, lead=lead: lead[before])
        n_chars = [len(s) for _, s in items]
        rows[name] = {
            "sentences": len(items),
            "word_ends": off["word_ends"],
            "styled_sentences": sum(1 for t in lead.values() if t),
            "savings_off": off["keystroke_savings"],
            "savings_on": on["keystroke_savings"],
            "next_word_off": off["next_word_accuracy"],
            "next_word_on": on["next_word_accuracy"],
            "gain": savings_gain(off["keys_per_sentence"], on["keys_per_sentence"], n_chars, level=0.95),
            "seconds": round(time.monotonic() - started, 1),
        }
        keys_off += off["keys_per_sentence"]
        keys_on += on["keys_per_sentence"]
        chars += n_chars
        print(f"keystrokes {name}: {rows[name]}", flush=True)
    total = sum(chars)
    return {
        "rows": rows,
        "sentences": len(chars),
        "savings_off": round(1 - sum(keys_off) / total, 4),
        "savings_on": round(1 - sum(keys_on) / total, 4),
        "gain": savings_gain(keys_off, keys_on, chars, level=0.95),
    }


# ---------------------------------------------------------------- tables


def nll_markdown(rows: dict) -> str:
    conds = [c for c in ("none", "own", "other", "own + soft", "soft only") if c in next(iter(rows.values()))]
    lines = [
        "| held-out writer | " + " | ".join(conds) + " | own - none | own - other | other = |",
        "|---|" + "---|" * (len(conds) + 3),
    ]
    for name, r in rows.items():
        cells = " | ".join(f"{r[c]:.3f}" for c in conds)
        lines.append(
            f"| {name} | {cells} | {r['own'] - r['none']:+.3f} | {r['own'] - r['other']:+.3f} | {r['other_writer']} |"
        )
    return "\n".join(lines)


def style_markdown(rows: dict) -> str:
    lines = [
        "| held-out writer | Delta own (off) | best other (off) | Delta own (on) | best other (on) | "
        "closest = own (off / on) | classifier acc (off / on) | 8-grams copied (on) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['delta_own_off']:.3f} | {r['delta_best_other_off']:.3f} | {r['delta_own_on']:.3f} | "
            f"{r['delta_best_other_on']:.3f} | {'yes' if r['closest_is_own_off'] else 'no'} / "
            f"{'yes' if r['closest_is_own_on'] else 'no'} | {r['classifier_acc_off']:.2f} / "
            f"{r['classifier_acc_on']:.2f} | {r['copied_8gram_share']:.2f} |"
        )
    return "\n".join(lines)


def keystroke_markdown(ks: dict) -> str:
    lines = [
        "| held-out writer | sentences (word ends) | savings off | savings on | on - off [95% paired bootstrap] "
        "| next word off / on |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in ks["rows"].items():
        g = r["gain"]
        lines.append(
            f"| {name} | {r['sentences']} ({r['word_ends']}) | {r['savings_off']:.4f} | {r['savings_on']:.4f} | "
            f"{g['gain']:+.4f} [{g['ci95'][0]:+.4f}, {g['ci95'][1]:+.4f}] | "
            f"{r['next_word_off']:.3f} / {r['next_word_on']:.3f} |"
        )
    g = ks["gain"]
    lines.append(
        f"| **all** | {ks['sentences']} | {ks['savings_off']:.4f} | {ks['savings_on']:.4f} | "
        f"**{g['gain']:+.4f}** [{g['ci95'][0]:+.4f}, {g['ci95'][1]:+.4f}] | |"
    )
    return "\n".join(lines)


GRID = (  # (k, budget, format, nearest_last)
    (2, 256, "plain", True),
    (2, 256, "plain", False),
    (2, 256, "rule", True),
    (1, 256, "plain", True),
    (2, 128, "plain", True),
    (4, 512, "plain", True),
)
DEV_WRITERS = [
    "reuters",
    "debian_reference",
    "moby_dick",
]  # trainable writers: the grid never sees held-out ones


def grid(loaded, writers, memories, per_writer) -> dict:
    """Own-exemplar NLL for each setting in GRID (and none once): the setting is chosen on dev writers."""
    none = nll_table(loaded, writers, memories, per_writer, 2, 256, "plain", True, conditions=("none",))
    out = {"none": {n: r["none"] for n, r in none.items()}}
    print(
        "\n| setting | "
        + " | ".join(writers)
        + " | mean | mean exemplar tokens |\n|---|"
        + "---|" * (len(writers) + 2)
    )
    mean_none = np.mean(list(out["none"].values()))
    print(
        "| none | " + " | ".join(f"{v:.3f}" for v in out["none"].values()) + f" | {mean_none:.3f} | 0 |",
        flush=True,
    )
    for k, budget, fmt, nearest_last in GRID:
        rows = nll_table(
            loaded, writers, memories, per_writer, k, budget, fmt, nearest_last, conditions=("own",)
        )
        key = f"k={k} budget={budget} {fmt} nearest_last={nearest_last}"
        out[key] = rows
        mean = np.mean([r["own"] for r in rows.values()])
        tokens = np.mean([r["own_tokens_mean"] for r in rows.values()])
        print(
            f"| {key} | "
            + " | ".join(f"{r['own']:.3f}" for r in rows.values())
            + f" | {mean:.3f} | {tokens:.0f} |",
            flush=True,
        )
    return out


def _dump(path: str | None, result: dict) -> None:
    if path:
        Path(path).write_text(json.dumps(result, indent=2, default=str) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--writers", nargs="*", default=None, help="held-out writer names (default: dev set)")
    parser.add_argument("--per-writer", type=int, default=24, help="held-out paragraphs scored per writer")
    parser.add_argument("--k", type=int, default=DEFAULT_K)
    parser.add_argument("--budget", type=int, default=DEFAULT_BUDGET_TOKENS)
    parser.add_argument("--grid", action="store_true", help="NLL over k x budget x format x order only")
    parser.add_argument("--soft", action="store_true", help="also exemplars + the shipped soft tokens")
    parser.add_argument("--nll-only", action="store_true")
    parser.add_argument("--skip-nll", action="store_true", help="only the generation and keystroke parts")
    parser.add_argument("--skip-keys", action="store_true", help="no keystroke replay")
    parser.add_argument("--skip-style", action="store_true", help="no generation (Delta, classifier)")
    parser.add_argument("--score", nargs="*", default=None, help="score the NLL of these writers only")
    parser.add_argument("--n-generate", type=int, default=8, help="prompts per writer for Delta/classifier")
    parser.add_argument("--n-sentences", type=int, default=8, help="sentences per writer for keystrokes")
    parser.add_argument("--json", default=None)
    args = parser.parse_args(argv)

    from engine.models import load_model

    torch.set_num_threads(1)
    started = time.monotonic()
    loaded = load_model(args.base)
    writers = held_out_writers(args.writers or (DEV_WRITERS if args.grid else None))
    result: dict = {"base": args.base, "writers": list(writers), "per_writer": args.per_writer}
    with tempfile.TemporaryDirectory() as tmp:
        memories = {n: build_memory(w, Path(tmp)) for n, w in writers.items()}
        if args.grid:
            result["grid"] = grid(loaded, writers, memories, args.per_writer)
        else:
            soft_fn = None
            if args.soft:
                soft_fn, result["projector"] = soft_tokens_fn(loaded, writers)
            result["nll"] = (
                {}
                if args.skip_nll
                else nll_table(
                    loaded,
                    writers,
                    memories,
                    args.per_writer,
                    args.k,
                    args.budget,
                    prompts.EXEMPLAR_FORMAT,
                    prompts.EXEMPLAR_NEAREST_LAST,
                    soft_fn,
                    score=args.score,
                )
            )
            _dump(args.json, result)
            if result["nll"]:
                print(
                    f"\nmean NLL of held-out continuations (nats/token, {args.base}):\n{nll_markdown(result['nll'])}"
                )
            if not args.nll_only and not args.skip_style:
                style = style_table(loaded, writers, memories, args.n_generate, args.k, args.budget)
                result["style"] = style
                _dump(args.json, result)
                print(
                    f"\nBurrows' Delta / classifier of generated continuations:\n{style_markdown(style['rows'])}"
                )
            if not args.nll_only and not args.skip_keys:
                ks = keystroke_table(loaded, writers, memories, args.n_sentences, args.k, args.budget)
                result["keystrokes"] = ks
                _dump(args.json, result)
                print(f"\nghost-text keystroke savings, style off vs on:\n{keystroke_markdown(ks)}")
        for m in memories.values():
            m.close()
    _finish(result, started, args.json)


def _finish(result: dict, started: float, path: str | None) -> None:
    result["seconds"] = round(time.monotonic() - started, 1)
    print(f"\n{result['seconds']:.0f} s")
    _dump(path, result)


if __name__ == "__main__":
    main()
