"""Fuzz every document reader with >= 10,000 mutated real files and print what happened per format.

Each file is a small real .txt .md .rtf .docx or .pdf (tests/engine/fuzz_documents.py), mutated 1-4
times, written to disk and opened with engine.documents.read_document in a worker process (address
space capped at --memory-gib; killed and restarted after --timeout s, which counts as a hang).

    nice -n 10 .venv/bin/python tests/bench/fuzz_readers.py [--files 10000] [--seed 0] [--keep .data/fuzz]

Bars (docs/reliability.md): 0 crashes (anything but a KillahError), 0 hangs, every read under 5 s of CPU
(CPU, not wall: the machine is shared), peak resident memory added by one read under --bound-mib.
Files that break a bar are kept under --keep to reproduce. Exit status 1 when a bar is broken.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import platform
import random
import resource
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))

from fuzz_documents import FORMATS, fuzzed_file  # noqa: E402

CPU_BAR_SECONDS = 5.0


def _worker(conn, memory_gib: float) -> None:
    cap = int(memory_gib * 2**30)
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    import logging

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its repair notes on broken files, thousands of them
    from fuzz_documents import read_outcome

    folder = Path(tempfile.mkdtemp(prefix="killah-fuzz-"))
    while True:
        job = conn.recv()
        if job is None:
            return
        fmt, index, data = job
        path = folder / f"fuzz{index}.{fmt}"
        path.write_bytes(data)
        outcome = read_outcome(path)
        path.unlink()
        conn.send(outcome)


class Worker:
    """One reading process; replaced when a read hangs."""

    def __init__(self, memory_gib: float) -> None:
        self.memory_gib = memory_gib
        self._start()

    def _start(self) -> None:
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(child, self.memory_gib), daemon=True)
        self.process.start()

    def read(self, fmt: str, index: int, data: bytes, timeout: float):
        """The Outcome, or None when the read ran past ``timeout`` (the worker is then replaced)."""
        self.conn.send((fmt, index, data))
        if self.conn.poll(timeout):
            try:
                return self.conn.recv()
            except EOFError:  # the worker died (a segfault, the OOM killer)
                self._start()
                return "died"
        self.process.kill()
        self.process.join()
        self._start()
        return None

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=60.0, help="wall seconds before a read is a hang")
    parser.add_argument("--memory-gib", type=float, default=3.0, help="the worker's address-space cap")
    parser.add_argument("--bound-mib", type=float, default=1024.0, help="the peak-memory bar per read")
    parser.add_argument("--keep", type=Path, default=Path(".data/fuzz"), help="where bar-breaking files go")
    args = parser.parse_args()
    from tqdm import tqdm

    stats: dict[str, dict] = {
        fmt: {"files": 0, "clean": 0, "clear": 0, "crash": 0, "hang": 0, "cpu": 0.0, "wall": 0.0, "peak": 0}
        for fmt in FORMATS
    }
    broken: list[str] = []
    messages: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    worker = Worker(args.memory_gib)
    started = time.time()
    for index in tqdm(range(args.files), desc="fuzzed files", unit="file", mininterval=5):
        fmt = FORMATS[index % len(FORMATS)]
        data = fuzzed_file(fmt, random.Random(args.seed * 1_000_003 + index))
        outcome = worker.read(fmt, index, data, args.timeout)
        row = stats[fmt]
        row["files"] += 1
        if outcome is None or outcome == "died":
            kind, why = "hang" if outcome is None else "crash", "no answer" if outcome is None else "worker died"
        else:
            kind, why = outcome.kind, outcome.detail
            row["cpu"] = max(row["cpu"], outcome.cpu_seconds)
            row["wall"] = max(row["wall"], outcome.seconds)
            row["peak"] = max(row["peak"], outcome.peak_bytes)
            if kind == "clear":
                messages[fmt][_message_kind(why)] += 1
            if outcome.cpu_seconds > CPU_BAR_SECONDS or outcome.peak_bytes > args.bound_mib * 2**20:
                why = f"slow or big: {outcome.cpu_seconds:.1f} s CPU, {outcome.peak_bytes / 2**20:.0f} MiB"
                _keep(args.keep, fmt, index, data)
                broken.append(f"{fmt} #{index}: {why}")
        row[kind] += 1
        if kind in ("crash", "hang"):
            _keep(args.keep, fmt, index, data)
            broken.append(f"{fmt} #{index}: {kind}: {why}")
    worker.close()
    _print_report(args, stats, messages, broken, time.time() - started)
    return 1 if broken else 0


def _message_kind(message: str) -> str:
    """The kind of a clear error, for the table: the message without the file name."""
    return message.split(" ", 1)[-1].split("(")[0].strip()[:60]


def _keep(folder: Path, fmt: str, index: int, data: bytes) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"fuzz{index}.{fmt}").write_bytes(data)


def _print_report(args, stats, messages, broken, elapsed: float) -> None:
    load = os.getloadavg()
    print(
        f"\nfuzz_readers: {args.files} files, seed {args.seed}, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()} {os.cpu_count()} cores, load {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}, "
        f"{elapsed / 60:.1f} min"
    )
    print("| format | files | clean reads | clear errors | crashes | hangs | max CPU s | max wall s | peak MiB |")
    print("|---|---|---|---|---|---|---|---|---|")
    totals = defaultdict(float)
    for fmt, row in stats.items():
        print(
            f"| .{fmt} | {row['files']} | {row['clean']} | {row['clear']} | {row['crash']} | {row['hang']} | "
            f"{row['cpu']:.2f} | {row['wall']:.2f} | {row['peak'] / 2**20:.0f} |"
        )
        for key in ("files", "clean", "clear", "crash", "hang"):
            totals[key] += row[key]
        for key in ("cpu", "wall", "peak"):
            totals[key] = max(totals[key], row[key])
    print(
        f"| all | {totals['files']:.0f} | {totals['clean']:.0f} | {totals['clear']:.0f} | {totals['crash']:.0f} | "
        f"{totals['hang']:.0f} | {totals['cpu']:.2f} | {totals['wall']:.2f} | {totals['peak'] / 2**20:.0f} |"
    )
    print("\nclear errors by kind (top 5 per format):")
    for fmt, kinds in messages.items():
        top = sorted(kinds.items(), key=lambda kv: -kv[1])[:5]
        print(f"  .{fmt}: " + "; ".join(f"{n}x {kind}" for kind, n in top))
    print(f"\nbars broken: {len(broken)}")
    for line in broken[:40]:
        print("  " + line)


if __name__ == "__main__":
    sys.exit(main())
