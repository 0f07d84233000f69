"""VAD and segmentation: real speech opens an utterance; silence, white noise and clicks do not."""

import time

import numpy as np
from pulse_mic import white_noise

from engine.audio import SAMPLE_RATE
from engine.audio.capture import AudioCapture
from engine.audio.synth import with_silence
from engine.audio.vad import CombinedVad, SegmenterConfig, UtteranceSegmenter


def test_packaged_silero_vad_is_used():
    assert CombinedVad().name == "energy+silero"


def test_speech_makes_one_utterance_with_its_boundaries(speech):
    clip = speech("It was a bright cold day in April.")
    audio = with_silence(clip, before=0.5, after=1.0)
    utts = UtteranceSegmenter().feed(audio)
    assert len(utts) == 1
    u = utts[0]
    # Starts within 0.3 s of the speech, ends after its last sound.
    assert abs(u.start_sample - 0.5 * SAMPLE_RATE) < 0.35 * SAMPLE_RATE
    assert u.duration > 0.8 * len(clip) / SAMPLE_RATE


def test_two_sentences_separated_by_a_pause_are_two_utterances(speech):
    a, b = speech("The first sentence is here."), speech("And here is the second one.")
    audio = np.concatenate([with_silence(a, 0.2, 1.0), with_silence(b, 0.0, 1.0)])
    assert len(UtteranceSegmenter().feed(audio)) == 2


def test_silence_white_noise_and_a_click_make_no_utterance():
    click = np.zeros(SAMPLE_RATE, np.float32)
    click[8000:8100] = 0.8
    for audio in (
        np.zeros(3 * SAMPLE_RATE, np.float32),
        white_noise(3.0, 0.05),
        white_noise(3.0, 0.3, seed=1),
        click,
    ):
        seg = UtteranceSegmenter(config=SegmenterConfig())
        assert seg.feed(audio) + seg.flush() == []


def test_white_noise_through_the_virtual_mic_makes_no_utterance(virtual_mic):
    seg = UtteranceSegmenter()
    with AudioCapture() as cap:
        cap.wait_first_block()
        pos = cap.buffer.written
        virtual_mic.play(white_noise(2.0, 0.1))
        time.sleep(0.2)
        audio, _ = cap.buffer.read_since(pos)
    assert np.sqrt(np.mean(audio**2)) > 0.03  # the noise really arrived
    assert seg.feed(audio) + seg.flush() == []


def test_sure_silence_ends_an_utterance_after_224_ms_and_noise_after_it_keeps_the_300_ms_wait(speech):
    clip = speech("It was a bright cold day in April.")

    def end_wait(audio: np.ndarray, config: SegmenterConfig | None = None) -> float:
        (utt,) = UtteranceSegmenter(config=config).feed(audio)
        return (utt.detected_at_sample - utt.end_sample) / SAMPLE_RATE

    assert 0.224 <= end_wait(with_silence(clip, 0.3, 1.0)) < 0.3
    assert (
        end_wait(with_silence(clip, 0.3, 1.0), SegmenterConfig(sure_end_silence_ms=0)) >= 0.7
    )  # the old rule
    voiced = clip[: np.nonzero(np.abs(clip) > 0.01)[0][-1] + 1]  # espeak-ng pads its own silence
    noisy_tail = np.concatenate([with_silence(voiced, 0.3, 0.0), white_noise(1.5, 0.02)])
    assert 0.3 <= end_wait(noisy_tail) < 0.7  # loud but not speech: the VAD is not sure, so it waits 300 ms
    no_silero = UtteranceSegmenter(CombinedVad(use_silero=False))
    (utt,) = no_silero.feed(with_silence(clip, 0.3, 1.0))
    assert (utt.detected_at_sample - utt.end_sample) / SAMPLE_RATE >= 0.7  # no judge of silence: 700 ms
