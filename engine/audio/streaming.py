"""Streaming dictation: partial text while the writer speaks, and a final text that is mostly ready
when the utterance ends.

The design is whisper_streaming's (Macháček et al., 2023), adapted to a recognizer without word
timestamps (Moonshine has none):

* ``LocalAgreement`` (n=2): the audio of the utterance so far is decoded again every
  ``interval_s`` of new audio; a word is *committed* once the last two hypotheses agree on it and on
  every word before it. Committed words are shown as stable; the rest is tentative.
* Buffer trimming at segment boundaries: when speech pauses, the buffer is decoded at once and that
  hypothesis is remembered with the pause's position. Once all of its words are committed (a later,
  longer hypothesis starts with them), the words belong to the audio before the pause, so a buffer
  longer than ``cut_after_s`` is cut there: later decodes, and the one at the end, see only the audio
  after it. A buffer longer
  than ``max_buffer_s`` is cut even so (at the latest pause, else at its quietest 32 ms), so a long
  monologue keeps the decoded audio bounded.
* The tail only (``tail_overlap_s``): once a pause's hypothesis is all committed, the audio before that
  pause is known to hold those words. Later decodes (periodic, at a pause, at the end) then read only
  the audio from a little before it (the overlap: the quietest 32 ms between ``tail_overlap_s``
  seconds before it, usually a gap between words) to the end, and the tail's words are merged with
  the committed ones where they overlap (``merge_tail``); a tail that does not overlap them is decoded
  again from the buffer's start. Moonshine's cost grows with the audio and the words it reads, so the
  decode that gives the final text reads ~1-3 s instead of the whole sentence.
* The end of the utterance: the pause decode also covers the end of speech. If no speech came after
  it, its hypothesis *is* the final text and nothing is decoded when the end is decided; otherwise
  only the tail is decoded.
* No waiting behind a stale decode: given a ``watch`` (the live loop, which keeps feeding the VAD),
  a decode of the growing buffer (periodic, or at an earlier pause) runs on a helper thread and is
  abandoned the moment speech pauses after the audio it covers; the decode of that pause starts at
  once. An abandoned decode adds no hypothesis, so the committed words are only ever what two
  *finished* decodes agreed on.
* Optionally (``force_committed``, off: it raised WER), the committed words are forced as the start of
  later decodes of the buffer (the recognizer's ``prefix``): Moonshine reads them in one decoder call
  instead of one call per token.

Qt-free; ``engine/audio/listener.py`` drives it on the voice thread, the tests feed it speech files.
"""

from __future__ import annotations

import difflib
import re
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from engine.audio import SAMPLE_RATE
from engine.audio.recognizer import Transcript
from engine.audio.vad import KEEP_TAIL_MS, WINDOW, rms
from engine.cancel import CancelToken


def _norm(word: str) -> str:
    """Words agree whatever their case and punctuation ("man," then "man")."""
    return re.sub(r"[^\w']", "", word.lower())


def _same(a: str, b: str) -> bool:
    """The same word in two decodes: equal but for case and punctuation, or a near spelling of a long
    word (the tail, read with less left context, may write "Longbourne" for "Longbourn")."""
    a, b = _norm(a), _norm(b)
    return a == b or (min(len(a), len(b)) >= 5 and difflib.SequenceMatcher(None, a, b).ratio() >= 0.8)


def merge_tail(before: list[str], tail: list[str], max_skip: int = 1) -> list[str] | None:
    """``before``: the words of the audio up to a point; ``tail``: a decode of the audio from a little
    before that point on, whose first words repeat the end of ``before``. Returns ``before`` + the tail
    after the longest run of its words equal to ``before``'s last ones, the run starting at one of its
    first ``max_skip`` + 1 words (the first may be a word the overlap cut in two). When none does, the
    run may end one word before ``before``'s end: the tail, which heard what follows, rewrites that last
    word ("snow." then "snowman and"). None when no word of the tail's start repeats ``before``'s end
    (the overlap was misheard: decode the whole buffer)."""
    for revised in (0, 1):
        kept = before[: len(before) - revised]
        best: tuple[int, int] | None = None  # (run length, skipped tail words)
        for skip in range(min(max_skip, len(tail) - 1) + 1):
            for k in range(min(len(kept), len(tail) - skip), 0, -1):
                if all(_same(tail[skip + i], kept[len(kept) - k + i]) for i in range(k)):
                    if best is None or k > best[0]:
                        best = (k, skip)
                    break
        if best is not None:
            k, skip = best
            return kept + tail[skip + k :]
    return None


def common_prefix(a: list[str], b: list[str]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if _norm(x) != _norm(y):
            break
        n += 1
    return n


class LocalAgreement:
    """LocalAgreement-n over successive hypotheses (word lists) of one growing audio buffer."""

    def __init__(self, n: int = 2) -> None:
        self.n = n
        self.committed: list[str] = []  # words of the buffer the last n hypotheses agreed on
        self._recent: deque[list[str]] = deque(maxlen=n)

    def insert(self, hypothesis: list[str]) -> list[str]:
        """Add the newest hypothesis of the whole buffer; return the words it newly commits."""
        self._recent.append(list(hypothesis))
        if len(self._recent) < self.n:
            return []
        agreed = min(common_prefix(self._recent[0], h) for h in self._recent)
        new = self._recent[-1][len(self.committed) : agreed]
        self.committed.extend(new)
        return new

    @property
    def last(self) -> list[str]:
        return list(self._recent[-1]) if self._recent else []

    @property
    def tentative(self) -> list[str]:
        """Words of the newest hypothesis after the committed ones."""
        return self.last[len(self.committed) :]

    def drop_prefix(self, k: int) -> None:
        """The buffer was cut after its first ``k`` words: forget them."""
        self.committed = self.committed[k:]
        self._recent = deque((h[k:] for h in self._recent), maxlen=self.n)

    def reset(self) -> None:
        self.committed = []
        self._recent.clear()


@dataclass(frozen=True)
class StreamingConfig:
    interval_s: float = 1.0  # decode again after this much new audio (docs/voice.md, "Streaming")
    # ...and after at least (last decode's seconds / busy_share) of it: on a slow or loaded CPU the
    # periodic decodes take at most this share of the time, so that the voice loop is usually free
    # when speech ends (a periodic decode running then delays the final text by its remaining time).
    busy_share: float = 0.5
    pause_ms: int = 64  # speech paused this long: decode now (this hypothesis may be the final text)
    # Cut at a committed pause only once the buffer is this long: a cut costs accuracy (Moonshine has no
    # prompt, so the audio after a cut is decoded without its left context: a 5 s sentence cut at its
    # comma came out at WER 0.32 against the uncut decode), and a short buffer is cheap to decode again.
    cut_after_s: float = 6.0
    max_buffer_s: float = 12.0  # cut the buffer when it grows past this (a monologue without pauses)
    min_audio_s: float = 0.5  # nothing to decode before this much audio
    # Abandon a decode still running when speech it does not cover pauses (needs a ``watch``, see
    # StreamingTranscriber): the pause decode, which may become the final text, then starts at once
    # instead of after the stale one (Moonshine: 1-4 s per decode on the 2-core VM).
    abort_on_pause: bool = True
    # ...once the silence after the speech it does not cover is this long: at 64 ms (pause_ms) espeak's
    # gaps between words ("notion of", "people's making") abandoned every decode of a sentence on the
    # loaded VM, so that none finished, nothing was committed and no partial text showed (2026-11-26).
    abandon_after_ms: int = 160
    watch_every_s: float = 0.02  # how often the live loop looks at the microphone during such a decode
    # Force the committed words as the start of later decodes: Moonshine reads 8 forced tokens in one
    # 170 ms decoder call where decoding them costs ~160 ms each. Off: on 20 held-out clips it cut the
    # last decode from 3.14 to 1.92 s but raised WER from 0.155 to 0.185, as a word committed early
    # ("A village" for "The village") can no longer be corrected (bench_streaming_wer, 2026-11-26).
    force_committed: bool = False
    # Decode only the tail: from the quietest 32 ms window between these many seconds before the latest
    # pause whose words are all committed (the overlap gives Moonshine, which takes no prompt, a word or
    # two of left context) to the end; None decodes the whole buffer since the last cut. Chosen by
    # bench_streaming_wer (docs/voice.md, "The tail only").
    tail_overlap_s: tuple[float, float] | None = (0.5, 1.0)
    # Start the tail at the latest pause whose decode finished, before a second hypothesis confirmed its
    # words. Off: on 20 held-out clips it raised WER from 0.155 to 0.180 and 7 of its 9 tails did not
    # overlap their words (decoded again whole); confirmed pauses cost 0.005 (bench_streaming_wer,
    # 2026-12-08, load 10-11).
    tail_from_unconfirmed: bool = False


@dataclass
class Partial:
    committed: str  # stable: the last two hypotheses agree on it
    tentative: str  # may still change

    @property
    def text(self) -> str:
        return " ".join(t for t in (self.committed, self.tentative) if t)


@dataclass
class _PauseCut:
    sample: int  # where to cut the buffer (utterance samples; inside the pause)
    words: list[str]  # the buffer's hypothesis decoded at that pause


@dataclass
class _Decoded:
    end: int  # utterance samples the hypothesis covered
    offset: int  # where the buffer started then
    transcript: Transcript


@dataclass
class StreamingTranscriber:
    """One utterance at a time: ``update`` while it grows, ``finish`` when it ends, then ``start`` again.

    ``decode(audio, prefix=..., cancel=...)`` turns audio into a guarded Transcript (a recognizer's
    ``transcribe``); ``audio`` arguments are the utterance from its first sample, ``speech_end`` the
    samples up to its last speech. ``watch(covered)``, if given, is called every ``watch_every_s`` while
    ``update`` decodes, with the utterance samples that decode covers; it feeds the microphone's new
    audio to the VAD and says True when speech after ``covered`` ended (paused, or the utterance ended).
    """

    decode: Callable[..., Transcript]
    config: StreamingConfig = field(default_factory=StreamingConfig)
    watch: Callable[[int], bool] | None = None

    def __post_init__(self) -> None:
        self.decodes = 0  # finished decoder calls, for the benchmark
        self.aborted = 0  # decodes abandoned because speech they did not cover ended while they ran
        self.tails = 0  # finished decodes that read only the tail
        self.fallbacks = 0  # tails that did not overlap the committed words: decoded again whole
        self.start()

    def start(self) -> None:
        self.agreement = LocalAgreement(2)
        self.final_words: list[str] = []  # committed words of audio already cut from the buffer
        self.offset = 0  # utterance sample where the buffer starts
        self._pauses: list[_PauseCut] = []
        self._last: _Decoded | None = None

    # ------------------------------------------------------------ while speaking

    def update(self, audio: np.ndarray, speech_end: int) -> Partial | None:
        """Decode if it is time; returns the new partial text, or None if nothing was decoded."""
        cfg = self.config
        if len(audio) - self.offset < cfg.min_audio_s * SAMPLE_RATE:
            return None
        decoded_end = self._last.end if self._last else 0
        paused = len(audio) - speech_end >= cfg.pause_ms * SAMPLE_RATE // 1000
        last_cost = self._last.transcript.seconds if self._last else 0.0
        due = len(audio) - decoded_end >= max(cfg.interval_s, last_cost / cfg.busy_share) * SAMPLE_RATE
        if not due and not (paused and decoded_end < speech_end):
            return None
        # At a pause the buffer is decoded as the segmenter will close it, up to 136 ms longer than heard.
        buffer = _as_utterance_end(audio, speech_end) if paused else audio
        if len(buffer) - self.offset > cfg.max_buffer_s * SAMPLE_RATE:
            self._force_cut(buffer)
        words = self._decode_buffer(buffer, watched=True)
        if words is None:
            # Abandoned: no hypothesis, so the committed words stay what two finished decodes agreed on.
            return None
        self.agreement.insert(words)
        if paused and words:
            self._pauses.append(_PauseCut((speech_end + len(audio)) // 2, words))
        if len(audio) - self.offset > cfg.cut_after_s * SAMPLE_RATE:
            self._cut_at_committed_pause()
        return self.partial()

    def partial(self) -> Partial:
        return Partial(
            " ".join(self.final_words + self.agreement.committed), " ".join(self.agreement.tentative)
        )

    def _decode_buffer(
        self, audio: np.ndarray, end: int | None = None, watched: bool = False
    ) -> list[str] | None:
        """The words of ``audio[offset:end]``: a decode of its tail merged with the committed words when
        there is a committed pause to start from, else a decode of all of it. ``_last.end`` records the
        utterance samples covered. A ``watched`` decode is abandoned (None) when speech after what it
        covers ends while it runs."""
        # The committed words are the start of the whole buffer only, not of a part cut short (_force_cut).
        whole = end is None
        end = len(audio) if end is None else end
        tail = self._tail_start(audio) if whole else None
        spent = 0.0
        if tail is not None:
            start, before = tail
            transcript = self._decode_clip(audio[start:end], "", watched, end)
            if transcript is None:
                return None
            words = merge_tail(before, transcript.text.split())
            if words is not None:
                self.tails += 1
                self._last = _Decoded(end, self.offset, transcript)
                return words
            self.fallbacks += 1  # the tail's start was misheard: read the whole buffer after all
            spent = transcript.seconds
        prefix = " ".join(self.agreement.committed) if self.config.force_committed and whole else ""
        transcript = self._decode_clip(audio[self.offset : end], prefix, watched, end)
        if transcript is None:
            return None
        if spent:
            transcript = replace(transcript, seconds=transcript.seconds + spent)
        self._last = _Decoded(end, self.offset, transcript)
        return transcript.text.split()

    def _decode_clip(self, clip: np.ndarray, prefix: str, watched: bool, end: int) -> Transcript | None:
        if watched and self.watch is not None and self.config.abort_on_pause:
            transcript = self._decode_watched(clip, end, prefix)
        else:
            transcript = self.decode(clip, prefix=prefix)
        if transcript is not None:
            self.decodes += 1
        return transcript

    def _tail_start(self, audio: np.ndarray) -> tuple[int, list[str]] | None:
        """Where a tail decode starts (utterance samples) and the committed words of the audio before
        the pause it overlaps; None when there is no committed pause far enough into the buffer."""
        span = self.config.tail_overlap_s
        if span is None:
            return None
        for pause in reversed(self._pauses):
            k = len(pause.words)
            confirmed = common_prefix(self.agreement.committed, pause.words) == k
            if k and (confirmed or self.config.tail_from_unconfirmed):
                lo = max(self.offset, pause.sample - int(span[1] * SAMPLE_RATE))
                hi = pause.sample - int(span[0] * SAMPLE_RATE)
                if hi - lo < WINDOW:
                    return None  # the pause is too near the buffer's start to save anything
                # The quietest 32 ms of the overlap's range: most often a gap between two words.
                start = min(range(lo, hi - WINDOW + 1, WINDOW // 2), key=lambda s: rms(audio[s : s + WINDOW]))
                return start, list(pause.words)
        return None

    def _decode_watched(self, clip: np.ndarray, end: int, prefix: str) -> Transcript | None:
        """Decode on a helper thread while ``watch`` looks at the microphone. None once speech after
        ``end`` ended: the decode is cancelled (the recognizer stops as soon as it can, Moonshine within
        milliseconds, docs/voice.md) and not waited for."""
        cancel = CancelToken()
        outcome: list[Transcript | BaseException] = []

        def run() -> None:
            try:
                outcome.append(self.decode(clip, prefix=prefix, cancel=cancel))
            except BaseException as exc:  # noqa: BLE001 - re-raised on the voice thread below
                outcome.append(exc)

        worker = threading.Thread(target=run, name="killah-decode", daemon=True)
        worker.start()
        while True:
            worker.join(self.config.watch_every_s)
            if not worker.is_alive():
                break
            if self.watch is not None and self.watch(end):
                cancel.cancel()
                self.aborted += 1
                return None
        if isinstance(outcome[0], BaseException):
            raise outcome[0]
        return outcome[0]

    def _cut_at_committed_pause(self) -> None:
        """Cut at the latest pause whose words are all committed (they are the audio before it)."""
        for pause in reversed(self._pauses):
            k = len(pause.words)
            if common_prefix(self.agreement.committed, pause.words) == k:
                self._cut(pause.sample, self.agreement.committed[:k])
                return

    def _cut(self, sample: int, words: list[str]) -> None:
        self.final_words.extend(words)
        self.agreement.drop_prefix(len(words))
        self.offset = sample
        # Later pauses were decoded from the same buffer: their first words are the ones just cut.
        self._pauses = [_PauseCut(p.sample, p.words[len(words) :]) for p in self._pauses if p.sample > sample]

    def _force_cut(self, audio: np.ndarray) -> None:
        """The buffer is too long: commit the latest pause's words, else decode up to the quietest
        window of the cap's second half and commit that (no decode is ever longer than the cap)."""
        if self._pauses:
            pause = self._pauses[-1]
            self._cut(pause.sample, pause.words)
        else:
            cap = int(self.config.max_buffer_s * SAMPLE_RATE)
            starts = range(self.offset + cap // 2, self.offset + cap - WINDOW, WINDOW)
            cut = min(starts, key=lambda s: rms(audio[s : s + WINDOW]))
            self._cut(cut, self._decode_buffer(audio, cut) or [])
        # The hypotheses so far covered audio on both sides of the cut: start agreeing afresh.
        self.agreement.reset()
        self._pauses = []
        self._last = None

    # ------------------------------------------------------------ at the end

    def finish(self, audio: np.ndarray, speech_end: int) -> Transcript:
        """Final text of the utterance: the last hypothesis if it already covered the end of speech
        (no decoding), else a decode of the buffer since the last cut only."""
        last = self._last
        if last is not None and last.end >= speech_end:
            # No speech after the last decode: its words (less any cut since, see drop_prefix) are final.
            tail, t, seconds = self.agreement.last, last.transcript, 0.0
        else:
            tail = self._decode_buffer(audio) or []
            t = self._last.transcript
            seconds = t.seconds
        text = " ".join(self.final_words + tail)
        dropped = "" if text else (t.dropped or "empty")
        result = Transcript(text, t.no_speech_prob, t.avg_logprob, len(audio) / SAMPLE_RATE, seconds, dropped)
        self.start()
        return result


def _as_utterance_end(audio: np.ndarray, speech_end: int) -> np.ndarray:
    """The audio as the segmenter will close it: speech plus KEEP_TAIL_MS of silence. Moonshine's
    reading changes with ~100 ms more or less of trailing silence ("walked along" / "walk to long"), so
    the pause decode, which may become the final text, sees the same length as the batch path; the
    windows not yet heard are zeros (the VAD has called what came so far silence)."""
    end = speech_end + KEEP_TAIL_MS * SAMPLE_RATE // 1000
    if len(audio) >= end:
        return audio[:end]
    return np.concatenate([audio, np.zeros(end - len(audio), np.float32)])
