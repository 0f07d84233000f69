"""The voice loop on a worker thread: capture -> VAD/segmentation -> Whisper -> events.

Qt-free; the app's DictationController and the benchmark both drive it. Events go to
``on_event(VoiceEvent)`` from the worker thread (a Qt user re-emits them as signals).

Modes: "toggle" listens continuously; "push_to_talk" only feeds audio while the
gate is open (``set_gate(True)``), and closing the gate ends the utterance at once.

Streaming (the default, ``streaming=StreamingConfig()``; engine/audio/streaming.py): partials come from
LocalAgreement-2 over re-decodes of the utterance, and the final text is the last hypothesis when it
already covered the end of speech. While a re-decode runs, the loop keeps feeding the VAD (``_pump``),
so a pause after the audio it covers abandons it and the pause decode starts at once.
``streaming=None`` is the batch path: the whole utterance is decoded when it ends, with a preview of
the last 8 s every ``partial_interval``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine.audio import SAMPLE_RATE
from engine.audio.capture import AudioCapture
from engine.audio.commands import match_grammar
from engine.audio.recognizer import COMMAND_PASS_MAX_SECONDS, SpeechRecognizer, Transcript, load_recognizer
from engine.audio.streaming import Partial, StreamingConfig, StreamingTranscriber
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
    committed: str = ""  # "partial" with streaming: the stable start of ``text`` (LocalAgreement-2)
    speech_end_time: float = 0.0  # "final"/"rejected": time.monotonic() when the speech ended


class VoiceListener:
    def __init__(
        self,
        on_event: Callable[[VoiceEvent], None],
        recognizer: SpeechRecognizer | str | None = None,
        device: int | str | None = None,
        segmenter_config: SegmenterConfig | None = None,
        partial_interval: float = 1.0,
        partials: bool = True,
        streaming: StreamingConfig | None = StreamingConfig(),  # noqa: B008 - frozen
    ) -> None:
        self.on_event = on_event
        self._recognizer_spec = recognizer if isinstance(recognizer, str) or recognizer is None else None
        self.recognizer: SpeechRecognizer | None = None if isinstance(recognizer, str) else recognizer
        self.device = device
        self.segmenter_config = segmenter_config or SegmenterConfig()
        self.partial_interval = partial_interval
        self.partials = partials
        self.streaming = streaming if partials else None
        self._flow: UtteranceFlow | None = None
        self.mode = "toggle"
        self._gate = threading.Event()
        self._gate_closed_flush = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.capture: AudioCapture | None = None
        self._feed = _Feed()
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
            self._feed = _Feed(anchor_t=time.monotonic())
            self._flow = UtteranceFlow(
                self.recognizer, segmenter, self.streaming, pump=lambda: self._pump_ended(capture, segmenter)
            )
            last_partial = 0.0
            self.ready.set()
            self._emit(VoiceEvent("ready"))
            while not self._stop.is_set():
                capture.check()
                fed = self._pump(capture, segmenter)
                self._finish_ended()
                if not fed:
                    time.sleep(0.02)
                    continue
                if self.streaming is not None:
                    partial = self._flow.partial()
                    if partial is not None and partial.text:
                        self._emit(VoiceEvent("partial", text=partial.text, committed=partial.committed))
                    self._finish_ended()  # an utterance that ended while the stream decoded
                elif (
                    self.partials
                    and segmenter.in_speech
                    and time.monotonic() - last_partial > self.partial_interval
                ):
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

    def _pump(self, capture: AudioCapture, segmenter: UtteranceSegmenter) -> bool:
        """The microphone's audio since the last call -> the segmenter; utterances that ended wait in
        ``_feed.ended``. True when audio was fed. Called by the loop, and by the stream while it decodes
        (so the end of speech is seen at once, not after that decode)."""
        feed = self._feed
        samples, feed.position = capture.buffer.read_since(feed.position)
        now = time.monotonic()
        if now - feed.last_level > 0.05:
            self._emit(VoiceEvent("level", level=capture.level))
            feed.last_level = now
        ptt = self.mode == "push_to_talk"
        if ptt and self._gate_closed_flush.is_set():
            self._gate_closed_flush.clear()
            feed.ended += [(u, feed.anchor_k, feed.anchor_t) for u in segmenter.flush()]
        if len(samples) == 0 or (ptt and not self._gate.is_set()):
            return False
        was_speaking = segmenter.in_speech
        # The loop may have been decoding when these samples came: date them by their arrival.
        feed.anchor_k, feed.anchor_t = feed.fed + len(samples), capture.arrival_time(feed.position)
        feed.fed += len(samples)
        feed.ended += [(u, feed.anchor_k, feed.anchor_t) for u in segmenter.feed(samples)]
        if segmenter.in_speech and not was_speaking:
            self._emit(VoiceEvent("speech_start"))
        return True

    def _pump_ended(self, capture: AudioCapture, segmenter: UtteranceSegmenter) -> list[Utterance]:
        """``_pump``, for the stream while it decodes: the utterances that ended and wait for their text."""
        self._pump(capture, segmenter)
        return [utt for utt, _, _ in self._feed.ended]

    def _finish_ended(self) -> None:
        ended, self._feed.ended = self._feed.ended, []
        for utt, anchor_k, anchor_t in ended:
            self._finish(utt, anchor_k, anchor_t)

    def _finish(self, utt: Utterance, anchor_k: int, anchor_t: float) -> None:
        assert self.recognizer is not None
        speech_end_time = anchor_t - (anchor_k - utt.end_sample) / SAMPLE_RATE
        transcript = self._flow.final(utt)
        latency = time.monotonic() - speech_end_time
        kind = "final" if transcript.text else "rejected"
        self._emit(
            VoiceEvent(
                kind,
                text=transcript.text,
                transcript=transcript,
                utterance=utt,
                latency=latency,
                decode_seconds=transcript.seconds,
                speech_end_time=speech_end_time,
            )
        )


@dataclass
class _Feed:
    """The live loop's position in the microphone stream, shared by the loop and ``_pump``."""

    position: int = 0  # ring-buffer samples read
    fed: int = 0  # samples fed to the segmenter (its own clock)
    # wall time at which segmenter sample k arrived ~= anchor_t - (anchor_k - k) / rate
    anchor_k: int = 0
    anchor_t: float = 0.0
    last_level: float = 0.0
    ended: list = field(default_factory=list)  # (Utterance, anchor_k, anchor_t) not finished yet


class UtteranceFlow:
    """The recognizer's side of the voice loop, for the live listener and for recordings alike:
    partial text of the utterance in progress, and the final text of one that ended.

    ``pump`` (the live loop's): feeds the microphone's new audio to ``segmenter`` and returns the
    utterances that ended and wait for their text; with it, a decode of the utterance in progress is
    abandoned when speech it does not cover ends (a pause, or the end of the utterance) while it runs."""

    def __init__(
        self,
        recognizer: SpeechRecognizer,
        segmenter: UtteranceSegmenter,
        streaming: StreamingConfig | None,
        pump: Callable[[], list[Utterance]] | None = None,
    ) -> None:
        self.recognizer = recognizer
        self.segmenter = segmenter
        self._pump = pump
        watch = self._speech_paused_after if pump is not None else None
        self.stream = StreamingTranscriber(recognizer.transcribe, streaming, watch) if streaming else None
        self._following: int | None = None  # start sample of the utterance the stream follows

    def _speech_paused_after(self, covered: int) -> bool:
        """While a decode of the utterance's first ``covered`` samples runs: did speech that it does not
        cover end (a pause, whose decode would be kept waiting, or the end of the utterance)?"""
        assert self._pump is not None and self.stream is not None
        ended = [u for u in self._pump() if u.start_sample == self._following]
        if ended:  # the decode is the final text if it covers the speech, else the final decode waits
            return ended[0].end_sample - ended[0].start_sample > covered
        seg = self.segmenter
        if not seg.in_speech or seg.active_start != self._following:
            return True  # the utterance was dropped (too little speech): the decode is of no use
        silence = seg.active_samples - seg.active_speech_end
        paused = silence >= self.stream.config.abandon_after_ms * SAMPLE_RATE // 1000
        return paused and seg.active_speech_end > covered

    def partial(self) -> Partial | None:
        """Re-decode the utterance in progress if it is time (streaming only)."""
        seg = self.segmenter
        if self.stream is None or not seg.in_speech:
            return None
        if seg.active_start != self._following:  # a new utterance (the last may have been dropped)
            self._following = seg.active_start
            self.stream.start()
        return self.stream.update(seg.active_audio(), seg.active_speech_end)

    def final(self, utt: Utterance) -> Transcript:
        if self.stream is None:
            return self.recognizer.transcribe(utt.audio, is_command=is_command)
        self._following = None
        transcript = self.stream.finish(utt.audio, utt.end_sample - utt.start_sample)
        if transcript.audio_seconds > COMMAND_PASS_MAX_SECONDS or (
            transcript.text and is_command(transcript.text)
        ):
            return transcript
        # A short utterance not heard as a command may be a misheard one: the recognizer's command
        # pass (a prompted second decode) needs the whole clip, so it is decoded as in the batch path.
        return self.recognizer.transcribe(utt.audio, is_command=is_command)


def is_command(text: str) -> bool:
    """A sure command reading, for Recognizer's second pass. "select <any words>" is not sure:
    "Select class sentence" is Whisper mishearing "select last sentence", so such utterances get
    the command-vocabulary pass too (its reading wins only if it is a sure command)."""
    cmd = match_grammar(text)
    return cmd is not None and cmd.kind not in ("select", "correct", "insert_after")


def stream_recording(
    samples: np.ndarray,
    recognizer: SpeechRecognizer,
    config: SegmenterConfig | None = None,
    streaming: StreamingConfig | None = StreamingConfig(),  # noqa: B008 - frozen
    block_s: float = 0.1,
    streams: list[StreamingTranscriber] | None = None,
) -> list[VoiceEvent]:
    """A recording through the live loop's pieces, ``block_s`` at a time as the microphone would give it
    (tests, benchmarks): the "partial", "final" and "rejected" events in order. ``streams``, if given,
    receives the StreamingTranscriber (its counters: decodes, tails, fallbacks)."""
    segmenter = UtteranceSegmenter(CombinedVad(), config)
    flow = UtteranceFlow(recognizer, segmenter, streaming)
    if streams is not None and flow.stream is not None:
        streams.append(flow.stream)
    events: list[VoiceEvent] = []
    step = int(block_s * SAMPLE_RATE)
    for i in range(0, len(samples), step):
        ended = segmenter.feed(samples[i : i + step])
        events += [_final_event(u, flow.final(u)) for u in ended]
        partial = flow.partial()
        if partial is not None and partial.text:
            events.append(VoiceEvent("partial", text=partial.text, committed=partial.committed))
    return events + [_final_event(u, flow.final(u)) for u in segmenter.flush()]


def _final_event(utt: Utterance, transcript: Transcript) -> VoiceEvent:
    kind = "final" if transcript.text else "rejected"
    return VoiceEvent(
        kind, text=transcript.text, transcript=transcript, utterance=utt, decode_seconds=transcript.seconds
    )


def transcribe_stream(
    samples: np.ndarray, recognizer: SpeechRecognizer, config: SegmenterConfig | None = None
):
    """Offline helper (benchmarks, tests): segment a whole recording and transcribe each utterance."""
    segmenter = UtteranceSegmenter(CombinedVad(), config)
    utts = segmenter.feed(samples) + segmenter.flush()
    return [(u, recognizer.transcribe(u.audio, is_command=is_command)) for u in utts]


__all__ = ["VoiceEvent", "VoiceListener", "transcribe_stream", "AudioError"]
