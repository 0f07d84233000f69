"""A simulated writer teaches the personal adapter: keystroke savings before and after learning.

    nice -n 10 python -m training.eval.personal_adapter --corpus debian_history --n-train 24 --n-test 40

A held-out author (``corpora.HELD_OUT``: no adapter was trained on them) "types" their own text in
reading order. At every word end the engine's autocomplete composition (base + task_autocomplete)
proposes a ghost text (greedy, as ``training.eval.adapters.autocomplete_metrics`` does). The writer
takes it when it is what they wrote next, else dismisses it and types their own words; every choice
goes into a real ``engine.preferences.PreferenceLog``. The first half of the author's sentences
teaches: the personal-adapter recipe (training/recipes/personal_dpo.py) runs on that log as a
separate process, exactly as the app starts it, and writes into a private user manifest. The second
half tests: keystroke savings and acceptance (the share of word ends where the writer takes at least
the suggestion's first word, = next-word accuracy) with and without the personal adapter, and the
savings gain with a 90% paired bootstrap interval (``savings_gain``).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from engine import prompts
from engine.preferences import PreferenceLog
from training.config import REPO
from training.data import tasks
from training.data.corpora import HELD_OUT, load_corpus
from training.eval.adapters import accepted_chars, autocomplete_metrics, ghost_texts, savings_gain, word_ends

CONFIG = "training/configs/gemma3-270m/personal_dpo.yaml"


def author_items(corpus: str) -> list[tuple[str, str]]:
    """(text before the sentence, sentence) in the author's reading order, as autocomplete_items builds them."""
    items = []
    for paras in load_corpus(corpus).values():
        for i, p in enumerate(paras):
            sents = tasks.sentences(p)
            for k, s in enumerate(sents):
                if 6 <= len(s.split()) <= 25 and '"' not in s:
                    before = "".join(x + " " for x in sents[:k])
                    items.append(((paras[i - 1] + "\n\n" if i else "") + before, s))
    return items


def halves(items: list, n_train: int, n_test: int) -> tuple[list, list]:
    """Evenly spaced sentences from the first half (teaching) and the second half (testing)."""
    mid = len(items) // 2

    def spaced(part: list, n: int) -> list:
        step = max(1, len(part) // max(1, n))
        return part[::step][:n]

    return spaced(items[:mid], n_train), spaced(items[mid:], n_test)


def record_choices(loaded, items: list[tuple[str, str]], log: PreferenceLog, max_new_tokens: int = 8) -> dict:
    """The simulated writer: take a ghost that is what they wrote next, else dismiss it and type their words."""
    queries, meta = [], []
    for before, sentence in items:
        for end in word_ends(sentence):
            typed = before + sentence[:end]
            queries.append(prompts.autocomplete_prompt(typed)[-400:])  # the window autocomplete_metrics uses
            meta.append((typed, sentence[end:]))
    taken = 0
    for (context, rest), ghost in zip(meta, ghost_texts(loaded, queries, max_new_tokens), strict=True):
        if not ghost.strip():
            continue
        if accepted_chars(ghost, rest) == len(ghost.rstrip()):
            taken += log.record_ghost(context, ghost, accepted=True)
            continue
        # What they typed instead: their own next words, as many as the ghost offered.
        words = rest.split(" ")
        own = " ".join(words[: len(ghost.split(" "))])
        log.record_ghost(context, ghost, accepted=False, typed=own)
    return {"word_ends": len(meta), "taken_whole": taken}


def compose(base: str, user_root: Path, with_personal: bool):
    from engine.adapters import PERSONAL, AdapterRegistry
    from engine.models import load_model

    loaded = load_model(base)
    registry = AdapterRegistry(loaded, user_root=user_root)
    names = ["task_autocomplete", *([PERSONAL] if with_personal else [])]
    missing = [n for n in names if n not in registry.installed]
    if missing:
        raise SystemExit(f"not loaded: {missing}: {registry.errors}")
    registry.compose(names)
    return loaded


def train_personal(base: str, log_path: Path, user_root: Path, overrides: list[str]) -> tuple[dict, float]:
    """Run the recipe as the app does: a separate process, JSON lines on stdout."""
    cmd = [
        sys.executable,
        "-m",
        "training.recipes.personal_dpo",
        "--config",
        CONFIG,
        f"base={base}",
        f"data.log={log_path}",
        f"output.manifest_root={user_root}",
        *overrides,
    ]
    started = time.monotonic()
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, env={**os.environ})
    seconds = time.monotonic() - started
    cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds of the recipe process: its time on one core, whatever else shares the machine.
    cpu_seconds = (cpu.ru_utime - cpu_before.ru_utime) + (cpu.ru_stime - cpu_before.ru_stime)
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.startswith("{")]
    if proc.returncode != 0 or not lines or "done" not in lines[-1]:
        raise SystemExit(f"the recipe failed ({proc.returncode}): {lines[-1:]}\n{proc.stderr[-3000:]}")
    return {**lines[-1], "recipe_cpu_seconds": round(cpu_seconds, 1)}, seconds


def before_key(args) -> str:
    """The file of the no-personal-adapter pass: greedy, so it depends only on these and the shipped adapter."""
    from engine.export.compose import adapter_sha256
    from engine.manifest import artifact

    sha = adapter_sha256(artifact("task_autocomplete").folder)[:12]
    return f"before-{args.base}-{args.corpus}-{args.n_train}-{args.n_test}-{sha}.json"


def cached_before(out: Path, args, test: list) -> dict | None:
    path = out / before_key(args)
    if not path.exists():
        return None
    before = json.loads(path.read_text())
    return before if len(before["keys_per_sentence"]) == len(test) else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default="gemma3-270m")
    ap.add_argument("--corpus", default="debian_history", choices=HELD_OUT)
    ap.add_argument("--n-train", type=int, default=24, help="teaching sentences (first half)")
    ap.add_argument("--n-test", type=int, default=40, help="test sentences (second half)")
    ap.add_argument("--out", default=str(REPO / ".data" / "runs" / "personal_eval"))
    ap.add_argument(
        "--log",
        type=Path,
        help="reuse this recorded log (an earlier run's) instead of replaying the first half",
    )
    ap.add_argument("--label", default="", help="a name for this variant in result-<label>.json")
    ap.add_argument("overrides", nargs="*", help="recipe overrides, e.g. train.max_steps=30")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="personal-", dir=out))
    user_root, log_path = work / "user", work / "preferences.jsonl"

    teach, test = halves(author_items(args.corpus), args.n_train, args.n_test)
    started = time.monotonic()
    loaded = None
    before = cached_before(out, args, test)
    if before is None:
        loaded = compose(args.base, user_root, with_personal=False)
        before = autocomplete_metrics(loaded, test)
        (out / before_key(args)).write_text(json.dumps(before))
    if args.log:
        shutil.copyfile(args.log, log_path)
        replay = {"reused_log": str(args.log)}
    else:
        loaded = loaded or compose(args.base, user_root, with_personal=False)
        replay = record_choices(loaded, teach, PreferenceLog(log_path, recording=True))
    replay_seconds = time.monotonic() - started
    pairs = len(PreferenceLog(log_path).pairs(minimum=0))
    del loaded
    gc.collect()

    done, train_seconds = train_personal(args.base, log_path, user_root, args.overrides)
    loaded = compose(args.base, user_root, with_personal=True)
    after = autocomplete_metrics(loaded, test)
    gain = savings_gain(before["keys_per_sentence"], after["keys_per_sentence"], [len(s) for _, s in test])
    result = {
        "corpus": args.corpus,
        "n_train_sentences": len(teach),
        "n_test_sentences": len(test),
        "replay": replay,
        "pairs": pairs,
        "recipe": done,
        "recipe_wall_seconds": round(train_seconds, 1),
        "replay_and_before_seconds": round(replay_seconds, 1),
        "before": {k: v for k, v in before.items() if k != "keys_per_sentence"},
        "after": {k: v for k, v in after.items() if k != "keys_per_sentence"},
        "savings_gain": gain,
        "overrides": args.overrides,
        "load": os.getloadavg(),
    }
    (out / f"result{'-' + args.label if args.label else ''}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    print(markdown(result))


def markdown(r: dict) -> str:
    b, a, g = r["before"], r["after"], r["savings_gain"]
    return "\n".join(
        [
            "| composition | acceptance (next word taken) | keystroke savings |",
            "|---|---|---|",
            f"| base + task_autocomplete | {b['next_word_accuracy']:.3f} | {b['keystroke_savings']:.3f} |",
            f"| + personal ({r['pairs']} pairs) | {a['next_word_accuracy']:.3f} | {a['keystroke_savings']:.3f} |",
            f"| gain (90% paired bootstrap) | | {g['gain']:+.4f} [{g['ci90'][0]:+.4f}, {g['ci90'][1]:+.4f}] |",
        ]
    )


if __name__ == "__main__":
    main()
