"""Synthesized speech (espeak-ng + sox) for tests, benchmarks and projector training data.

Not used by the app at run time. Needs the ``espeak-ng`` and ``sox`` binaries.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from engine.audio import SAMPLE_RATE
from engine.errors import AudioError

VOICES = ["en-us", "en-gb", "en-us+f3", "en-gb-x-rp", "en-us+m3", "en-029", "en-gb-scotland", "en-us+f2"]


def available() -> bool:
    return bool(shutil.which("espeak-ng") and shutil.which("sox"))


def synthesize(text: str, voice: str = "en-us", speed: int = 150, pitch: int = 50) -> np.ndarray:
    """Speak ``text`` → float32 mono 16 kHz samples."""
    if not available():
        raise AudioError("espeak-ng and sox are needed to synthesize speech.")
    with tempfile.TemporaryDirectory() as tmp:
        raw, wav = Path(tmp) / "raw.wav", Path(tmp) / "speech.wav"
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(raw), text],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            ["sox", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer", str(wav)],
            check=True,
            capture_output=True,
        )
        return read_wav(wav)


def read_wav(path: Path) -> np.ndarray:
    import wave

    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2 and w.getnchannels() == 1
        data = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    return data.astype(np.float32) / 32768.0


def write_wav(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> Path:
    import wave

    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return Path(path)


def with_silence(samples: np.ndarray, before: float = 0.3, after: float = 1.2) -> np.ndarray:
    z = np.zeros
    return np.concatenate([z(int(before * SAMPLE_RATE), np.float32), samples, z(int(after * SAMPLE_RATE), np.float32)])


def add_noise(samples: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    power = float(np.mean(samples**2)) or 1e-6
    noise = rng.normal(0, np.sqrt(power / 10 ** (snr_db / 10)), len(samples)).astype(np.float32)
    return samples + noise


def sentences_for_speech(paragraphs: list[str], min_words: int = 5, max_words: int = 16) -> list[str]:
    """Plain sentences of a speakable length from prose paragraphs (no quotes, digits or odd marks)."""
    import re

    out = []
    for para in paragraphs:
        for sent in re.split(r"(?<=[.!?])\s+", para):
            sent = sent.strip()
            n = len(sent.split())
            if min_words <= n <= max_words and re.fullmatch(r"[A-Za-z][A-Za-z ,;'.!?-]*[.!?]", sent) and "--" not in sent:
                out.append(sent)
    return out
