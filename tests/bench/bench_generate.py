"""Eager engine vs llama.cpp on the same GGUF, and the saving of prefix KV reuse.

    .venv/bin/python tests/bench/bench_generate.py [--model gemma3-270m] [--threads 1 2] [--tokens 64]

Both backends get the same prompt, the same thread count, greedy decoding and
the same number of new tokens, in one run. llama.cpp (llama-cpp-python, an
optional extra built from source) is skipped with a note when absent.
Prints a table and the ratios; results go to docs/benchmarks.md by hand.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from engine.api import Engine  # noqa: E402
from engine.models import resolve  # noqa: E402
from engine.modes import GenerationParams, Mode  # noqa: E402
from engine.sampling import SamplingParams  # noqa: E402

FALLBACK_TEXT = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, must be in "
    "want of a wife. However little known the feelings or views of such a man may be on his first entering a "
    "neighbourhood, this truth is so well fixed in the minds of the surrounding families, that he is considered "
    "the rightful property of some one or other of their daughters. \"My dear Mr. Bennet,\" said his lady to him "
    "one day, \"have you heard that Netherfield Park is let at last?\" Mr. Bennet replied that he had not."
)


def held_out_text(min_chars: int = 1200) -> str:
    """A real Austen passage when the corpus builder is available, else the opening of Pride and Prejudice."""
    try:
        from training.data.corpora import load_corpus

        books = load_corpus("austen")
        paragraphs = [p for p in books[sorted(books)[0]] if len(p) > 200]
        text = ""
        for p in paragraphs[40:]:
            text += p + "\n\n"
            if len(text) >= min_chars:
                return text.strip()
    except Exception as exc:  # noqa: BLE001 - the bench must run without the corpus
        print(f"(corpus unavailable: {exc}; using the built-in passage)")
    return FALLBACK_TEXT


def bench_eager(engine: Engine, prompt: str, new_tokens: int, repeats: int) -> dict:
    params = GenerationParams(max_new_tokens=new_tokens, sampling=SamplingParams(temperature=0, repetition_penalty=1.0))
    ids = engine.tokenizer(prompt)["input_ids"]
    rows = []
    for _ in range(repeats):
        engine.generator.invalidate()
        for _piece in engine.generator.stream(ids, params):
            pass
        s = engine.last_stats
        rows.append((s.prefill_seconds, s.first_token_seconds, s.decode_tokens_per_second, s.new_tokens))
    best = min(rows, key=lambda r: r[1])
    return {
        "prompt_tokens": len(ids),
        "ttft_ms": 1000 * statistics.median(r[1] for r in rows),
        "prefill_tps": len(ids) / statistics.median(r[0] for r in rows),
        "decode_tps": statistics.median(r[2] for r in rows),
        "new_tokens": best[3],
    }


def bench_llama_cpp(gguf: Path, prompt: str, new_tokens: int, threads: int, repeats: int) -> dict | str:
    """llama.cpp in a child process: its native libraries never share a process with torch's."""
    import json
    import subprocess

    try:
        import llama_cpp  # noqa: F401
    except ImportError:
        return "llama-cpp-python not installed (pip install '.[bench]', ~18 min build)"
    job = json.dumps({"gguf": str(gguf), "prompt": prompt, "new_tokens": new_tokens, "threads": threads,
                      "repeats": repeats})
    proc = subprocess.run([sys.executable, __file__, "--llama-worker"], input=job, capture_output=True, text=True)
    if proc.returncode != 0:
        return f"llama.cpp failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:] or ''}"
    return json.loads(proc.stdout.strip().splitlines()[-1])


def llama_worker() -> None:
    import json

    from llama_cpp import Llama

    job = json.loads(sys.stdin.read())
    threads, new_tokens = job["threads"], job["new_tokens"]
    llm = Llama(model_path=job["gguf"], n_ctx=2048, n_threads=threads, n_threads_batch=threads, verbose=False)
    tokens = llm.tokenize(job["prompt"].encode(), add_bos=True)
    rows = []
    for _ in range(job["repeats"]):
        llm.reset()
        start = time.perf_counter()
        llm.eval(tokens)
        tok = llm.sample(top_k=1, temp=0.0)
        ttft = time.perf_counter() - start
        decode_start = time.perf_counter()
        for _ in range(new_tokens - 1):
            llm.eval([tok])
            tok = llm.sample(top_k=1, temp=0.0)
        rows.append((ttft, (new_tokens - 1) / (time.perf_counter() - decode_start)))
    print(json.dumps({
        "prompt_tokens": len(tokens),
        "ttft_ms": 1000 * statistics.median(r[0] for r in rows),
        "prefill_tps": len(tokens) / statistics.median(r[0] for r in rows),
        "decode_tps": statistics.median(r[1] for r in rows),
        "new_tokens": new_tokens,
    }))


def bench_prefix_reuse(engine: Engine, text: str, repeats: int) -> dict:
    """Two autocomplete calls whose prompts share all but the last few characters."""
    params = engine.mode_params[Mode.AUTOCOMPLETE].with_overrides(temperature=0.0, max_new_tokens=8)
    params = GenerationParams(max_new_tokens=8, sampling=params.sampling)  # no early stop: equal work
    first, second = text + " and the", text + " and the ev"
    timings = {"reuse": [], "fresh": []}
    reused = 0
    for _ in range(repeats):
        list(engine.complete(first, params=params))
        start = time.perf_counter()
        list(engine.complete(second, params=params))
        timings["reuse"].append(time.perf_counter() - start)
        reused = engine.last_stats.reused_positions
        engine.generator.invalidate()
        start = time.perf_counter()
        list(engine.complete(second, params=params))
        timings["fresh"].append(time.perf_counter() - start)
    return {
        "prompt_positions": engine.last_stats.prompt_positions,
        "reused_positions": reused,
        "reuse_ms": 1000 * statistics.median(timings["reuse"]),
        "fresh_ms": 1000 * statistics.median(timings["fresh"]),
    }


def main() -> None:
    if "--llama-worker" in sys.argv:
        llama_worker()
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="gemma3-270m")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    text = held_out_text()
    prompt = text[:1000]
    gguf = resolve(args.model).path
    print(f"# bench_generate  {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    print(f"# machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"# model {args.model} ({gguf.name}); greedy; {args.tokens} new tokens; median of {args.repeats}\n")
    engine = Engine(args.model, threads=args.threads[0], use_adapters=False)

    header = "| backend | threads | prompt tok | TTFT ms | prefill tok/s | decode tok/s |"
    print(header)
    print("|---|---|---|---|---|---|")
    ratios = []
    for threads in args.threads:
        torch.set_num_threads(threads)
        eager = bench_eager(engine, prompt, args.tokens, args.repeats)
        llama = bench_llama_cpp(gguf, prompt, args.tokens, threads, args.repeats)
        for name, r in (("eager PyTorch fp32", eager), ("llama.cpp (same GGUF)", llama)):
            if isinstance(r, str):
                print(f"| {name} | {threads} | – | – | – | {r} |")
                continue
            print(f"| {name} | {threads} | {r['prompt_tokens']} | {r['ttft_ms']:.0f} | "
                  f"{r['prefill_tps']:.0f} | {r['decode_tps']:.1f} |")
        if not isinstance(llama, str):
            ratios.append((threads, eager["prefill_tps"] / llama["prefill_tps"], eager["decode_tps"] / llama["decode_tps"]))
    for threads, pre, dec in ratios:
        print(f"\nratio eager / llama.cpp at {threads} thread(s): prefill {pre:.2f}x, decode {dec:.2f}x")

    torch.set_num_threads(args.threads[0])
    reuse = bench_prefix_reuse(engine, prompt, args.repeats)
    print("\n| autocomplete call (8 new tokens) | prompt positions | reused | time ms |")
    print("|---|---|---|---|")
    print(f"| second call, prefix KV reused | {reuse['prompt_positions']} | {reuse['reused_positions']} | {reuse['reuse_ms']:.0f} |")
    print(f"| same call, cache dropped | {reuse['prompt_positions']} | 0 | {reuse['fresh_ms']:.0f} |")
    print(f"\nprefix reuse saves {reuse['fresh_ms'] - reuse['reuse_ms']:.0f} ms "
          f"({reuse['fresh_ms'] / reuse['reuse_ms']:.2f}x faster)")


if __name__ == "__main__":
    main()
