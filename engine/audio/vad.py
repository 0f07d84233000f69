"""Voice activity detection and utterance segmentation.

Two detectors vote: a cheap energy + spectral-flatness gate (rejects silence and
hiss) and Silero VAD v6, which faster-whisper ships as an ONNX file in its own
package (no download). A 32 ms block counts as speech only when both agree, so
white noise (loud, but flat spectrum and low Silero probability) and silence
never open an utterance: Whisper never sees them, which is the first guard
against its silence hallucinations ("Thank you.").

``UtteranceSegmenter`` turns blocks into utterances: speech starts after a few
speech blocks (plus a pre-roll so the first phoneme is kept) and ends after
``end_silence_ms`` of trailing silence; utterances with less than
``min_speech_ms`` of speech are dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.audio import SAMPLE_RATE

WINDOW = 512  # samples per decision (32 ms at 16 kHz), Silero's window
_CONTEXT = 64  # Silero v6 looks at the previous 64 samples too
# Silero's probability falls from ~0.8 to < 0.15 over about 3 windows after the last sound (measured on
# espeak-ng speech): those windows do not count against a sure end of utterance.
SURE_SILENCE_GRACE_WINDOWS = 3
KEEP_TAIL_MS = 200  # silence kept after the last speech in an utterance's audio


def rms(block: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(block, dtype=np.float64)))) if len(block) else 0.0


def spectral_flatness(block: np.ndarray) -> float:
    """Geometric / arithmetic mean of the power spectrum: ~1 for white noise, low for voiced speech."""
    spec = np.abs(np.fft.rfft(block * np.hanning(len(block)))) ** 2 + 1e-12
    spec = spec[1:]
    return float(np.exp(np.mean(np.log(spec))) / np.mean(spec))


class EnergyVad:
    """Energy above an adaptive noise floor, and a non-flat spectrum."""

    def __init__(self, min_rms: float = 0.006, floor_ratio: float = 3.0, max_flatness: float = 0.35) -> None:
        self.min_rms = min_rms
        self.floor_ratio = floor_ratio
        self.max_flatness = max_flatness
        self.noise_floor = min_rms / floor_ratio
        self.last_loud = False  # the last block was above the floor (speech, noise or music)

    def is_speech(self, block: np.ndarray) -> bool:
        level = rms(block)
        loud = level >= max(self.min_rms, self.noise_floor * self.floor_ratio)
        self.last_loud = loud
        if not loud:
            # Track the floor slowly on quiet blocks only, so speech does not raise it.
            self.noise_floor = 0.95 * self.noise_floor + 0.05 * max(level, 1e-5)
            return False
        return spectral_flatness(block) <= self.max_flatness

    def reset(self) -> None:
        self.noise_floor = self.min_rms / self.floor_ratio


def silero_model_path() -> Path | None:
    """The Silero VAD ONNX file inside the faster-whisper package, if installed."""
    try:
        from faster_whisper.utils import get_assets_path
    except ImportError:
        return None
    path = Path(get_assets_path()) / "silero_vad_v6.onnx"
    return path if path.exists() else None


class SileroVad:
    """Streaming Silero VAD v6 (ONNX): one probability per 512-sample window, state kept across calls."""

    def __init__(self, threshold: float = 0.5) -> None:
        import onnxruntime

        path = silero_model_path()
        if path is None:
            raise FileNotFoundError("silero_vad_v6.onnx (shipped with faster-whisper) not found")
        opts = onnxruntime.SessionOptions()
        opts.inter_op_num_threads = 1
        opts.intra_op_num_threads = 1
        opts.log_severity_level = 4
        self.session = onnxruntime.InferenceSession(
            str(path), providers=["CPUExecutionProvider"], sess_options=opts
        )
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def probability(self, window: np.ndarray) -> float:
        window = np.asarray(window, dtype=np.float32)
        x = np.concatenate([self._context, window])[None, :]
        prob, self._h, self._c = self.session.run(None, {"input": x, "h": self._h, "c": self._c})
        self._context = window[-_CONTEXT:]
        return float(np.asarray(prob).reshape(-1)[0])

    def is_speech(self, window: np.ndarray) -> bool:
        return self.probability(window) >= self.threshold


class CombinedVad:
    """Speech only when the energy gate and Silero (if available) agree."""

    def __init__(
        self, use_silero: bool = True, silero_threshold: float = 0.5, sure_silence_probability: float = 0.15
    ) -> None:
        self.energy = EnergyVad()
        self.sure_silence_probability = sure_silence_probability
        self.last_probability = 1.0  # Silero's, for the last window
        self.silero: SileroVad | None = None
        if use_silero:
            try:
                self.silero = SileroVad(silero_threshold)
            except (ImportError, FileNotFoundError):
                self.silero = None  # energy + flatness alone still rejects silence and white noise

    @property
    def name(self) -> str:
        return "energy+silero" if self.silero else "energy"

    def is_speech(self, window: np.ndarray) -> bool:
        energetic = self.energy.is_speech(window)
        if self.silero is None:
            return energetic
        # Run Silero on every window so its recurrent state follows the audio.
        self.last_probability = self.silero.probability(window)
        return self.last_probability >= self.silero.threshold and energetic

    def sure_silence(self) -> bool:
        """Was the last window surely not speech? Both detectors must say so clearly: quiet for the
        energy gate and Silero far below its threshold. A soft consonant, a breath or noise is not sure."""
        return (
            self.silero is not None
            and not self.energy.last_loud
            and self.last_probability < self.sure_silence_probability
        )

    def reset(self) -> None:
        self.energy.reset()
        self.last_probability = 1.0
        if self.silero:
            self.silero.reset()


@dataclass
class Utterance:
    audio: np.ndarray  # float32 mono 16 kHz, pre-roll included, trailing silence trimmed to 200 ms
    start_sample: int  # absolute sample index in the stream where speech started
    end_sample: int  # where speech ended (before the trailing silence)
    detected_at_sample: int  # where end-of-utterance was decided (end_sample + trailing silence)

    @property
    def duration(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class SegmenterConfig:
    start_blocks: int = 3  # consecutive speech windows to open an utterance (~96 ms)
    # Trailing silence that closes it when the VAD cannot judge silence (no Silero), or when the short
    # waits are off (sure_end_silence_ms = 0: the old batch path).
    end_silence_ms: int = 700
    # ...this much when every window from ~100 ms after the last speech on was sure silence
    # (CombinedVad.sure_silence: quiet and Silero p < 0.15): 96 ms of grace + 4 sure windows. Shorter
    # waits split more sentences at their commas: on 52 espeak-ng clips, 128 ms split 23, 160 ms 19,
    # 192 ms 10, 224 ms 5, 300 ms 3 (2026-12-08). See docs/voice.md, "End of utterance".
    sure_end_silence_ms: int = 224
    unsure_end_silence_ms: int = 300  # ...and this much where the VAD was unsure (breath, noise, music)
    min_speech_ms: int = 250  # less speech than this is a click or a cough: dropped
    pre_roll_ms: int = 300
    max_utterance_s: float = 25.0  # Whisper sees 30 s at most


@dataclass
class _Active:
    start_sample: int
    chunks: list = field(default_factory=list)
    speech_windows: int = 0
    silent_run: int = 0
    last_speech_sample: int = 0
    unsure_silence: bool = False  # a window since the last speech was silence the VAD was not sure of


class UtteranceSegmenter:
    """Feed it audio of any length; it returns the utterances that ended in it.

    ``active_audio()`` gives the audio of the utterance in progress (for partial results).
    """

    def __init__(self, vad: CombinedVad | None = None, config: SegmenterConfig | None = None) -> None:
        self.vad = vad or CombinedVad()
        self.cfg = config or SegmenterConfig()
        self._pending = np.zeros(0, dtype=np.float32)
        self._position = 0  # absolute sample index of the next window
        self._pre_roll: deque = deque(maxlen=max(1, self.cfg.pre_roll_ms * SAMPLE_RATE // 1000 // WINDOW))
        self._run = 0  # consecutive speech windows while idle
        self._active: _Active | None = None

    @property
    def in_speech(self) -> bool:
        return self._active is not None

    @property
    def active_start(self) -> int | None:
        """Stream sample where the utterance in progress started (None when idle)."""
        return None if self._active is None else self._active.start_sample

    @property
    def active_speech_end(self) -> int:
        """Samples from the start of the utterance in progress to its last speech window (0 if none)."""
        return 0 if self._active is None else self._active.last_speech_sample - self._active.start_sample

    @property
    def active_samples(self) -> int:
        """Samples of the utterance in progress so far (0 when idle), without joining its audio."""
        return 0 if self._active is None else len(self._active.chunks) * WINDOW

    def active_audio(self) -> np.ndarray:
        if self._active is None:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(self._active.chunks)

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
        self._pre_roll.clear()
        self._run = 0
        self._active = None
        self.vad.reset()

    def feed(self, samples: np.ndarray) -> list[Utterance]:
        done: list[Utterance] = []
        data = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32).reshape(-1)])
        n_windows = len(data) // WINDOW
        for i in range(n_windows):
            window = data[i * WINDOW : (i + 1) * WINDOW]
            utt = self._step(window)
            if utt is not None:
                done.append(utt)
        self._pending = data[n_windows * WINDOW :]
        return done

    def flush(self) -> list[Utterance]:
        """End of stream (push-to-talk released): close the utterance in progress."""
        if self._active is None:
            return []
        utt = self._close()
        return [utt] if utt is not None else []

    def _step(self, window: np.ndarray) -> Utterance | None:
        cfg = self.cfg
        speech = self.vad.is_speech(window)
        pos = self._position
        self._position += WINDOW
        if self._active is None:
            self._pre_roll.append(window)
            self._run = self._run + 1 if speech else 0
            if self._run >= cfg.start_blocks:
                chunks = list(self._pre_roll)
                self._active = _Active(start_sample=pos + WINDOW - len(chunks) * WINDOW, chunks=chunks)
                self._active.speech_windows = self._run
                self._active.last_speech_sample = pos + WINDOW
                self._pre_roll.clear()
                self._run = 0
            return None
        act = self._active
        act.chunks.append(window)
        if speech:
            act.speech_windows += 1
            act.silent_run = 0
            act.unsure_silence = False
            act.last_speech_sample = pos + WINDOW
        else:
            act.silent_run += 1
            # Silero's probability takes ~3 windows to decay after speech: judge the windows after that.
            if act.silent_run > SURE_SILENCE_GRACE_WINDOWS:
                act.unsure_silence = act.unsure_silence or not self.vad.sure_silence()
        silence_ms = act.silent_run * WINDOW * 1000 // SAMPLE_RATE
        too_long = len(act.chunks) * WINDOW >= cfg.max_utterance_s * SAMPLE_RATE
        if silence_ms >= self._end_wait_ms(act) or too_long:
            return self._close()
        return None

    def _end_wait_ms(self, act: _Active) -> int:
        cfg = self.cfg
        if not cfg.sure_end_silence_ms or self.vad.silero is None:
            return cfg.end_silence_ms
        return cfg.unsure_end_silence_ms if act.unsure_silence else cfg.sure_end_silence_ms

    def _close(self) -> Utterance | None:
        act, self._active = self._active, None
        self._run = 0
        if act is None:
            return None
        speech_ms = act.speech_windows * WINDOW * 1000 // SAMPLE_RATE
        if speech_ms < self.cfg.min_speech_ms:
            return None
        audio = np.concatenate(act.chunks)
        keep_tail = KEEP_TAIL_MS * SAMPLE_RATE // 1000
        speech_end = act.last_speech_sample - act.start_sample
        audio = audio[: min(len(audio), speech_end + keep_tail)]
        return Utterance(
            audio=audio,
            start_sample=act.start_sample,
            end_sample=act.last_speech_sample,
            detected_at_sample=act.start_sample + len(act.chunks) * WINDOW,
        )
