"""Best-of-n Rephrase latency: one take vs best-of-n (takes in turn, sharing the prompt's prefill).

    .venv/bin/python tests/bench/bench_best_of_n.py [--backend eager|executorch] [--sentences 4] [--n 3]

Goal (issue 13): best-of-3 Rephrase <= 2.0x one sample, in the same run. Each request starts cold
(the generator's cache is dropped first: a new selection has no cached prompt); best-of-n includes
the meaning guard and the ranking. The order rotates per sentence so that load drifts hit every
variant alike. On ``executorch`` the rephrase composition's cached program is used if one exists
(``killah export`` with the rephrase adapters builds it). Also prints one eager decode step over 1
vs n rows: decoding the takes as one batch was tried and was slower on the 2-core VM.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from engine.api import Engine  # noqa: E402
from engine.modes import Mode  # noqa: E402


def sentences(k: int) -> list[str]:
    from training.data.meaning_guard import load_set

    rows = [r["text"] for r in load_set("dev") if r["kind"] == "sentence" and len(r["text"].split()) <= 25]
    return rows[:k]


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def step_rows(engine: Engine, rows: int, context: int = 150, steps: int = 10) -> float:
    """Seconds per decode step over ``rows`` rows after a ``context``-position prompt."""
    from transformers import DynamicCache

    model = engine.loaded.model
    ids = torch.randint(100, 1000, (1, context))
    with torch.inference_mode():
        cache = model(input_ids=ids, past_key_values=DynamicCache(), use_cache=True, logits_to_keep=1).past_key_values
        cache.batch_repeat_interleave(rows)
        started = time.perf_counter()
        for i in range(steps):
            pos = torch.tensor([context + i])
            out = model(input_ids=torch.full((rows, 1), 500), past_key_values=cache, cache_position=pos,
                        position_ids=pos[None].expand(rows, 1), use_cache=True, logits_to_keep=1)
            cache = out.past_key_values
    return (time.perf_counter() - started) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="eager", choices=["eager", "executorch"])
    parser.add_argument("--sentences", type=int, default=4)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    engine = Engine(backend=args.backend, threads=args.threads)
    texts = sentences(args.sentences)
    engine.rephrase_candidates(texts[0], n=1, seed=0)  # loads MiniLM, activates the rephrase adapters
    backend = engine.backend.name
    print(f"backend serving rephrase: {backend} {engine.backend_note}")
    variants = {
        "one take": lambda t, s: "".join(engine.rephrase(t, params=engine.take_params(Mode.REPHRASE, 0, s))),
        f"best-of-{args.n}": lambda t, s: engine.rephrase_candidates(t, n=args.n, seed=s),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    names = list(variants)
    for i, text in enumerate(texts):
        for name in names[i % len(names):] + names[: i % len(names)]:
            engine.generator.invalidate()  # a new selection: nothing cached
            times[name].append(timed(lambda fn=variants[name], t=text, s=100 + i: fn(t, s)))
            print(f"  sentence {i + 1} {name}: {times[name][-1]:.1f} s", flush=True)
    base = statistics.median(times["one take"])
    load = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(f"\n{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, {os.cpu_count()} cores, "
          f"torch threads {args.threads}, {load}")
    print(f"| variant ({backend}, {len(texts)} held-out sentences) | median s | x one take |")
    print("|---|---|---|")
    for name, values in times.items():
        med = statistics.median(values)
        print(f"| {name} | {med:.1f} | {med / base:.2f}x |")
    if backend == "eager":
        one, many = step_rows(engine, 1), step_rows(engine, args.n)
        print(f"\ndecode step: 1 row {one * 1000:.0f} ms, {args.n} rows {many * 1000:.0f} ms ({many / one:.2f}x)")


if __name__ == "__main__":
    main()
