"""How long a cancelled Moonshine decode keeps the CPU busy after the cancel.

    nice -n 10 .venv/bin/python tests/bench/bench_moonshine_cancel.py [--n 20]

Streaming dictation abandons a running decode when speech pauses (engine/audio/streaming.py) and starts
the next one at once; the abandoned one runs on until it notices. Each trial decodes one held-out
sentence (espeak-ng) on a helper thread and cancels it at a random moment (uniform 0.05-1.5 s, the same
moments for both paths); the lag is from the cancel to the decode's return. Paths, alternating:

  terminate   the token also sets ONNX Runtime's RunOptions.terminate: the call under way stops
  step check  the token is only looked at before each decoder step (the encoder and the step under
              way run to their end)

Prints a markdown table with p50/p90 of the lag and the ratio to the step check, and the load average.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "bench"))

from bench_dictation import clip, held_out_sentences  # noqa: E402

from engine.audio.moonshine import MoonshineRecognizer  # noqa: E402
from engine.cancel import CancelToken  # noqa: E402


class StepCheckOnly(CancelToken):
    """A token that cannot stop a native call: the decoder sees it only between steps."""

    def on_cancel(self, callback) -> None:  # the terminate flag is never set
        pass


def cancel_lag(recognizer: MoonshineRecognizer, audio: np.ndarray, token: CancelToken, after: float) -> float:
    """Seconds from ``token.cancel()`` (``after`` s into the decode) to the decode's return."""
    done = threading.Event()
    worker = threading.Thread(target=lambda: (recognizer.transcribe(audio, cancel=token), done.set()))
    worker.start()
    if done.wait(after):
        return float("nan")  # finished before the cancel: nothing to measure
    t0 = time.perf_counter()
    token.cancel()
    done.wait()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=20)
    args = ap.parse_args()
    recognizer = MoonshineRecognizer(cpu_threads=1)
    sentences = held_out_sentences(args.n)
    rng = np.random.default_rng(0)
    paths = {"terminate": CancelToken, "step check": StepCheckOnly}
    lags: dict[str, list[float]] = {p: [] for p in paths}
    load_before = os.getloadavg()
    for i, sentence in enumerate(sentences):
        audio, after = clip(sentence, i), float(rng.uniform(0.05, 1.5))
        names = list(paths) if i % 2 == 0 else list(paths)[::-1]
        for name in names:
            lags[name].append(cancel_lag(recognizer, audio, paths[name](), after))
    load_after = os.getloadavg()
    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
        f"moonshine-base, 1 thread, load average (1 min) {load_before[0]:.1f} before, {load_after[0]:.1f} after\n"
    )
    ref = np.nanpercentile(lags["step check"], [50, 90])
    print("| path | n | cancel -> return p50 | p90 | p50 / step check's | p90 / step check's |")
    print("|---|---|---|---|---|---|")
    for name, values in lags.items():
        p50, p90 = np.nanpercentile(values, [50, 90])
        n = int(np.sum(np.isfinite(values)))
        print(
            f"| {name} | {n} | {p50 * 1000:.0f} ms | {p90 * 1000:.0f} ms | {p50 / ref[0]:.2f} | {p90 / ref[1]:.2f} |"
        )


if __name__ == "__main__":
    main()
