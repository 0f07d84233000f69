"""Exemplar retrieval over a 100,000-paragraph style memory: the per-request cost (goal <= 20 ms).

The memory is a real SQLite store (``PersonaStore``) holding 100,000 paragraphs: real Reuters
paragraphs with their MiniLM vectors, repeated with small noise added to the vectors (embedding
100,000 real paragraphs would take over 15 min on one core). Queries are real held-out sentences,
encoded with MiniLM. Measured in the same run:

    search          StyleMemory.search_vector: one pass over the float16 matrix, top candidates,
                    SQLite fetch of their texts, exclusion, MMR   (the per-request cost, query given)
    search float32  the same over a float32 copy of the matrix (the search before the float16 matrix),
                    interleaved with the float16 one so both see the same load
    exemplars       StyleMemory.exemplars uncached: + MiniLM query encoding and the token budget
    cached          StyleMemory.exemplars again in the same paragraph (the path of every keystroke)
    reference       the same cosine scores by a per-row loop (np.dot per paragraph) + full sort

    KILLAH_CACHE_DIR=.data/cache .venv/bin/python tests/bench/bench_retrieval.py [--paragraphs 100000]
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import numpy as np  # noqa: E402


def p50(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def p95(xs: list[float]) -> float:
    return sorted(xs)[int(0.95 * (len(xs) - 1))] * 1000


def picked(found) -> list[str] | str:
    """The exemplar paragraphs a search chose (which noisy copy aside: copies tie within 1e-3), or why none."""
    return [re.sub(r" \(\d+\)$", "", e.text) for e in found] if isinstance(found, list) else found.reason


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--paragraphs", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=40)
    parser.add_argument("--reference-queries", type=int, default=8)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from engine.persona import StyleMemory, StyleRequest
    from engine.persona.exemplars import RELEVANCE_THRESHOLD, RetrievalStats
    from training.data.personas import embed_texts
    from training.eval.style_retrieval import held_out_writers

    writer = held_out_writers(["reuters"])["reuters"]
    base_texts = writer.history
    base_vectors = embed_texts(base_texts)
    queries = [" ".join(p.split()[:40]) for p in writer.heldout[: args.queries]]
    rng = np.random.default_rng(0)
    copies = -(-args.paragraphs // len(base_texts))
    texts = [f"{t} ({c})" for c in range(copies) for t in base_texts][: args.paragraphs]
    vectors = np.concatenate([base_vectors + rng.normal(0, 0.02, base_vectors.shape) for _ in range(copies)])
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)[: args.paragraphs]

    with tempfile.TemporaryDirectory() as tmp:
        memory = StyleMemory(Path(tmp) / "bench.sqlite3")
        t0 = time.perf_counter()
        memory.store.replace_document(str(Path(tmp) / "emma.txt"), 0, 0, "bench", "txt", texts, vectors)
        t1 = time.perf_counter()
        ids, matrix = memory._memory_vectors()
        t2 = time.perf_counter()
        matrix32 = matrix.astype(np.float32)
        qvecs = memory.encoder.encode(queries)
        search, search32, reference, uncached, cached, encode = [], [], [], [], [], []
        search_cpu, search32_cpu, uncached_cpu, reference_cpu = [], [], [], []
        same = same32 = cached_hits = active = relevant = 0
        for i, (q, qv) in enumerate(zip(queries, qvecs, strict=True)):
            stats = RetrievalStats()
            t, c = time.perf_counter(), time.process_time()
            found = memory.search_vector(qv, ids, matrix, q, StyleRequest(), 2, RELEVANCE_THRESHOLD, stats)
            search.append(time.perf_counter() - t)
            search_cpu.append(time.process_time() - c)
            stats32 = RetrievalStats()
            t, c = time.perf_counter(), time.process_time()
            found32 = memory.search_vector(
                qv, ids, matrix32, q, StyleRequest(), 2, RELEVANCE_THRESHOLD, stats32
            )
            search32.append(time.perf_counter() - t)
            search32_cpu.append(time.process_time() - c)
            same32 += int(picked(found) == picked(found32))
            if i < args.reference_queries:  # the per-row loop takes seconds: a few queries suffice
                t, c = time.perf_counter(), time.process_time()
                scores = [float(np.dot(row, qv)) for row in matrix32]
                order = sorted(range(len(scores)), key=scores.__getitem__, reverse=True)[:16]
                reference.append(time.perf_counter() - t)
                reference_cpu.append(time.process_time() - c)
                same += int(ids[order[0]] == stats.candidates[0])
            t, c = time.perf_counter(), time.process_time()
            memory.exemplars(q, StyleRequest(document=f"doc{i}"))
            uncached.append(time.perf_counter() - t)
            uncached_cpu.append(time.process_time() - c)
            encode.append(memory.last_retrieval.encode_seconds)
            t = time.perf_counter()
            again = memory.exemplars(q + " and", StyleRequest(document=f"doc{i}"))
            cached.append(time.perf_counter() - t)
            cached_hits += int(memory.last_retrieval.cached)
            active += int(again.active)
            relevant += int(isinstance(found, list))
        memory.close()

    ref, ref_cpu = statistics.median(reference), statistics.median(reference_cpu)
    print(
        f"# exemplar retrieval, {args.paragraphs:,} paragraphs x {matrix.shape[1]} {matrix.dtype}, "
        f"{len(queries)} queries, {torch.get_num_threads()} torch thread(s)"
    )
    print(
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; machine: {platform.machine()}, "
        f"{os.cpu_count()} cores; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"store insert {t1 - t0:.1f} s; matrix load from SQLite (once per memory change) {t2 - t1:.2f} s")
    print("wall = elapsed time (inflated by the machine's load); CPU = this process's CPU time (the cost)")
    print("| step | wall p50 ms | wall p95 ms | CPU p50 ms | CPU ratio vs reference (p50) |")
    print("|---|---|---|---|---|")
    for name, xs, cpu in (
        ("search (float16 matrix + top + SQLite texts + MMR)", search, search_cpu),
        ("search, float32 matrix (before)", search32, search32_cpu),
        ("exemplars, uncached (+ MiniLM query, budget)", uncached, uncached_cpu),
        ("  of which MiniLM query encoding (wall)", encode, None),
        ("exemplars, cached (same paragraph)", cached, None),
        ("reference: per-row np.dot loop + sort", reference, reference_cpu),
    ):
        cells = (
            f"{p50(cpu):.2f} | {statistics.median(cpu) / ref_cpu:.4f}"
            if cpu
            else f"- | {statistics.median(xs) / ref:.4f}"
        )
        print(f"| {name} | {p50(xs):.2f} | {p95(xs):.2f} | {cells} |")
    print(
        f"top-1 agrees with the reference: {same}/{len(reference)}; float16 and float32 pick the same "
        f"paragraphs: {same32}/{len(queries)}; queries with exemplars above the threshold: "
        f"{relevant}/{len(queries)} (search), {active}/{len(queries)} (exemplars); second call in the same "
        f"paragraph served from the cache: {cached_hits}/{len(queries)}"
    )


if __name__ == "__main__":
    main()
