"""Held-out evaluation of the shipped adapters: base vs each adapter vs persona + task.

    python -m training.eval.adapters --base gemma3-270m [--n-continue 48 --n-sentences 12 --n-rephrase 16]
    python -m training.eval.adapters --only dictation --n-dictation 48 --n-whisper 12

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
  builder, **ppl** = base-model perplexity of the outputs alone (fluency);
- dictation: spoken forms of held-out sentences (training.data.spoken) cleaned up by the rules
  (engine.audio.tidy), by each composition with the engine's prompt (greedy), and by the engine's
  path (model line if the guard keeps it, else the rules); **WER** vs the original sentence
  (case and punctuation ignored, training/eval/speech.py), **cased WER** (whitespace tokens, case
  and punctuation count), **exact** = share identical to the original, **kept** = share of model
  lines the guard accepts. Optionally the same on Whisper transcripts of espeak-ng speech.

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


def autocomplete_metrics(
    loaded, items: list[tuple[str, str]], max_new_tokens: int = 8, prefix_for=None
) -> dict:
    """items: (text before the sentence, with its separator; sentence). Simulates a writer typing each sentence.

    ``prefix_for(before)``: text put before each prompt of that sentence (style exemplars), fixed per sentence.
    """
    queries, meta = [], []
    for before, sentence in items:
        lead = prefix_for(before) if prefix_for is not None else ""
        for end in word_ends(sentence):
            typed = before + sentence[:end]
            queries.append(lead + prompts.autocomplete_prompt(typed)[-400:])  # ~100 tokens: one sentence
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
    keys_per_sentence = []
    for _, sentence in items:
        pos, keys, table = 0, 0, saved.get(sentence, {})
        while pos < len(sentence):
            gain = table.get(pos, 0)
            keys += 1
            pos += gain if gain > 1 else 1
        keys_per_sentence.append(keys)
    return {
        "next_word_accuracy": round(correct_word / max(1, len(meta)), 4),
        "keystroke_savings": round(1 - sum(keys_per_sentence) / max(1, total_chars), 4),
        "word_ends": len(meta),
        "chars": total_chars,
        "keys_per_sentence": keys_per_sentence,  # for the paired comparison between compositions
    }


def savings_gain(
    keys_a: list[int],
    keys_b: list[int],
    chars: list[int],
    rounds: int = 2000,
    seed: int = 0,
    level: float = 0.90,
) -> dict:
    """Keystroke savings of b minus a on the same sentences, with a paired bootstrap interval.

    Sentences are resampled together for both compositions, so the interval reflects the spread of
    the *difference*, which is far narrower than that of either score. The interval is returned
    under ``ci90`` (the default level) or ``ci95`` etc.: the key names its level.
    """
    import random

    def gain(idx: list[int]) -> float:
        total = sum(chars[i] for i in idx)
        return (sum(keys_a[i] for i in idx) - sum(keys_b[i] for i in idx)) / max(1, total)

    rng = random.Random(seed)
    n = len(chars)
    draws = sorted(gain([rng.randrange(n) for _ in range(n)]) for _ in range(rounds))
    tail = (1 - level) / 2
    low, high = (
        draws[round(tail * rounds)],
        draws[min(rounds - 1, round((1 - tail) * rounds))],
    )  # round: 0.1/2 != 0.05
    return {
        "gain": round(gain(list(range(n))), 4),
        f"ci{round(level * 100)}": [round(low, 4), round(high, 4)],
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
    outs = generate_paraphrases(
        loaded,
        sources,
        batch_size=8,
        max_new_tokens=64,
        temperature=s.temperature,
        min_p=s.min_p,
        no_repeat_ngram=s.no_repeat_ngram,  # the engine's rephrase mode bans the source's 4-grams
        seed=seed,
    )
    return [o[0] for o in outs]


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


# ---------------------------------------------------------------- dictation


def dictation_items(corpora, n: int, seed: int = 5) -> list[dict]:
    """Held-out sentences with a spoken form (seeded) and, for half, the text before them."""
    import random

    from training.data.spoken import spoken_form

    rng = random.Random(seed)
    pool = tasks.dictation_sentences(list(corpora), "test")
    rng.shuffle(pool)
    return [
        {"sentence": s, "context": before if rng.random() < 0.5 else "", "transcript": spoken_form(s, rng)}
        for s, before, _ in pool[:n]
    ]


def dictation_outputs(loaded, items: list[dict], batch_size: int = 8, max_new_tokens: int = 64) -> list[str]:
    """The model's answer line for each item, greedy (as Mode.DICTATION decodes)."""
    from training.answer_lines import answer_lines

    batch = [prompts.dictation_prompt(it["transcript"], it["context"]) for it in items]
    lines = answer_lines(loaded, batch, batch_size=batch_size, max_new_tokens=max_new_tokens, do_sample=False)
    return [answers[0] for answers in lines]


def cased_wer(refs: list[str], hyps: list[str]) -> float:
    """WER over whitespace tokens: a missing comma or a lowercase name counts as an error."""
    from training.eval.speech import edit_distance

    errors = sum(edit_distance(r.split(), h.split()) for r, h in zip(refs, hyps, strict=True))
    return errors / max(1, sum(len(r.split()) for r in refs))


def dictation_scores(refs: list[str], hyps: list[str]) -> dict:
    from training.eval.speech import wer

    return {
        "wer": round(wer(refs, hyps), 4),
        "cased_wer": round(cased_wer(refs, hyps), 4),
        "exact": round(
            sum(r.strip() == h.strip() for r, h in zip(refs, hyps, strict=True)) / max(1, len(refs)), 4
        ),
    }


def dictation_metrics(loaded, registry, configs, items: list[dict]) -> dict:
    """Rules, then each composition's raw line and the engine's guarded result, on the same items."""
    from engine.audio.tidy import check_tidy, tidy_rules

    refs = [it["sentence"] for it in items]
    rules = [tidy_rules(it["transcript"], it["context"]) for it in items]
    results = {
        "transcript": dictation_scores(refs, [it["transcript"] for it in items]),
        "rules": dictation_scores(refs, rules),
    }
    for label, names in configs:
        registry.compose(names)
        raw = dictation_outputs(loaded, items)
        kept = [check_tidy(it["transcript"], r)[0] for it, r in zip(items, raw, strict=True)]
        guarded = [r if k else rule for r, k, rule in zip(raw, kept, rules, strict=True)]
        results[label] = {
            **dictation_scores(refs, raw),
            "guarded": dictation_scores(refs, guarded),
            "kept": round(sum(kept) / max(1, len(kept)), 4),
            "examples": [
                {"transcript": it["transcript"], "sentence": it["sentence"], "output": r, "kept": k}
                for it, r, k in list(zip(items, raw, kept, strict=True))[:4]
            ],
        }
    registry.compose(())
    return results


def whisper_items(items: list[dict], n: int, voices=("en-us", "en-gb", "en-us+f3")) -> list[dict]:
    """The spoken forms read by espeak-ng and transcribed by Whisper tiny.en (what the app would get)."""
    from engine.audio import synth
    from engine.audio.recognizer import Recognizer

    if not synth.available():
        return []
    rec = Recognizer()
    out = []
    for i, it in enumerate(items[:n]):
        audio = synth.with_silence(
            synth.synthesize(it["transcript"], voice=voices[i % len(voices)]), 0.2, 0.2
        )
        heard = rec.transcribe(audio).text.strip()
        if heard:
            out.append({**it, "transcript": heard, "spoken": it["transcript"]})
    return out


# ---------------------------------------------------------------- driver


def evaluate(
    base: str = "gemma3-270m",
    n_continue: int = 48,
    n_sentences: int = 12,
    n_rephrase: int = 16,
    corpora=("austen", "moby_dick", "reuters"),
    root: Path | None = None,
    threads: int = 1,
    only: tuple[str, ...] = ("continue", "persona", "autocomplete", "rephrase", "dictation"),
    extra: dict[str, str] | None = None,
    n_dictation: int = 32,
    n_whisper: int = 0,
    composed: bool = True,
    sentence_seed: int = 1,
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
        # Unshipped candidates named after the task (e.g. task_autocomplete_v1 via --extra) run alone too.
        candidates = [n for n in sorted(extra or {}) if n.startswith(task) and n != task]
        rows += [(n, (n,)) for n in candidates]
        if composed and "persona" in have:
            rows += [(f"persona+{n}", ("persona", n)) for n in candidates]
            if task in have:
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
    items = autocomplete_items(list(corpora), n_sentences, seed=sentence_seed)
    auto = {}
    for label, names in configs("task_autocomplete") if "autocomplete" in only else []:
        registry.compose(names)
        auto[label] = autocomplete_metrics(loaded, items)
    if auto:
        chars = [len(sentence) for _, sentence in items]
        for label, row in auto.items():
            if label != "base" and "base" in auto:
                row["savings_gain_vs_base"] = savings_gain(
                    auto["base"]["keys_per_sentence"], row["keys_per_sentence"], chars
                )
        for row in auto.values():
            row.pop("keys_per_sentence")
        results["autocomplete"] = auto
    # rephrase
    encoder = sentence_encoder() if "rephrase" in only else None
    sources = [s for s, _ in tasks.rephrase_sources(list(corpora), "test", n_rephrase, seed=3)]
    reph = {}
    for label, names in configs("task_rephrase") if "rephrase" in only else []:
        reph[label] = rephrase_metrics(loaded, registry, names, sources, encoder)
    if reph:
        results["rephrase"] = reph
    # dictation
    if "dictation" in only:
        items = dictation_items(list(corpora), n_dictation)
        results["dictation"] = dictation_metrics(loaded, registry, configs("task_dictation"), items)
        heard = whisper_items(items, n_whisper) if n_whisper else []
        if heard:
            results["dictation_whisper"] = dictation_metrics(
                loaded, registry, configs("task_dictation"), heard
            )
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
    for key, title in (
        ("dictation", "Dictation (spoken forms)"),
        ("dictation_whisper", "Dictation (Whisper)"),
    ):
        if key in results:
            lines += ["", dictation_markdown(results[key], title)]
    if "persona" in results:
        p = results["persona"]
        lines += [
            "",
            f"Persona (multi-author next paragraph NLL): base {p['base']['nll']}, persona "
            f"{p.get('persona', {}).get('nll')}.",
        ]
    for label, row in results.get("autocomplete", {}).items():
        if "savings_gain_vs_base" in row:
            g = row["savings_gain_vs_base"]
            lines.append(
                f"\nKeystroke savings of {label} minus base, same {row['chars']} characters: {g['gain']} "
                f"(90% paired bootstrap interval over sentences {g['ci90'][0]} to {g['ci90'][1]})."
            )
    if results.get("interference"):
        lines += ["", "| task | metric | task gain | persona+task gain | kept |", "|---|---|---|---|---|"]
        for task, r in results["interference"].items():
            lines.append(
                f"| {task} | {r['metric']} | {r['task_gain']} | {r['composed_gain']} | {r['kept']} |"
            )
    return "\n".join(lines)


def dictation_markdown(rows: dict, title: str) -> str:
    lines = [
        f"**{title}**",
        "",
        "| clean-up | WER ↓ | cased WER ↓ | exact ↑ | guard keeps |",
        "|---|---|---|---|---|",
    ]
    for label, r in rows.items():
        lines.append(f"| {label} | {r['wer']} | {r['cased_wer']} | {r['exact']} | {r.get('kept', '')} |")
        if "guarded" in r:
            g = r["guarded"]
            lines.append(f"| {label} + guard (engine) | {g['wer']} | {g['cased_wer']} | {g['exact']} | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description="Evaluate the shipped adapters on held-out text.")
    parser.add_argument("--base", default="gemma3-270m")
    parser.add_argument("--n-continue", type=int, default=48)
    parser.add_argument("--n-sentences", type=int, default=12)
    parser.add_argument("--n-rephrase", type=int, default=16)
    parser.add_argument("--out", default=str(REPO / ".data" / "adapters_train" / "eval.json"))
    parser.add_argument(
        "--only", default="continue,persona,autocomplete,rephrase,dictation", help="comma-separated tasks"
    )
    parser.add_argument("--n-dictation", type=int, default=32)
    parser.add_argument(
        "--n-whisper", type=int, default=0, help="also clean up Whisper transcripts of espeak speech"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--merge", action="store_true", help="update the tasks run in an existing --out file")
    parser.add_argument("--extra", action="append", default=[], help="name=folder of an unshipped adapter")
    parser.add_argument(
        "--sentence-seed", type=int, default=1, help="which held-out sentences autocomplete uses"
    )
    parser.add_argument(
        "--no-composed",
        action="store_true",
        help="skip the persona+task compositions (a larger set in the same time)",
    )
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
        n_dictation=ns.n_dictation,
        n_whisper=ns.n_whisper,
        composed=not ns.no_composed,
        sentence_seed=ns.sentence_seed,
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
