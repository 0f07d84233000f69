"""The voice loop on a worker thread: capture -> VAD/segmentation -> Whisper -> events.

Qt-free; the app's DictationController and the benchmark both drive it. Events go to
``on_event(VoiceEvent)`` from the worker thread (a Qt user re-emits them as signals).

Modes: "toggle" listens continuously; "push_to_talk" only feeds audio while the
gate is open (``set_gate(True)``), and closing the gate ends the utterance at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from engine.audio import SAMPLE_RATE
from engine.audio.capture import AudioCapture
from engine.audio.commands import match_grammar
from engine.audio.recognizer import SpeechRecognizer, Transcript, load_recognizer
from engine.audio.vad import CombinedVad, SegmenterConfig, Utterance, UtteranceSegmenter
from engine.errors import AudioError, KillahError


@dataclass
class VoiceEvent:
    kind: str  # "ready" | "level" | "speech_start" | "partial" | "final" | "rejected" | "error" | "stopped"
    text: str = ""
    level: float = 0.0
    transcript: Transcript | None = None
    utterance: Utterance | None = None
    latency: float = 0.0  # seconds from the end of speech to the final text (includes the silence wait)
    decode_seconds: float = 0.0


class VoiceListener:
    def __init__(
        self,
        on_event: Callable[[VoiceEvent], None],
        recognizer: SpeechRecognizer | str | None = None,
        device: int | str | None = None,
        segmenter_config: SegmenterConfig | None = None,
        partial_interval: float = 1.0,
        partials: bool = True,
    ) -> None:
        self.on_event = on_event
        self._recognizer_spec = recognizer if isinstance(recognizer, str) or recognizer is None else None
        self.recognizer: SpeechRecognizer | None = None if isinstance(recognizer, str) else recognizer
        self.device = device
        self.segmenter_config = segmenter_config or SegmenterConfig()
        self.partial_interval = partial_interval
        self.partials = partials
        self.mode = "toggle"
        self._gate = threading.Event()
        self._gate_closed_flush = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.capture: AudioCapture | None = None
        self.ready = threading.Event()
        # Names and rare words for the recognizer, read on the worker thread when listening starts
        # (the style memory is a database read): see set_vocabulary.
        self.vocabulary_source: Callable[[], list[str]] | None = None

    # ------------------------------------------------------------ control (any thread)

    def start(self, mode: str = "toggle") -> None:
        """Open the microphone (raises AudioError at once if it cannot) and start the worker."""
        if self.running and not self._stop.is_set():
            self.mode = mode
            return
        if self._thread is not None:  # a previous run is still closing its stream
            self._thread.join(timeout=5)
        self.mode = mode
        self._stop.clear()
        self.ready.clear()
        capture = AudioCapture(self.device)
        capture.start()  # AudioError propagates: the caller shows why voice is unavailable
        self.capture = capture
        self._thread = threading.Thread(target=self._run, name="killah-voice", daemon=True)
        self._thread.start()

    def stop(self, wait: bool = True) -> None:
        self._stop.set()
        thread = self._thread
        if wait and thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
            self._thread = None

    def set_recognizer(self, recognizer: SpeechRecognizer | str | None) -> None:
        """Use another recognizer from the next start (a name is loaded then, on the worker thread)."""
        self._recognizer_spec = recognizer if isinstance(recognizer, str) or recognizer is None else None
        self.recognizer = None if isinstance(recognizer, str) or recognizer is None else recognizer

    def set_gate(self, open_: bool) -> None:
        """Push-to-talk: open while the key/button is held."""
        if open_:
            self._gate.set()
        else:
            self._gate.clear()
            self._gate_closed_flush.set()

    @property
    def running(self) -> bool:
        """Listening (not merely closing down after ``stop``)."""
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    # ------------------------------------------------------------ worker

    def _emit(self, event: VoiceEvent) -> None:
        try:
            self.on_event(event)
        except Exception:  # noqa: BLE001 - a UI callback bug must not kill the voice loop
            import logging

            logging.getLogger(__name__).exception("voice event handler failed")

    def _run(self) -> None:
        capture = self.capture
        assert capture is not None
        try:
            if self.recognizer is None:
                self.recognizer = load_recognizer(self._recognizer_spec)
            if self.vocabulary_source is not None:
                self.recognizer.vocabulary = self.vocabulary_source()
            capture.wait_first_block()
            segmenter = UtteranceSegmenter(CombinedVad(), self.segmenter_config)
            # From the stream's start: words said while Whisper was loading are kept (push-to-talk
            # users speak as soon as they press the key).
            position = 0
            fed_position = 0  # samples fed to the segmenter (its own clock)
            # wall time at which segmenter sample k arrived ~= anchor_time + (k - anchor_k) / rate
            anchor_k, anchor_t = 0, time.monotonic()
            last_partial = 0.0
            last_level = 0.0
            self.ready.set()
            self._emit(VoiceEvent("ready"))
            while not self._stop.is_set():
                capture.check()
                samples, position = capture.buffer.read_since(position)
                now = time.monotonic()
                if now - last_level > 0.05:
                    self._emit(VoiceEvent("level", level=capture.level))
                    last_level = now
                ptt = self.mode == "push_to_talk"
                if ptt and self._gate_closed_flush.is_set():
                    self._gate_closed_flush.clear()
                    for utt in segmenter.flush():
                        self._finish(utt, anchor_k, anchor_t)
                if len(samples) == 0 or (ptt and not self._gate.is_set()):
                    time.sleep(0.02)
                    continue
                was_speaking = segmenter.in_speech
                anchor_k, anchor_t = fed_position + len(samples), now
                fed_position += len(samples)
                for utt in segmenter.feed(samples):
                    self._finish(utt, anchor_k, anchor_t)
                if segmenter.in_speech and not was_speaking:
                    self._emit(VoiceEvent("speech_start"))
                if self.partials and segmenter.in_speech and now - last_partial > self.partial_interval:
                    text = self.recognizer.partial(segmenter.active_audio())
                    last_partial = time.monotonic()
                    if text:
                        self._emit(VoiceEvent("partial", text=text))
        except KillahError as exc:
            self._emit(VoiceEvent("error", text=str(exc)))
        except Exception as exc:  # noqa: BLE001 - any failure in the loop becomes a clear state, not a crash
            self._emit(VoiceEvent("error", text=f"Voice input stopped: {exc}"))
        finally:
            capture.stop()
            self.capture = None
            self._emit(VoiceEvent("stopped"))

    def _finish(self, utt: Utterance, anchor_k: int, anchor_t: float) -> None:
        assert self.recognizer is not None
        speech_end_time = anchor_t - (anchor_k - utt.end_sample) / SAMPLE_RATE
        transcript = self.recognizer.transcribe(utt.audio, is_command=is_command)
        latency = time.monotonic() - speech_end_time
        kind = "final" if transcript.text else "rejected"
        self._emit(
            VoiceEvent(kind, text=transcript.text, transcript=transcript, utterance=utt, latency=latency,
                       decode_seconds=transcript.seconds)
        )


def is_command(text: str) -> bool:
    """A sure command reading, for Recognizer's second pass. "select <any words>" is not sure:
    "Select class sentence" is Whisper mishearing "select last sentence", so such utterances get
    the command-vocabulary pass too (its reading wins only if it is a sure command)."""
    cmd = match_grammar(text)
    return cmd is not None and cmd.kind not in ("select", "correct", "insert_after")


def transcribe_stream(samples: np.ndarray, recognizer: SpeechRecognizer, config: SegmenterConfig | None = None):
    """Offline helper (benchmarks, tests): segment a whole recording and transcribe each utterance."""
    segmenter = UtteranceSegmenter(CombinedVad(), config)
    utts = segmenter.feed(samples) + segmenter.flush()
    return [(u, recognizer.transcribe(u.audio, is_command=is_command)) for u in utts]


__all__ = ["VoiceEvent", "VoiceListener", "transcribe_stream", "AudioError"]
