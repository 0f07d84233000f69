"""Style memory indexing speed: a fresh index of >= 1,000 paragraphs, and re-indexing an unchanged folder.

Real text (Austen's novels via training/data/corpora.py) written as 250 files of
five formats (.txt .md .docx .rtf .pdf), 5 paragraphs each. References measured in
the same run: the bare MiniLM encoding of the same paragraphs (what indexing
cannot beat), and a bare walk + stat of the folder (what a no-op re-index must
approach).

    KILLAH_CACHE_DIR=.data/cache .venv/bin/python tests/bench/bench_index.py [--files 250] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine"))


def build_folder(folder: Path, n_files: int, per_file: int) -> int:
    from docfixtures import write_docx, write_pdf, write_rtf

    from training.data.corpora import load_corpus

    paragraphs = [p for paras in load_corpus("austen").values() for p in paras if len(p.split()) >= 20]
    writers = ["txt", "md", "docx", "rtf", "pdf"]
    total = 0
    for i in range(n_files):
        chunk = paragraphs[i * per_file : (i + 1) * per_file]
        kind = writers[i % len(writers)]
        path = folder / f"doc{i:04d}.{kind}"
        if kind in ("txt", "md"):
            path.write_text("\n\n".join(chunk) + "\n")
        elif kind == "docx":
            write_docx(path, chunk)
        elif kind == "rtf":
            write_rtf(path, chunk)
        else:  # one paragraph per page keeps the PDF re-flow out of the count
            write_pdf(path, [[p[j : j + 90] for j in range(0, len(p), 90)] for p in chunk])
        total += len(chunk)
    return total


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=250)
    parser.add_argument("--per-file", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KILLAH_HOME"] = str(Path(tmp) / "home")
        from engine.persona import StyleMemory
        from engine.persona.encoder import MiniLMEncoder

        folder = Path(tmp) / "docs"
        folder.mkdir()
        n_written = build_folder(folder, args.files, args.per_file)
        encoder = MiniLMEncoder()
        encoder.encode(["warm up"])
        memory = StyleMemory(encoder=encoder)

        start = time.perf_counter()
        report = memory.add_folder(folder)
        fresh = time.perf_counter() - start
        n_paras = memory.paragraph_count()
        assert report.status == "done" and not report.skipped, report.skipped

        texts = [t for d in memory.store.documents() for t in memory.store.iter_paragraph_texts(d.path)]
        start = time.perf_counter()
        encoder.encode(texts)
        encode_only = time.perf_counter() - start

        start = time.perf_counter()
        again = memory.refresh()
        reindex = time.perf_counter() - start
        assert len(again.unchanged) == args.files and not again.indexed

        start = time.perf_counter()
        for root, _dirs, files in os.walk(folder):
            for name in files:
                os.stat(os.path.join(root, name))
        walk = time.perf_counter() - start
        db_size = memory.store.path.stat().st_size
        memory.close()

    print(
        f"# Style memory indexing — {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.machine()}, {os.cpu_count()} cores, torch threads {args.threads}"
    )
    print(
        f"{args.files} files (txt/md/docx/rtf/pdf), {n_written} paragraphs written, {n_paras} indexed; "
        f"db {db_size / 2**20:.1f} MiB"
    )
    print()
    print("| measure | value | reference (same run) | ratio |")
    print("|---|---|---|---|")
    print(
        f"| fresh index | {fresh:.1f} s, {n_paras / fresh:.1f} paragraphs/s | MiniLM encode only: "
        f"{encode_only:.1f} s, {len(texts) / encode_only:.1f} paragraphs/s | {fresh / encode_only:.2f}x |"
    )
    print(
        f"| re-index, {args.files} unchanged files | {reindex * 1000:.0f} ms | walk + stat: {walk * 1000:.1f} ms "
        f"| {reindex / walk:.0f}x |"
    )


if __name__ == "__main__":
    main()
