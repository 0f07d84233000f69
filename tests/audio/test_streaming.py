"""Streaming dictation: the LocalAgreement-2 policy on hand-made hypotheses, buffer cuts, the final
text without a decode, and real speech (files through the live loop's pieces, and the virtual mic)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from engine.audio import SAMPLE_RATE
from engine.audio.listener import VoiceListener, stream_recording
from engine.audio.recognizer import Transcript
from engine.audio.streaming import LocalAgreement, StreamingConfig, StreamingTranscriber, merge_tail
from engine.audio.synth import with_silence
from engine.cancel import CancelToken
from training.eval.speech import wer

SECOND = SAMPLE_RATE


def test_a_word_is_committed_once_two_hypotheses_agree_on_it_and_all_before_it():
    policy = LocalAgreement(2)
    assert policy.insert("the cat".split()) == []  # one hypothesis commits nothing
    assert policy.insert("the cat sat".split()) == ["the", "cat"]
    assert policy.tentative == ["sat"]
    assert policy.insert("the cap sat on".split()) == []  # "cat" stays committed; "cap" disagrees
    assert policy.committed == ["the", "cat"]
    assert policy.insert("the cap sat on the mat".split()) == ["sat", "on"]
    assert policy.committed == ["the", "cat", "sat", "on"]
    assert policy.tentative == ["the", "mat"]


def test_case_and_punctuation_do_not_break_agreement():
    policy = LocalAgreement(2)
    policy.insert("Well I said".split())
    assert policy.insert("well, I said, go".split()) == ["well,", "I", "said,"]


def test_dropping_a_cut_prefix_keeps_agreeing_on_the_rest():
    policy = LocalAgreement(2)
    policy.insert("one two three".split())
    policy.insert("one two three four".split())
    policy.drop_prefix(2)
    assert policy.committed == ["three"]
    assert policy.insert("three four five".split()) == ["four"]


class Scripted:
    """Hand-made hypotheses: the words heard in the first ``n`` seconds of the buffer."""

    def __init__(self, script: list[tuple[float, str]], seconds: float = 0.01) -> None:
        self.script = script
        self.seconds = seconds  # what each decode reports it cost
        self.calls: list[int] = []  # buffer lengths decoded
        self.prefixes: list[str] = []  # the committed words each decode was given

    def __call__(self, audio: np.ndarray, prefix: str = "", cancel=None) -> Transcript:
        self.calls.append(len(audio))
        self.prefixes.append(prefix)
        text = ""
        for seconds, words in self.script:
            if len(audio) >= seconds * SECOND:
                text = words
        return Transcript(text, 0.0, -0.2, len(audio) / SECOND, self.seconds)


def grow(stream: StreamingTranscriber, total_s: float, speech_end_s: float, step_s: float = 0.1):
    audio = np.zeros(int(total_s * SECOND), np.float32)
    partials = []
    for end in np.arange(step_s, total_s + 1e-9, step_s):
        n = int(round(end * SECOND))
        partial = stream.update(audio[:n], min(n, int(speech_end_s * SECOND)))
        if partial is not None:
            partials.append(partial)
    return audio, partials


def test_the_decode_at_the_pause_is_the_final_text_and_nothing_is_decoded_at_the_end():
    decode = Scripted([(0.9, "it is"), (1.9, "it is a truth"), (2.6, "it is a truth universally")])
    stream = StreamingTranscriber(decode, StreamingConfig(interval_s=1.0, pause_ms=64))
    audio, partials = grow(stream, 2.8, speech_end_s=2.5)
    assert [p.committed for p in partials][:2] == ["", "it is"]
    calls = len(decode.calls)
    final = stream.finish(audio[: int(2.7 * SECOND)], int(2.5 * SECOND))
    assert final.text == "it is a truth universally"
    assert len(decode.calls) == calls  # the pause decode covered the end of speech
    assert final.seconds == 0.0


def test_on_a_slow_cpu_periodic_decodes_take_at_most_half_the_time_but_a_pause_decodes_at_once():
    decode = Scripted([(0.5, "slow words")], seconds=1.5)  # each decode costs 1.5 s
    stream = StreamingTranscriber(decode, StreamingConfig(interval_s=1.0, busy_share=0.5))
    grow(stream, 7.0, speech_end_s=6.5)
    lengths = [round(n / SECOND, 1) for n in decode.calls]
    # every 3 s of audio (1.5 s / 0.5), then the pause at 6.5 s (decoded with the 0.2 s tail the
    # segmenter keeps, as the batch path would see it)
    assert lengths == [1.0, 4.0, 6.7]


def test_at_a_pause_whose_words_are_committed_a_long_buffer_is_cut_and_the_end_decodes_only_the_tail():
    # 0-2 s: "first part"; a pause at 2.0-2.3 s; then more speech ("second bit") until 4.3 s.
    decode = Scripted([(1.0, "first"), (2.1, "first part")])
    stream = StreamingTranscriber(decode, StreamingConfig(interval_s=1.0, pause_ms=64, cut_after_s=3.3))
    audio = np.zeros(int(5 * SECOND), np.float32)
    for end_s, speech_end_s in [(1.0, 1.0), (2.1, 2.0), (2.3, 2.0)]:
        stream.update(audio[: int(end_s * SECOND)], int(speech_end_s * SECOND))
    assert stream.offset == 0  # the pause hypothesis is not committed yet
    stream.update(audio[: int(3.2 * SECOND)], int(3.2 * SECOND))  # agrees with "first part", but short
    assert stream.offset == 0 and stream.agreement.committed == ["first", "part"]
    stream.update(audio[: int(4.2 * SECOND)], int(4.2 * SECOND))  # past cut_after_s: cut at the pause
    assert 2 * SECOND < stream.offset < 2.3 * SECOND and stream.final_words == ["first", "part"]
    cut = stream.offset
    decode.script = [(0.5, "second bit")]  # the tail buffer alone
    final = stream.finish(audio[: int(4.5 * SECOND)], int(4.3 * SECOND))
    assert final.text == "first part second bit"
    assert decode.calls[-1] == int(4.5 * SECOND) - cut  # only the audio after the cut was decoded


def test_a_monologue_without_pauses_keeps_the_decoded_buffer_bounded():
    words = " ".join(f"w{i}" for i in range(400))
    # One word per 0.25 s of buffer, whatever the buffer: a recognizer that always hears speech.
    decode = Scripted([(k * 0.25, " ".join(words.split()[:k])) for k in range(1, 400)])
    stream = StreamingTranscriber(decode, StreamingConfig(interval_s=1.0, max_buffer_s=6.0))
    grow(stream, 30.0, speech_end_s=30.0, step_s=0.5)
    assert max(decode.calls) <= 6 * SECOND
    assert stream.final_words  # text was committed along the way


class SlowAt(Scripted):
    """Decodes of the ``slow`` buffer lengths run until they are cancelled, as on a slow CPU; the
    others answer from the script at once."""

    def __init__(self, script: list[tuple[float, str]], slow: set[int]) -> None:
        super().__init__(script)
        self.slow = slow
        self.stopped = threading.Event()  # set when a slow decode saw its cancel

    def __call__(self, audio: np.ndarray, prefix: str = "", cancel=None) -> Transcript:
        if len(audio) not in self.slow:
            return super().__call__(audio, prefix)
        while cancel is not None and not cancel.cancelled:
            time.sleep(0.005)
        self.stopped.set()
        return Transcript("", 0.0, -10.0, len(audio) / SECOND, 0.0, "cancelled")


def test_a_running_decode_is_abandoned_when_speech_pauses_after_it_and_the_pause_decode_runs_at_once():
    decode = SlowAt(
        [(0.9, "it is"), (1.9, "it is a truth"), (2.6, "it is a truth universally")], {3 * SECOND}
    )
    looks: list[int] = []

    def watch(covered: int) -> bool:  # the live loop: the VAD hears the pause after 3.0 s at the third look
        looks.append(covered)
        return covered == 3 * SECOND and len(looks) >= 3

    config = StreamingConfig(interval_s=1.0, pause_ms=64, force_committed=True)
    stream = StreamingTranscriber(decode, config, watch)
    audio = np.zeros(int(3.2 * SECOND), np.float32)
    for end_s in (1.0, 2.0):
        stream.update(audio[: int(end_s * SECOND)], int(end_s * SECOND))
    assert stream.agreement.committed == ["it", "is"] and stream.aborted == 0
    assert stream.update(audio[: int(3.0 * SECOND)], int(3.0 * SECOND)) is None  # still speaking: periodic
    assert stream.aborted == 1 and looks[-3:] == [3 * SECOND] * 3
    assert decode.stopped.wait(5)  # the abandoned decode saw its cancel and stopped
    assert stream.agreement.committed == ["it", "is"]  # an abandoned decode adds no hypothesis
    partial = stream.update(audio[: int(3.1 * SECOND)], int(3.0 * SECOND))  # paused: decoded at once
    assert partial is not None and partial.text == "it is a truth universally"
    assert decode.prefixes[-1] == "it is"  # the committed words are forced, not decoded again
    calls = len(decode.calls)
    final = stream.finish(audio[: int(3.2 * SECOND)], int(3.0 * SECOND))
    assert final.text == "it is a truth universally" and len(decode.calls) == calls


def test_committed_words_are_not_forced_by_default():  # forcing them raised WER (StreamingConfig)
    decode = Scripted([(0.9, "it is"), (1.9, "it is a truth")])
    stream = StreamingTranscriber(decode, StreamingConfig())
    grow(stream, 3.0, speech_end_s=3.0)
    assert stream.agreement.committed and set(decode.prefixes) == {""}


def test_the_tail_is_merged_where_its_first_words_repeat_the_committed_ones():
    before = "it is a truth universally".split()
    assert merge_tail(before, "truth universally acknowledged that".split()) == before + ["acknowledged", "that"]
    # The overlap cut a word in two: the tail's first word is skipped.
    assert merge_tail(before, "th universally, acknowledged".split()) == before + ["acknowledged"]
    # Case, punctuation and a long word's near spelling still agree.
    assert merge_tail(["to", "Longbourn,"], "longbourne at noon.".split()) == ["to", "Longbourn,", "at", "noon."]
    # The tail heard the last word with what follows it: its reading wins.
    assert merge_tail(["under", "the", "snow."], "the snowman and".split()) == ["under", "the", "snowman", "and"]
    assert merge_tail(before, "a single man".split()) is None  # no overlap: decode the whole buffer


class Timed:
    """A recognizer that knows when each word was said: it hears the words whose middle lies in the
    clip. The clip's place in the utterance is found by its samples (seeded noise, loud during words)."""

    def __init__(self, words: list[tuple[float, float, str]], total_s: float) -> None:
        self.words = words
        rng = np.random.default_rng(0)
        self.audio = (rng.standard_normal(int(total_s * SECOND)) * 1e-4).astype(np.float32)
        for start, end, _ in words:
            self.audio[int(start * SECOND) : int(end * SECOND)] *= 1000
        self.clips: list[tuple[float, float]] = []  # (start s, end s) of each decode

    def __call__(self, clip: np.ndarray, prefix: str = "", cancel=None) -> Transcript:
        first = np.flatnonzero(self.audio == clip[0])
        start = next(i for i in first if np.array_equal(self.audio[i : i + 64], clip[:64])) / SECOND
        end = start + len(clip) / SECOND
        self.clips.append((start, end))
        text = " ".join(w for a, b, w in self.words if start <= (a + b) / 2 <= end)
        return Transcript(text, 0.0, -0.2, len(clip) / SECOND, 0.01)


def dictate_timed(config: StreamingConfig) -> tuple[Timed, StreamingTranscriber, Transcript]:
    """"it is a truth universally acknowledged" (0.35 s a word, 0.1 s gaps), a 0.4 s pause, "that a
    single man", fed 0.1 s at a time with the speech end a VAD would give."""
    words, t = [], 0.2
    for i, w in enumerate("it is a truth universally acknowledged that a single man".split()):
        words.append((t, t + 0.35, w))
        t += 0.45 + (0.4 if i == 5 else 0.0)
    decode = Timed(words, t + 0.5)
    stream = StreamingTranscriber(decode, config)
    audio = decode.audio
    for end in np.arange(0.1, t - 0.05, 0.1):
        n = int(end * SECOND)
        speech_end = max([int(b * SECOND) for a, b, _ in words if b * SECOND <= n] + [0])
        inside = any(a * SECOND <= n < b * SECOND for a, b, _ in words)
        stream.update(audio[:n], n if inside else speech_end)
    final = stream.finish(audio[: int((words[-1][1] + 0.2) * SECOND)], int(words[-1][1] * SECOND))
    return decode, stream, final


def test_after_a_committed_pause_only_the_tail_is_decoded_and_merged_with_the_committed_words():
    decode, stream, final = dictate_timed(StreamingConfig(interval_s=0.5, pause_ms=64))
    assert final.text == "it is a truth universally acknowledged that a single man"
    assert stream.tails >= 1 and stream.fallbacks == 0
    # The pause after "acknowledged" (2.8 s) is committed; each tail starts 0.5-1 s before it, in the
    # quietest place there: the gap between "truth" (ends 1.9 s) and "universally" (starts 2.0 s).
    tails = [a for a, _ in decode.clips if a > 0]
    assert tails and all(1.9 <= a <= 2.0 for a in tails), tails
    assert decode.clips[-1][0] > 1.0  # the end read only the tail, not the first words again


def test_without_the_tail_option_the_whole_buffer_is_decoded_again():
    decode, stream, final = dictate_timed(StreamingConfig(interval_s=0.5, pause_ms=64, tail_overlap_s=None))
    assert final.text == "it is a truth universally acknowledged that a single man"
    assert stream.tails == 0 and {a for a, _ in decode.clips} == {0.0}


@pytest.fixture(scope="module")
def moonshine():
    from engine.audio.recognizer import load_recognizer

    try:
        return load_recognizer("moonshine-base")
    except Exception as exc:  # noqa: BLE001 - the optional extra may be missing
        pytest.skip(f"Moonshine base not available: {exc}")


def assert_streams_like_batch(audio: np.ndarray, sentence: str, recognizer) -> None:
    events = stream_recording(audio, recognizer)
    kinds = [e.kind for e in events]
    assert "final" in kinds and kinds.index("partial") < kinds.index("final")
    assert sum(k == "partial" for k in kinds) >= 2  # text streams in while speaking
    finals = [e for e in events if e.kind == "final"]
    streamed = " ".join(e.text for e in finals)
    batch = " ".join(recognizer.transcribe(e.utterance.audio).text for e in finals)  # same utterances
    assert wer([batch], [streamed]) <= 0.15, (batch, streamed)
    assert wer([sentence], [streamed]) <= 0.4, streamed


SENTENCE = "The village lay quiet under the snow, and nobody walked along the road to the mill that evening."


def test_real_speech_file_streams_partials_and_the_final_matches_the_batch_transcript(speech, recognizer):
    audio = with_silence(speech(SENTENCE, voice="en-us", speed=150), 0.3, 1.0)
    assert_streams_like_batch(audio, SENTENCE, recognizer)  # Whisper tiny.en


# Moonshine re-decodes the growing buffer: 13 s at load 2, 60-90 s at load 7 on the 2-core VM.
def test_real_speech_file_streams_with_the_default_recognizer_moonshine(speech, moonshine):
    audio = with_silence(speech(SENTENCE, voice="en-us", speed=150), 0.3, 1.0)
    assert_streams_like_batch(audio, SENTENCE, moonshine)


def test_live_through_the_virtual_mic_partials_arrive_before_the_final_text(virtual_mic, speech, recognizer):
    sentence = "The carriage stopped at the gate and the old man climbed down slowly."
    events, done = [], threading.Event()

    def on_event(event):
        if event.kind in ("partial", "final", "rejected"):
            events.append(event)
        if event.kind in ("final", "rejected"):
            done.set()

    listener = VoiceListener(on_event, recognizer=recognizer)
    listener.start()
    try:
        assert listener.ready.wait(60)
        virtual_mic.play(with_silence(speech(sentence), 0.2, 1.0))
        assert done.wait(60)
    finally:
        listener.stop()
    kinds = [e.kind for e in events]
    assert "partial" in kinds and kinds.index("partial") < kinds.index("final")
    final = next(e for e in events if e.kind == "final")
    batch = recognizer.transcribe(final.utterance.audio).text  # the non-streaming reading of the same audio
    assert wer([batch], [final.text]) <= 0.15, (batch, final.text)
    assert wer([sentence], [final.text]) <= 0.4, final.text
    assert final.speech_end_time > 0 and final.latency > 0


@pytest.mark.slow  # 42 s at load 3 on the 2-core VM, more under load
def test_a_run_on_monologue_is_decoded_in_bounded_pieces_and_its_text_streams_in(speech, recognizer):
    words = (
        "the old man walked along the river and the dogs ran beside him and the sun came up over the hills "
        "and the farmers went out to the fields and the children played near the mill "
    ) * 3  # ~29 s of speech without a pause long enough to end an utterance
    audio = with_silence(speech(words, speed=170), 0.3, 1.0)
    decoded: list[float] = []

    def transcribe(clip, *args, **kwargs):
        decoded.append(len(clip) / SECOND)
        return recognizer.transcribe(clip, *args, **kwargs)

    class Recording:  # the recognizer, with every decode's length written down
        name, vocabulary, partial = recognizer.name, recognizer.vocabulary, recognizer.partial

    rec = Recording()
    rec.transcribe = transcribe
    events = stream_recording(audio, rec)
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) >= 2  # the segmenter's 25 s cap: text is inserted while the speaker goes on
    assert sum(e.kind == "partial" for e in events) >= 10
    assert max(decoded) <= StreamingConfig().max_buffer_s  # never the whole 25 s utterance at once
    assert wer([words], [" ".join(e.text for e in finals)]) <= 0.15


def test_silence_and_noise_stream_no_words_with_the_default_recognizer(moonshine):
    from pulse_mic import white_noise

    audio = np.concatenate([np.zeros(2 * SECOND, np.float32), white_noise(3.0, 0.1), white_noise(2.0, 0.02, seed=3)])
    assert stream_recording(audio, moonshine) == []  # no partial, no final: nothing reaches the recognizer


MILL = "The village lay quiet under the snow, and nobody walked along the road."


def test_moonshine_stops_a_cancelled_decode_before_its_next_token(speech, moonshine):
    audio = speech(MILL)  # ~4.8 s: 16 tokens, at least 2 s of decoding on this CPU
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    stopped = moonshine.transcribe(audio, cancel=cancel)
    assert stopped.dropped == "cancelled" and stopped.text == ""
    assert moonshine.transcribe(audio).text  # the recognizer is still fine afterwards


def test_moonshine_forced_committed_words_are_kept_and_its_own_words_read_the_same(speech, moonshine):
    audio = speech(MILL)
    plain = moonshine.transcribe(audio).text
    words = plain.split()
    # Its own first words, forced (fed in one call): the same continuation as decoding them one by one.
    forced = moonshine.transcribe(audio, prefix=" ".join(words[:6])).text
    assert wer([plain], [forced]) <= 0.1, (plain, forced)
    assert moonshine.encode(plain) == moonshine.encode(" ".join(words))  # word by word, its own ids
    # A prefix is forced, not merely suggested: words it would never write stay at the start.
    assert moonshine.transcribe(audio, prefix="A small town").text.startswith("A small town")


def test_live_moonshine_abandons_the_running_decode_at_the_pause_and_the_text_still_matches(
    virtual_mic, speech, moonshine
):
    sentence = "The carriage stopped at the gate and the old man climbed down slowly."
    events, done = [], threading.Event()

    def on_event(event):
        if event.kind in ("final", "rejected"):
            events.append(event)
            done.set()

    # Decodes back to back (busy share 1), abandoned at every 64 ms gap between words: the path is
    # taken many times per sentence (the default waits for 160 ms of silence, see StreamingConfig).
    config = StreamingConfig(interval_s=0.5, busy_share=1.0, abandon_after_ms=64)
    listener = VoiceListener(on_event, recognizer=moonshine, streaming=config)
    listener.start()
    try:
        assert listener.ready.wait(60)
        virtual_mic.play(with_silence(speech(sentence), 0.2, 1.0))
        assert done.wait(120)
        stream = listener._flow.stream
    finally:
        listener.stop()
    assert stream.aborted >= 1  # the abort path was taken
    final = events[0]
    assert final.kind == "final"
    batch = moonshine.transcribe(final.utterance.audio).text  # the non-streaming reading of the same audio
    assert wer([batch], [final.text]) <= 0.15, (batch, final.text)
    assert wer([sentence], [final.text]) <= 0.4, final.text
