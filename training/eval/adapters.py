"""Held-out evaluation of the shipped adapters: base vs each adapter vs persona + task.

    python -m training.eval.adapters --base gemma3-270m [--n-continue 48 --n-sentences 12 --n-rephrase 16]

Compositions come from ``engine.adapters.AdapterRegistry`` on the real manifest,
so this checks the shipped files, their sha256 and the runtime composition.

- continue: mean NLL (nats/token) of the true next paragraph of held-out passages;
- autocomplete: at every word end of held-out sentences the model proposes a
  ghost text (greedy, up to the sentence end). **next-word accuracy** = share of
  word ends where its first word is the true next word. **keystroke savings** =
  the share of the sentence's characters a writer would not type: at each word
  end they accept the longest correct whole-word prefix of the suggestion with
  one key (Tab), then keep typing; savings = (chars accepted - accept keys) / chars;
- rephrase: held-out sentences rewritten with the engine's prompt and rephrase
  sampling (fixed seed); **meaning** = MiniLM cosine to the source, **change** =
  word edit distance, **accepted** = share passing both filters of the pair
  builder, **ppl** = base-model perplexity of the outputs alone (fluency).

Interference: ``kept`` = (base - composed) / (base - task alone) of the task metric.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from engine import prompts
from engine.modes import DEFAULT_PARAMS, Mode
from training.config import REPO
from training.data import tasks
from training.loss import CompletionLM, mean_completion_nll, tokenize_example

# ---------------------------------------------------------------- continue


def continue_nll(
    loaded, examples: list[tasks.Example], soft=None, max_prompt: int = 192, max_completion: int = 64
) -> float:
    rows = [
        tokenize_example(loaded.tokenizer, e.prompt, e.completion, max_prompt, max_completion)
        for e in examples
    ]
    if soft is not None:
        for row, s in zip(rows, soft, strict=True):
            row["soft_tokens"] = s
    pad = (
        loaded.tokenizer.pad_token_id
        if loaded.tokenizer.pad_token_id is not None
        else loaded.tokenizer.eos_token_id
    )
    return mean_completion_nll(CompletionLM(loaded.model), rows, pad, batch_size=8)


# ---------------------------------------------------------------- autocomplete


def word_ends(sentence: str) -> list[int]:
    """Character offsets right after each word except the last (where a ghost text can be offered)."""
    ends, pos = [], 0
    words = sentence.split(" ")
    for w in words[:-1]:
        pos += len(w)
        ends.append(pos)
        pos += 1
    return ends


def accepted_chars(suggestion: str, rest: str) -> int:
    """Length of the longest whole-word prefix of ``suggestion`` that ``rest`` starts with."""
    best = 0
    for i in range(1, len(suggestion) + 1):
        if suggestion[:i] != rest[:i]:
            break
        if suggestion[i - 1] == " ":
            continue  # accept words, not the space after them
        at_word_end = i == len(rest) or rest[i] == " " or not rest[i - 1].isalnum()
        if at_word_end and (i == len(suggestion) or suggestion[i] == " " or not suggestion[i - 1].isalnum()):
            best = i
    return best


@torch.no_grad()
def ghost_texts(loaded, prompt_texts: list[str], max_new_tokens: int = 8, batch_size: int = 16) -> list[str]:
    """Greedy suggestions, cut at the first sentence end or newline (as autocomplete mode stops)."""
    tok, model = loaded.tokenizer, loaded.model
    tok.padding_side = "left"
    pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    out = []
    for i in range(0, len(prompt_texts), batch_size):
        enc = tok(prompt_texts[i : i + batch_size], return_tensors="pt", padding=True)
        gen = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens, pad_token_id=pad)
        for row in gen[:, enc["input_ids"].shape[1] :]:
            text = tok.decode(row, skip_special_tokens=True).split("\n")[0]
            for j, ch in enumerate(text):
                if ch in ".!?" and (j + 1 == len(text) or text[j + 1] == " "):
                    text = text[: j + 1]
                    break
            out.append(text)
    return out


def autocomplete_metrics(loaded, items: list[tuple[str, str]], max_new_tokens: int = 8) -> dict:
    """items: (text before the sentence, with its separator; sentence). Simulates a writer typing each sentence."""
    queries, meta = [], []
    for before, sentence in items:
        for end in word_ends(sentence):
            typed = before + sentence[:end]
            queries.append(prompts.autocomplete_prompt(typed)[-400:])  # ~100 tokens: enough for one sentence
            meta.append((sentence, end))
    suggestions = ghost_texts(loaded, queries, max_new_tokens)
    correct_word, saved = 0, {}
    for (sentence, end), sug in zip(meta, suggestions, strict=True):
        rest = sentence[end:]
        true_next = rest.split()[0] if rest.split() else ""
        if sug.split()[:1] == [true_next]:
            correct_word += 1
        saved.setdefault(sentence, {})[end] = accepted_chars(sug, rest)
    # Keystrokes: walk each sentence; at a word end, take the accepted chars (cost 1 key) and jump.
    total_chars = sum(len(s) for _, s in items)
    keys = 0
    for _, sentence in items:
        pos, table = 0, saved.get(sentence, {})
        while pos < len(sentence):
            gain = table.get(pos, 0)
            if gain > 1:
                keys += 1
                pos += gain
            else:
                keys += 1
                pos += 1
    return {
        "next_word_accuracy": round(correct_word / max(1, len(meta)), 4),
        "keystroke_savings": round(1 - keys / max(1, total_chars), 4),
        "word_ends": len(meta),
        "chars": total_chars,
    }


def autocomplete_items(corpora, n: int, seed: int = 1) -> list[tuple[str, str]]:
    """(previous paragraph and the sentence's predecessors, a sentence of 6-25 words) from the held-out part."""
    import random

    rng = random.Random(seed)
    pool = []
    for books in tasks.corpus_part(corpora, "test").values():
        for paras in books.values():
            for i, p in enumerate(paras):
                for k, s in enumerate(tasks.sentences(p)):
                    if 6 <= len(s.split()) <= 25 and '"' not in s:
                        before = "".join(x + " " for x in tasks.sentences(p)[:k])
                        pool.append((((paras[i - 1] + "\n\n") if i else "") + before, s))
    rng.shuffle(pool)
    return pool[:n]


# ---------------------------------------------------------------- rephrase


@torch.no_grad()
def rephrase_outputs(loaded, sources: list[str], seed: int = 0) -> list[str]:
    from training.data.rephrase import generate_paraphrases

    s = DEFAULT_PARAMS[Mode.REPHRASE].sampling
    return generate_paraphrases(
        loaded, sources, batch_size=8, max_new_tokens=64, temperature=s.temperature, min_p=s.min_p, seed=seed
    )


@torch.no_grad()
def text_perplexity(loaded, texts: list[str]) -> float:
    """Perplexity of texts under the model as it is (call with adapters off for the base's judgement)."""
    rows = []
    for t in texts:
        ids = loaded.tokenizer(t or ".")["input_ids"]
        rows.append({"input_ids": ids, "labels": [-100] + ids[1:]})
    pad = (
        loaded.tokenizer.pad_token_id
        if loaded.tokenizer.pad_token_id is not None
        else loaded.tokenizer.eos_token_id
    )
    return math.exp(mean_completion_nll(CompletionLM(loaded.model), rows, pad))


def rephrase_metrics(loaded, registry, names, sources: list[str], encoder) -> dict:
    from training.data.rephrase import cosines, filter_pairs, word_change

    registry.compose(names)
    outs = rephrase_outputs(loaded, sources)
    registry.compose(())
    cos = cosines(encoder, sources, [o or "-" for o in outs])
    change = [word_change(a, b) for a, b in zip(sources, outs, strict=True)]
    kept, _ = filter_pairs(sources, outs, encoder)
    return {
        "meaning_cosine": round(sum(cos) / len(cos), 4),
        "change": round(sum(change) / len(change), 4),
        "changed_rate": round(sum(c >= 0.25 for c in change) / len(change), 4),
        "accepted_rate": round(len(kept) / len(sources), 4),
        "base_ppl_of_outputs": round(text_perplexity(loaded, outs), 2),
        "examples": [{"source": a, "output": b} for a, b in list(zip(sources, outs, strict=True))[:3]],
    }


# ---------------------------------------------------------------- driver


def evaluate(
    base: str = "gemma3-270m",
    n_continue: int = 48,
    n_sentences: int = 12,
    n_rephrase: int = 16,
    corpora=("austen", "moby_dick", "reuters"),
    root: Path | None = None,
    threads: int = 1,
    only: tuple[str, ...] = ("continue", "persona", "autocomplete", "rephrase"),
    extra: dict[str, str] | None = None,
) -> dict:
    from engine.adapters import AdapterRegistry
    from engine.manifest import load_manifest
    from engine.models import load_model
    from training.data.rephrase import sentence_encoder

    torch.set_num_threads(threads)
    loaded = load_model(base)
    registry = AdapterRegistry(loaded, root=root)
    for name, folder in (extra or {}).items():  # candidates not shipped (e.g. they did not beat the base)
        registry.add_unshipped(name, Path(folder))
    have = set(registry.installed)
    results: dict = {
        "base": base,
        "installed": sorted(have),
        "errors": registry.errors,
        "unshipped": dict(extra or {}),
    }
    started = time.monotonic()

    def configs(task: str, persona_alone: bool = False) -> list[tuple[str, tuple[str, ...]]]:
        rows = [("base", ())]
        rows += [(n, (n,)) for n in (task, "persona") if n in have and (n == task or persona_alone)]
        if task in have and "persona" in have:
            rows.append((f"persona+{task}", ("persona", task)))
        return rows

    # continue
    examples = tasks.continue_examples(list(corpora), "test", n_continue, seed=7)
    # A persona adapter trained with soft tokens is evaluated with them (teacher-forced NLL only: the
    # generation-based metrics below run without soft tokens).
    persona_entry = load_manifest(root).get("persona")
    with_soft = persona_entry is not None and "soft tokens from" in persona_entry.data
    results["persona_soft_tokens"] = with_soft

    def soft_for(exs, names):
        if not (with_soft and "persona" in names):
            return None
        from training.data.persona_tokens import persona_soft_tokens

        return persona_soft_tokens(loaded, exs, list(corpora))[0]

    cont = {}
    for label, names in configs("task_continue", persona_alone=True) if "continue" in only else []:
        registry.compose(names)
        cont[label] = {"nll": round(continue_nll(loaded, examples, soft_for(examples, names)), 4)}
    if cont:
        results["continue"] = cont
    # persona on its own task (multi-author continuation)
    if "persona" in have and "persona" in only:
        pex = tasks.persona_examples(list(corpora), "test", n_continue, seed=8)
        per = {}
        for label, names in (("base", ()), ("persona", ("persona",))):
            registry.compose(names)
            per[label] = {"nll": round(continue_nll(loaded, pex, soft_for(pex, names)), 4)}
        results["persona"] = per
    # autocomplete
    items = autocomplete_items(list(corpora), n_sentences)
    auto = {}
    for label, names in configs("task_autocomplete") if "autocomplete" in only else []:
        registry.compose(names)
        auto[label] = autocomplete_metrics(loaded, items)
    if auto:
        results["autocomplete"] = auto
    # rephrase
    encoder = sentence_encoder()
    sources = [s for s, _ in tasks.rephrase_sources(list(corpora), "test", n_rephrase, seed=3)]
    reph = {}
    for label, names in configs("task_rephrase") if "rephrase" in only else []:
        reph[label] = rephrase_metrics(loaded, registry, names, sources, encoder)
    if reph:
        results["rephrase"] = reph
    registry.compose(())
    results["interference"] = interference(results)
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


def interference(results: dict) -> dict:
    """Share of a task adapter's gain over the base that survives composition with persona."""
    out = {}
    for task, key, higher_is_better in (
        ("continue", "nll", False),
        ("autocomplete", "keystroke_savings", True),
        ("rephrase", "accepted_rate", True),
    ):
        rows = results.get(task, {})
        name = f"task_{task}"
        if "base" in rows and name in rows and f"persona+{name}" in rows:
            sign = 1 if higher_is_better else -1
            gain = sign * (rows[name][key] - rows["base"][key])
            gain_c = sign * (rows[f"persona+{name}"][key] - rows["base"][key])
            out[task] = {
                "metric": key,
                "task_gain": round(gain, 4),
                "composed_gain": round(gain_c, 4),
                "kept": round(gain_c / gain, 3) if gain > 0 else None,
            }
    return out


def markdown(results: dict) -> str:
    lines = [f"Base: {results['base']}. Installed adapters: {', '.join(results['installed']) or 'none'}.", ""]
    lines += [
        "| composition | continue NLL ↓ | next-word acc ↑ | keystroke savings ↑ | rephrase meaning ↑ "
        "| change ↑ | accepted ↑ | base ppl of rephrase ↓ |",
        "|---|---|---|---|---|---|---|---|",
    ]
    labels = []
    for task in ("continue", "autocomplete", "rephrase"):
        labels += [k for k in results.get(task, {}) if k not in labels]

    def cell(task, label, key):
        v = results.get(task, {}).get(label, {}).get(key)
        return "" if v is None else f"{v}"

    for label in labels:
        lines.append(
            f"| {label} | {cell('continue', label, 'nll')} | {cell('autocomplete', label, 'next_word_accuracy')}"
            f" | {cell('autocomplete', label, 'keystroke_savings')} | {cell('rephrase', label, 'meaning_cosine')}"
            f" | {cell('rephrase', label, 'change')} | {cell('rephrase', label, 'accepted_rate')}"
            f" | {cell('rephrase', label, 'base_ppl_of_outputs')} |"
        )
    if "persona" in results:
        p = results["persona"]
        lines += [
            "",
            f"Persona (multi-author next paragraph NLL): base {p['base']['nll']}, persona "
            f"{p.get('persona', {}).get('nll')}.",
        ]
    if results.get("interference"):
        lines += ["", "| task | metric | task gain | persona+task gain | kept |", "|---|---|---|---|---|"]
        for task, r in results["interference"].items():
            lines.append(
                f"| {task} | {r['metric']} | {r['task_gain']} | {r['composed_gain']} | {r['kept']} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Evaluate the shipped adapters on held-out text.")
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--n-continue", type=int, default=48)
    parser.add_argument("--n-sentences", type=int, default=12)
    parser.add_argument("--n-rephrase", type=int, default=16)
    parser.add_argument("--out", default=str(REPO / ".data" / "adapters_train" / "eval.json"))
    parser.add_argument(
        "--only", default="continue,persona,autocomplete,rephrase", help="comma-separated tasks"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--merge", action="store_true", help="update the tasks run in an existing --out file")
    parser.add_argument("--extra", action="append", default=[], help="name=folder of an unshipped adapter")
    ns = parser.parse_args()
    extra = dict(item.split("=", 1) for item in ns.extra)
    results = evaluate(
        ns.base,
        ns.n_continue,
        ns.n_sentences,
        ns.n_rephrase,
        only=tuple(ns.only.split(",")),
        extra=extra,
        threads=ns.threads,
    )
    if ns.merge and Path(ns.out).exists():
        merged = json.loads(Path(ns.out).read_text())
        merged.update({k: v for k, v in results.items() if k != "interference"})
        merged["interference"] = interference(merged)
        results = merged
    Path(ns.out).parent.mkdir(parents=True, exist_ok=True)
    Path(ns.out).write_text(json.dumps(results, indent=2, ensure_ascii=False))
    print(markdown(results))
    print(
        json.dumps({k: v for k, v in results.items() if k in ("interference", "seconds", "errors")}, indent=2)
    )


if __name__ == "__main__":
    main()
