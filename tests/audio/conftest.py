"""Real audio for the voice tests: a private PulseAudio server with a virtual microphone.

The server is started once per session, with HOME/XDG_RUNTIME_DIR/PULSE_SERVER set before
sounddevice is imported (PortAudio scans devices on import). Speech comes from espeak-ng.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from pulse_mic import VirtualMic, missing_binaries


@pytest.fixture(scope="session")
def virtual_mic():
    missing = missing_binaries()
    if missing:
        pytest.skip(f"voice tests need these binaries (CI installs them): {', '.join(missing)}")
    mic = VirtualMic().start()
    yield mic
    mic.stop()


@functools.lru_cache(maxsize=64)
def _speech(text: str, voice: str, speed: int) -> np.ndarray:
    from engine.audio.synth import synthesize

    return synthesize(text, voice=voice, speed=speed)


@pytest.fixture(scope="session")
def speech():
    """speech(text, voice="en-us", speed=150) -> float32 16 kHz samples (cached)."""
    if missing_binaries():
        pytest.skip("espeak-ng/sox missing")

    def make(text: str, voice: str = "en-us", speed: int = 150) -> np.ndarray:
        return _speech(text, voice, speed)

    return make


@pytest.fixture(scope="session")
def recognizer():
    from engine.audio.recognizer import Recognizer

    return Recognizer()
