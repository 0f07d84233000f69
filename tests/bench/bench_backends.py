"""Benchmark: ExecuTorch INT8 (default preset) vs eager PyTorch (fp32, bf16) vs llama.cpp on the same model, prompt and threads.

    .venv/bin/python tests/bench/bench_backends.py [--model gemma3-270m] [--threads 1] [--preset NAME ...]

Each backend runs in its own subprocess (clean peak RSS): time to first token,
prefill and decode tok/s (greedy, same token ids for all), peak RSS, and
perplexity on held-out Austen text (Persuasion): over the first 512 tokens (the
figure of earlier runs) and over all ``--ppl-chunks`` chunks of 512 tokens, each
starting with BOS (~2,500 tokens: a 512-token figure moves by +-1 % between
quantization schemes that differ by less than that over more text). llama.cpp runs the model's own
Q4 GGUF through llama-cpp-python and is skipped, with the reason, when that
package is absent. Ratios are printed against llama.cpp, measured in the same run.

By default the cached programs of the default preset and of ``8da8w`` (the
unpruned 8-bit program, for comparison) are measured; ``--preset`` picks others.
A program with a pruned vocabulary scores only its kept tokens (the rest get
-inf), so its perplexity is over that softmax: what the deployed program does.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

# Used when training/data/corpora.py cannot fetch the Austen package (Persuasion, ch. 1, public domain).
FALLBACK_TEXT = (
    "Sir Walter Elliot, of Kellynch Hall, in Somersetshire, was a man who, for his own amusement, never took up "
    "any book but the Baronetage; there he found occupation for an idle hour, and consolation in a distressed one; "
    "there his faculties were roused into admiration and respect, by contemplating the limited remnant of the "
    "earliest patents; there any unwelcome sensations, arising from domestic affairs changed naturally into pity "
    "and contempt as he turned over the almost endless creations of the last century; and there, if every other "
    "leaf were powerless, he could read his own history with an interest which never failed. "
) * 4


def held_out_text() -> tuple[str, str, str, str]:
    """(prompt text, first perplexity text, more perplexity text, where they come from)."""
    try:
        from training.data.corpora import load_corpus

        paragraphs = [p for p in load_corpus("austen")["Persuasion"][40:] if len(p) > 200]
        return (
            " ".join(paragraphs[:3]),
            "\n\n".join(paragraphs[3:12]),
            "\n\n".join(paragraphs[12:90]),
            "Austen, Persuasion (janeaustenr)",
        )
    except Exception as exc:  # noqa: BLE001 - the corpus needs apt; the bench must still run
        print(f"(Austen corpus unavailable: {exc}; using an embedded passage)")
        return FALLBACK_TEXT[:900], FALLBACK_TEXT, FALLBACK_TEXT * 4, "Austen, Persuasion ch. 1 (embedded)"


def perplexity_chunks(tok, first: str, more: str, tokens: int, chunks: int) -> list[list[int]]:
    """The first ``tokens`` tokens of ``first`` (with BOS), then ``chunks - 1`` more of ``more``, each led by BOS."""
    out = [tok(first)["input_ids"][:tokens]]
    rest = tok(more, add_special_tokens=False)["input_ids"]
    step = tokens - 1
    for i in range(chunks - 1):
        piece = rest[i * step : (i + 1) * step]
        if len(piece) < 2:
            break
        out.append([tok.bos_token_id, *piece] if tok.bos_token_id is not None else piece)
    return out


def _ppl_result(nll_per_chunk: list[tuple[float, int]]) -> dict:
    """{"ppl": over all chunks, "ppl_first": over the first} from (summed NLL, predicted tokens) per chunk."""
    total, count = sum(n for n, _ in nll_per_chunk), sum(c for _, c in nll_per_chunk)
    first, first_count = nll_per_chunk[0]
    return {"ppl": math.exp(total / count), "ppl_first": math.exp(first / first_count), "ppl_tokens": count}


# ---------------------------------------------------------------- workers (one per subprocess)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed_decode(step, first_logits_fn, n: int, argmax) -> dict:
    t0 = time.perf_counter()
    logits = first_logits_fn()
    prefill = time.perf_counter() - t0
    token = argmax(logits)
    ttft = time.perf_counter() - t0
    tokens = [token]
    t1 = time.perf_counter()
    for _ in range(n - 1):
        logits = step(token)
        token = argmax(logits)
        tokens.append(token)
    decode = time.perf_counter() - t1
    return {"prefill_s": prefill, "ttft_s": ttft, "decode_s": decode, "tokens": tokens}


def run_torch_backend(kind: str, job: dict) -> dict:
    import torch

    torch.set_num_threads(job["threads"])
    from engine.export.parity import perplexity

    if kind.startswith("eager"):
        from engine.backends.eager import EagerBackend
        from engine.models import load_model

        loaded = load_model(job["model"])
        if kind == "eager-bf16":
            loaded.model.to(torch.bfloat16)
        backend = EagerBackend(loaded)
    else:
        from engine.backends.executorch import ExecuTorchBackend

        backend = ExecuTorchBackend(Path(job["pte"]), threads=job["threads"])
    prompt = job["prompt_ids"]
    argmax = lambda logits: int(torch.argmax(logits))  # noqa: E731
    backend.forward_tokens(prompt[:8], 0)  # warm-up (first-call allocations), not timed
    backend.reset()
    pos = [len(prompt)]

    def step(token: int):
        out = backend.forward_tokens([token], pos[0])
        pos[0] += 1
        return out

    result = _timed_decode(step, lambda: backend.forward_tokens(prompt, 0), job["decode_tokens"], argmax)
    result["gen_rss_mb"] = _peak_rss_mb()
    t0 = time.perf_counter()
    per_chunk = []
    for chunk in job["ppl_chunks"]:
        if kind.startswith("eager"):
            # One teacher-forced pass with every position's logits (the backend API returns only the last).
            ids = torch.tensor([chunk])
            with torch.inference_mode():
                logits = backend.model(input_ids=ids).logits[0].float()
            nll = float(torch.nn.functional.cross_entropy(logits[:-1], ids[0, 1:], reduction="sum"))
        else:
            nll = math.log(perplexity(backend, chunk)) * (len(chunk) - 1)
        per_chunk.append((nll, len(chunk) - 1))
    result.update(_ppl_result(per_chunk))
    result["ppl_s"] = time.perf_counter() - t0
    return result


def run_llama_cpp(job: dict) -> dict:
    import numpy as np
    from llama_cpp import Llama

    n = job["threads"]
    llm = Llama(job["gguf"], n_ctx=2048, n_threads=n, n_threads_batch=n, n_batch=512, verbose=False)
    prompt = job["prompt_ids"]
    argmax = lambda logits: int(np.argmax(logits))  # noqa: E731
    llm.eval(prompt[:8])  # warm-up
    llm.reset()

    def first():
        llm.eval(prompt)
        return llm.scores[llm.n_tokens - 1]

    def step(token: int):
        llm.eval([token])
        return llm.scores[llm.n_tokens - 1]

    result = _timed_decode(step, first, job["decode_tokens"], argmax)
    result["gen_rss_mb"] = _peak_rss_mb()
    del llm
    t0 = time.perf_counter()
    llm = Llama(
        job["gguf"], n_ctx=2048, n_threads=n, n_threads_batch=n, n_batch=512, logits_all=True, verbose=False
    )
    per_chunk = []
    for ids in job["ppl_chunks"]:
        llm.reset()
        llm.eval(ids)
        scores = np.asarray(llm.scores[: len(ids)], dtype=np.float64)
        shifted = scores - scores.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        per_chunk.append((-float(sum(logp[i, ids[i + 1]] for i in range(len(ids) - 1))), len(ids) - 1))
    result.update(_ppl_result(per_chunk))
    result["ppl_s"] = time.perf_counter() - t0
    return result


def worker(kind: str, job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    result = run_llama_cpp(job) if kind == "llama.cpp" else run_torch_backend(kind, job)
    result["peak_rss_mb"] = _peak_rss_mb()
    print("RESULT " + json.dumps(result), flush=True)


# ---------------------------------------------------------------- parent


def find_program(loaded, preset_name: str) -> Path | None:
    from engine.errors import ModelError
    from engine.export import ProgramCache, preset, spec_for

    try:
        return ProgramCache().lookup(loaded, spec_for(loaded, preset(preset_name)))
    except ModelError as exc:
        print(
            f"(no cached ExecuTorch program for {preset_name}: {exc} Run `killah export --quant {preset_name}`.)"
        )
        return None


def launch(kind: str, job_path: Path, timeout: int) -> dict | str:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONWARNINGS="ignore")
    cmd = [sys.executable, __file__, "--worker", kind, "--job", str(job_path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return f"timed out after {timeout} s"
    for line in proc.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    if proc.returncode < 0:
        return f"crashed ({signal.Signals(-proc.returncode).name})"
    return f"failed (exit {proc.returncode}): {(proc.stderr or proc.stdout).strip().splitlines()[-1:]}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="gemma3-270m")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--decode-tokens", type=int, default=64)
    p.add_argument("--ppl-tokens", type=int, default=512, help="tokens per perplexity chunk")
    p.add_argument("--ppl-chunks", type=int, default=5, help="chunks (the first is the 512-token text of earlier runs)")
    p.add_argument("--pte", action="append", default=[], help="ExecuTorch program(s) to measure (label=path)")
    p.add_argument(
        "--preset", action="append", default=[], help="measure the cached program of this preset (repeatable)"
    )
    p.add_argument("--skip", action="append", default=[], help="backend kinds to skip")
    p.add_argument("--json-out", type=Path, default=None)
    p.add_argument("--timeout", type=int, default=1800)
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    p.add_argument("--job", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.job)
        return

    from engine.export import DEFAULT_PRESET
    from engine.models import load_model, resolve

    loaded = load_model(args.model)
    tok = loaded.tokenizer
    prompt_text, ppl_first, ppl_more, source = held_out_text()
    prompt_ids = tok(prompt_text)["input_ids"][:256]
    ppl_chunks = perplexity_chunks(tok, ppl_first, ppl_more, args.ppl_tokens, args.ppl_chunks)
    n_ppl = sum(len(c) - 1 for c in ppl_chunks)
    programs = dict(item.split("=", 1) for item in args.pte)
    if not programs:
        for name in args.preset or list(dict.fromkeys([DEFAULT_PRESET, "8da8w"])):
            found = find_program(loaded, name)
            if found:
                programs[f"executorch-{name}"] = str(found)
    source_model = resolve(args.model)
    job = {
        "model": args.model,
        "threads": args.threads,
        "decode_tokens": args.decode_tokens,
        "prompt_ids": prompt_ids,
        "ppl_chunks": ppl_chunks,
        "gguf": str(source_model.path) if source_model.kind != "hf" else None,
    }
    del loaded
    kinds: list[tuple[str, dict]] = [(label, {"pte": path}) for label, path in programs.items()]
    kinds += [("eager-fp32", {}), ("eager-bf16", {})]
    try:
        import llama_cpp  # noqa: F401

        if job["gguf"]:
            kinds.append(("llama.cpp", {}))
        else:
            print("(llama.cpp skipped: the model is an HF folder, there is no GGUF to compare against)")
    except ImportError:
        print("(llama.cpp skipped: llama-cpp-python is not installed; pip install llama-cpp-python)")

    load = os.getloadavg()
    print(
        f"model {args.model}, {args.threads} thread(s), prompt {len(prompt_ids)} tokens, "
        f"greedy decode {args.decode_tokens}, perplexity on {n_ppl} tokens ({len(ppl_chunks)} chunks) of {source}"
    )
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, load average {load[0]:.1f} at start\n")
    results: dict[str, dict | str] = {}
    for kind, extra in kinds:
        if kind in args.skip:
            continue
        job_path = Path(f"/tmp/killah-bench-{os.getpid()}-{kind}.json")
        job_path.write_text(json.dumps({**job, **extra}))
        worker_kind = "executorch" if "pte" in extra else kind
        results[kind] = launch(worker_kind, job_path, args.timeout)
        job_path.unlink(missing_ok=True)
        print(
            f"  {kind}: done" if isinstance(results[kind], dict) else f"  {kind}: {results[kind]}", flush=True
        )

    n_prompt = len(prompt_ids)
    header = (
        f"{'backend':<28}{'TTFT ms':>9}{'prefill tok/s':>15}{'decode tok/s':>14}"
        f"{'RSS gen MB':>12}{'RSS all MB':>12}{'ppl 512':>9}{'ppl all':>9}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    rows = {}
    for kind, r in results.items():
        if isinstance(r, str):
            print(f"{kind:<28}{r}")
            continue
        row = {
            "ttft_ms": 1000 * r["ttft_s"],
            "prefill_tps": n_prompt / r["prefill_s"],
            "decode_tps": (args.decode_tokens - 1) / r["decode_s"],
            "gen_rss_mb": r["gen_rss_mb"],  # peak while generating
            "peak_rss_mb": r["peak_rss_mb"],  # peak including the perplexity pass
            "ppl": r["ppl"],
            "ppl_first": r["ppl_first"],
        }
        rows[kind] = row
        print(
            f"{kind:<28}{row['ttft_ms']:>9.0f}{row['prefill_tps']:>15.1f}{row['decode_tps']:>14.1f}"
            f"{row['gen_rss_mb']:>12.0f}{row['peak_rss_mb']:>12.0f}{row['ppl_first']:>9.2f}{row['ppl']:>9.2f}"
        )
    ref = rows.get("llama.cpp")
    for kind, row in rows.items():
        if ref is None or kind == "llama.cpp":
            continue
        print(
            f"{kind} / llama.cpp: prefill {row['prefill_tps'] / ref['prefill_tps']:.2f}x, "
            f"decode {row['decode_tps'] / ref['decode_tps']:.2f}x, perplexity {row['ppl'] / ref['ppl']:.3f}x"
        )
    fp32 = rows.get("eager-fp32")
    for kind, row in rows.items():
        if fp32 is not None and kind.startswith("executorch"):
            print(f"{kind} perplexity vs eager fp32: {100 * (row['ppl'] / fp32['ppl'] - 1):+.1f} %")
    load_end = os.getloadavg()
    print(f"\nload average {load[0]:.1f} -> {load_end[0]:.1f} (other jobs share the machine)")
    if args.json_out:
        args.json_out.write_text(
            json.dumps(
                {
                    "model": args.model,
                    "threads": args.threads,
                    "prompt_tokens": n_prompt,
                    "decode_tokens": args.decode_tokens,
                    "ppl_tokens": n_ppl,
                    "ppl_chunks": len(ppl_chunks),
                    "rows": rows,
                    "errors": {k: v for k, v in results.items() if isinstance(v, str)},
                    "load": [load[0], load_end[0]],
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
