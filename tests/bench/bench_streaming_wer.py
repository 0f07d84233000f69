"""Streaming variants on recordings (no microphone, no wall clock in the result): WER and decoding work.

    flock /tmp/killah-cpu.lock nice -n 10 .venv/bin/python tests/bench/bench_streaming_wer.py [--n 20]

The held-out Austen sentences of bench_streaming.py (espeak-ng, 4 voices, 3 speeds) go through the live
loop's pieces (``stream_recording``: the segmenter fed 0.1 s at a time, decodes in line, so nothing is
ever abandoned here). For each streaming config: WER against the sentences and against the batch
reading of the same utterances, the decoder calls and the seconds spent decoding (summed; a measure of
work, taken under whatever load the machine has), and the seconds of each clip's last decode (the one
that gave the final text: live, the end of speech waits for it). The batch path is the reference.

``--overlaps "0.5-1.0;1.0-1.5"``: the tail decode (StreamingConfig.tail_overlap_s) with each overlap range,
beside the whole-buffer decode it replaced; also counts the tail decodes and those whose start did not
overlap the committed words (decoded again whole).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "bench"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("KILLAH_CACHE_DIR", str(REPO / ".data" / "cache"))

from bench_dictation import clip, held_out_sentences  # noqa: E402

from engine.audio.listener import stream_recording  # noqa: E402
from engine.audio.recognizer import load_recognizer  # noqa: E402
from engine.audio.streaming import StreamingConfig  # noqa: E402
from engine.audio.synth import with_silence  # noqa: E402
from training.eval.speech import wer  # noqa: E402


class Counting:
    """The recognizer, with its decodes counted and timed."""

    def __init__(self, recognizer) -> None:
        self.recognizer = recognizer
        self.name, self.vocabulary = recognizer.name, recognizer.vocabulary
        self.partial = recognizer.partial
        self.calls, self.seconds, self.last = 0, 0.0, 0.0

    def transcribe(self, audio, *args, **kwargs):
        t = self.recognizer.transcribe(audio, *args, **kwargs)
        self.calls += 1
        self.seconds += t.seconds
        self.last = t.seconds
        return t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--recognizer", default="", help="'' = the app's default (Moonshine base)")
    ap.add_argument("--overlaps", default="0.5-1.0", help="tail overlap ranges in s, 'lo-hi' joined by ';'")
    ap.add_argument("--forced", action="store_true", help="also the committed words forced (no tail)")
    args = ap.parse_args()
    recognizer = load_recognizer(args.recognizer or None, cpu_threads=1)
    sentences = held_out_sentences(args.n)
    clips = [with_silence(clip(s, i), 0.2, 1.0) for i, s in enumerate(sentences)]
    whole = replace(StreamingConfig(), tail_overlap_s=None)
    configs = {"streaming, whole buffer since the last cut (before)": whole}
    for span in filter(None, args.overlaps.split(";")):
        lo, hi = (float(x) for x in span.split("-"))
        tail = replace(whole, tail_overlap_s=(lo, hi))
        configs[f"streaming, tail after a confirmed pause, {lo:g}-{hi:g} s overlap"] = replace(
            tail, tail_from_unconfirmed=False
        )
        configs[f"streaming, tail after the latest pause, {lo:g}-{hi:g} s overlap"] = tail
    if args.forced:
        configs["streaming, committed words forced"] = replace(whole, force_committed=True)
    load_before = os.getloadavg()
    t0 = time.time()
    batch_texts, batch_seconds, rows = [], 0.0, {}
    for name, config in configs.items():
        counting = Counting(recognizer)
        texts, final_seconds, batch_of_same = [], 0.0, []
        tails = fallbacks = 0
        for audio in clips:
            streams = []
            events = stream_recording(audio, counting, streaming=config, streams=streams)
            tails += sum(s.tails for s in streams)
            fallbacks += sum(s.fallbacks for s in streams)
            finals = [e for e in events if e.kind == "final"]
            texts.append(" ".join(e.text for e in finals))
            final_seconds += counting.last
            if name == next(iter(configs)):  # the batch reading of the same utterances, once
                batch = [recognizer.transcribe(e.utterance.audio) for e in finals]
                batch_of_same.append(" ".join(t.text for t in batch))
                batch_seconds += sum(t.seconds for t in batch)
        batch_texts = batch_texts or batch_of_same
        rows[name] = (texts, counting.calls, counting.seconds, final_seconds, tails, fallbacks)
        print(f"{name}: done at load {os.getloadavg()[0]:.1f}", flush=True)
    load_after = os.getloadavg()
    n = len(clips)
    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
        f"recognizer {recognizer.name}, 1 thread, n = {n} clips, load average (1 min) {load_before[0]:.1f} "
        f"before, {load_after[0]:.1f} after, bench time {time.time() - t0:.0f} s\n"
    )
    print(
        "| path | WER | WER vs batch reading | decodes / clip | decoding s / clip | last decode s / clip "
        "| tail decodes (start misheard) |"
    )
    print("|---|---|---|---|---|---|---|")
    print(
        f"| batch (reference) | {wer(sentences, batch_texts):.3f} | 0 | 1.0 | {batch_seconds / n:.2f} | "
        f"{batch_seconds / n:.2f} | |"
    )
    for name, (texts, calls, seconds, final_seconds, tails, fallbacks) in rows.items():
        print(
            f"| {name} | {wer(sentences, texts):.3f} | {wer(batch_texts, texts):.3f} | {calls / n:.1f} | "
            f"{seconds / n:.2f} | {final_seconds / n:.2f} | {tails} ({fallbacks}) |"
        )
    if os.environ.get("BENCH_TEXTS"):
        for i, sentence in enumerate(sentences):
            print(f"\n{i} {sentence}")
            for name, row in rows.items():
                print(f"   {name[:40]}: {row[0][i]}")


if __name__ == "__main__":
    main()
