"""Microphone capture: a sounddevice InputStream at 16 kHz mono float32 into a ring buffer.

sounddevice is imported lazily (``_sounddevice()``) so the engine, the CLI and the
editor work on machines without PortAudio; every failure becomes an ``AudioError``
whose message says why voice is unavailable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.audio import SAMPLE_RATE
from engine.errors import AudioError

BLOCK_SAMPLES = 512  # 32 ms: the window Silero VAD scores


def _sounddevice():
    """Import sounddevice, turning a missing PortAudio into a user-facing AudioError."""
    try:
        import sounddevice
    except OSError as exc:  # "PortAudio library not found"
        raise AudioError(
            "Voice input is unavailable: the PortAudio library is not installed (install libportaudio2)."
        ) from exc
    except ImportError as exc:
        raise AudioError("Voice input is unavailable: the sounddevice package is not installed.") from exc
    return sounddevice


@dataclass(frozen=True)
class InputDevice:
    index: int
    name: str
    channels: int
    default_samplerate: float
    is_default: bool


def list_input_devices() -> list[InputDevice]:
    """Devices that can record, default first. Raises AudioError without PortAudio."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
        default_in = sd.default.device[0]
    except Exception as exc:  # noqa: BLE001 - PortAudio raises PortAudioError/RuntimeError
        raise AudioError(f"Voice input is unavailable: the audio system cannot be queried ({exc}).") from exc
    found = [
        InputDevice(
            i, d["name"], int(d["max_input_channels"]), float(d["default_samplerate"]), i == default_in
        )
        for i, d in enumerate(devices)
        if d["max_input_channels"] > 0
    ]
    return sorted(found, key=lambda d: not d.is_default)


def resolve_device(device: int | str | None) -> int | None:
    """Check that ``device`` (index, name substring or None for the default) can record."""
    devices = list_input_devices()
    if not devices:
        raise AudioError("Voice input is unavailable: no microphone (no audio input device) was found.")
    if device is None:
        return None
    if isinstance(device, int):
        if any(d.index == device for d in devices):
            return device
        raise AudioError(f"Voice input is unavailable: there is no input device number {device}.")
    matches = [d for d in devices if device.lower() in d.name.lower()]
    if not matches:
        raise AudioError(f"Voice input is unavailable: no input device named {device!r}.")
    return matches[0].index


class RingBuffer:
    """Fixed-size float32 ring buffer with a running total of samples written.

    The writer (PortAudio's callback thread) only appends; readers ask for the
    samples after an absolute position, so nothing is consumed twice or lost
    silently (``read_since`` reports how many samples were overwritten).
    """

    def __init__(self, capacity: int) -> None:
        self._data = np.zeros(capacity, dtype=np.float32)
        self._capacity = capacity
        self._written = 0
        self._lock = threading.Lock()

    @property
    def written(self) -> int:
        return self._written

    def write(self, samples: np.ndarray) -> None:
        samples = np.asarray(samples, dtype=np.float32).reshape(-1)
        if len(samples) >= self._capacity:
            samples = samples[-self._capacity :]
        with self._lock:
            start = self._written % self._capacity
            end = start + len(samples)
            if end <= self._capacity:
                self._data[start:end] = samples
            else:
                cut = self._capacity - start
                self._data[start:] = samples[:cut]
                self._data[: end - self._capacity] = samples[cut:]
            self._written += len(samples)

    def read_since(self, position: int) -> tuple[np.ndarray, int]:
        """Samples written after absolute ``position`` → (samples, new position)."""
        with self._lock:
            total = self._written
            oldest = max(0, total - self._capacity)
            position = max(position, oldest)
            n = total - position
            if n <= 0:
                return np.zeros(0, dtype=np.float32), total
            start = position % self._capacity
            end = start + n
            if end <= self._capacity:
                out = self._data[start:end].copy()
            else:
                out = np.concatenate([self._data[start:], self._data[: end - self._capacity]])
            return out, total


class AudioCapture:
    """A running microphone stream. ``start()`` opens it; blocks arrive in ``buffer``
    and, optionally, in ``on_block(samples)`` (called on PortAudio's thread: keep it short).

    ``check()`` raises AudioError when the device vanished or the stream stalled;
    a reader should call it while it waits for audio.
    """

    def __init__(
        self,
        device: int | str | None = None,
        samplerate: int = SAMPLE_RATE,
        block_samples: int = BLOCK_SAMPLES,
        buffer_seconds: float = 60.0,
        on_block: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self.device = device
        self.samplerate = samplerate
        self.block_samples = block_samples
        self.buffer = RingBuffer(int(buffer_seconds * samplerate))
        self.on_block = on_block
        self.level = 0.0  # RMS of the last block, for a level meter
        self._stream = None
        self._error: str | None = None
        self._stopping = False
        self._last_callback = 0.0
        # (samples written, time.monotonic()) at the last callback: when a sample arrived, even if the
        # reader was busy decoding then (the end-of-speech latency is measured from it).
        self.arrival = (0, 0.0)
        self._started_at = 0.0
        self.first_block = threading.Event()

    # -- PortAudio thread
    def _callback(self, indata, frames, time_info, status) -> None:  # noqa: ARG002
        if status and status.input_overflow:
            pass  # a dropped block under load is not fatal; the VAD copes
        block = indata[:, 0].copy()
        self._last_callback = time.monotonic()
        self.level = float(np.sqrt(np.mean(block * block))) if len(block) else 0.0
        self.buffer.write(block)
        self.arrival = (self.buffer.written, self._last_callback)
        self.first_block.set()
        if self.on_block is not None:
            self.on_block(block)

    def _finished(self) -> None:
        # Called by PortAudio when the stream ends; if we did not stop it, the device went away.
        if self._stream is not None and not self._stopping:
            self._error = "Voice input stopped: the microphone was disconnected or stopped responding."

    def start(self) -> None:
        sd = _sounddevice()
        device = resolve_device(self.device)
        self._stopping = False
        try:
            self._stream = sd.InputStream(
                samplerate=self.samplerate,
                channels=1,
                dtype="float32",
                blocksize=self.block_samples,
                device=device,
                callback=self._callback,
                finished_callback=self._finished,
            )
            self._stream.start()
        except Exception as exc:  # noqa: BLE001 - PortAudioError carries the host error text
            self._stream = None
            raise AudioError(_explain_open_error(exc)) from exc
        self._started_at = time.monotonic()

    def arrival_time(self, position: int) -> float:
        """time.monotonic() at which stream sample ``position`` (a ``buffer.written`` count) arrived."""
        written, at = self.arrival
        return at - (written - position) / self.samplerate

    def wait_first_block(self, timeout: float = 5.0) -> None:
        if not self.first_block.wait(timeout):
            raise AudioError("Voice input is unavailable: the microphone delivers no audio.")

    def check(self, stall_seconds: float = 3.0) -> None:
        """Raise AudioError if the stream died or the device stopped delivering audio."""
        if self._error:
            raise AudioError(self._error)
        if self._stream is None:
            raise AudioError("Voice input is not running.")
        now = time.monotonic()
        last = self._last_callback or self._started_at
        if not self._stream.active or now - last > stall_seconds:
            self._error = "Voice input stopped: the microphone was disconnected or stopped responding."
            raise AudioError(self._error)

    def stop(self) -> None:
        self._stopping = True
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception:  # noqa: BLE001 - closing a vanished device may fail; nothing to save
                pass

    @property
    def running(self) -> bool:
        return self._stream is not None

    def __enter__(self) -> AudioCapture:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def _explain_open_error(exc: Exception) -> str:
    text = str(exc)
    low = text.lower()
    if "permission" in low or "denied" in low:
        return "Voice input is unavailable: permission to use the microphone was denied."
    if "invalid device" in low or "no default input" in low or "device unavailable" in low:
        return "Voice input is unavailable: the selected microphone is not available."
    if "connection refused" in low or "pulse" in low:
        return "Voice input is unavailable: the sound server (PulseAudio/PipeWire) is not running."
    return f"Voice input is unavailable: the microphone could not be opened ({text})."
