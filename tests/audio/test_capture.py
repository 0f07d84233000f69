"""Capture through sounddevice from the PulseAudio virtual microphone, and its failure modes."""

import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from engine.audio.capture import AudioCapture, RingBuffer, list_input_devices
from engine.errors import AudioError


def test_ring_buffer_returns_samples_since_a_position_and_survives_wraparound():
    rb = RingBuffer(10)
    rb.write(np.arange(6, dtype=np.float32))
    out, pos = rb.read_since(0)
    assert out.tolist() == list(range(6)) and pos == 6
    rb.write(np.arange(6, 14, dtype=np.float32))
    out, pos = rb.read_since(6)
    assert out.tolist() == list(range(6, 14)) and pos == 14
    out, _ = rb.read_since(0)  # older than the capacity: only what is still held
    assert out.tolist() == list(range(4, 14))


def test_speech_played_into_the_virtual_mic_is_recorded_by_sounddevice(virtual_mic, speech):
    clip = speech("Testing the microphone.")
    assert any(d.is_default for d in list_input_devices())
    with AudioCapture() as cap:
        cap.wait_first_block()
        start = cap.buffer.written
        virtual_mic.play(clip)
        time.sleep(0.3)
        recorded, _ = cap.buffer.read_since(start)
    assert len(recorded) >= len(clip)
    # The clip is in the recording, sample-exact up to int16 rounding: find it by cross-correlation.
    corr = np.correlate(recorded, clip[:4000], mode="valid")
    lag = int(np.argmax(corr))
    seg = recorded[lag : lag + len(clip)]
    assert np.corrcoef(seg, clip[: len(seg)])[0, 1] > 0.99


def test_nonexistent_device_index_gives_clear_audio_error(virtual_mic):
    cap = AudioCapture(device=999)
    with pytest.raises(AudioError, match="no input device number 999"):
        cap.start()


def test_stream_that_dies_mid_recording_is_reported_as_disconnected(virtual_mic):
    cap = AudioCapture()
    cap.start()
    cap.wait_first_block()
    cap.check()  # healthy
    cap._stream.abort()  # what PortAudio does when the device goes away
    with pytest.raises(AudioError, match="disconnected"):
        cap.check()
    cap.stop()


def test_missing_portaudio_library_is_a_clear_audio_error():
    # A fresh interpreter where ctypes cannot find libportaudio: sounddevice raises OSError on import.
    code = textwrap.dedent(
        """
        import ctypes, ctypes.util
        real = ctypes.CDLL
        ctypes.util.find_library = lambda name: None
        def no_portaudio(name, *a, **k):
            if name and "portaudio" in str(name):
                raise OSError("PortAudio library not found")
            return real(name, *a, **k)
        ctypes.CDLL = no_portaudio
        from engine.audio.capture import list_input_devices
        from engine.errors import AudioError
        try:
            list_input_devices()
        except AudioError as exc:
            print("AUDIOERROR:", exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "AUDIOERROR: Voice input is unavailable: the PortAudio library is not installed" in out.stdout, out.stderr


def test_no_sound_server_means_a_clear_unavailable_reason(tmp_path):
    # A fresh interpreter whose PulseAudio address leads nowhere: no input device can open.
    import os

    env = dict(os.environ, PULSE_SERVER=f"unix:{tmp_path}/no-such-socket", HOME=str(tmp_path),
               XDG_RUNTIME_DIR=str(tmp_path))
    code = textwrap.dedent(
        """
        from engine.audio.capture import AudioCapture
        from engine.errors import AudioError
        try:
            cap = AudioCapture()
            cap.start()
            cap.wait_first_block(3)
            print("OPENED")
        except AudioError as exc:
            print("AUDIOERROR:", exc)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert "AUDIOERROR: Voice input is unavailable" in out.stdout, (out.stdout, out.stderr[-2000:])
