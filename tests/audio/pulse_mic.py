"""A private PulseAudio server with a virtual microphone (recipe in ASSETS.md).

Audio played into the null sink ``vsink`` comes out of the source ``virtual_mic``,
which PortAudio (through the ALSA pulse plugin) records like a real microphone.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from engine.audio.synth import write_wav

REQUIRED = ("pulseaudio", "pactl", "pacat", "paplay", "espeak-ng", "sox")


def missing_binaries() -> list[str]:
    return [b for b in REQUIRED if shutil.which(b) is None]


class VirtualMic:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="killah-pulse-"))
        self._saved_env: dict[str, str | None] = {}
        self._clock: subprocess.Popen | None = None
        self.pid: int | None = None

    def start(self) -> VirtualMic:
        home, run = self.dir / "home", self.dir / "run"
        home.mkdir()
        run.mkdir(mode=0o700)
        env = {"HOME": str(home), "XDG_RUNTIME_DIR": str(run), "PULSE_SERVER": f"unix:{run}/native"}
        for k, v in env.items():
            self._saved_env[k] = os.environ.get(k)
            os.environ[k] = v
        subprocess.run(
            [
                "pulseaudio", "--daemonize=yes", "-n", "--exit-idle-time=-1", "--use-pid-file=yes",
                "-L", f"module-native-protocol-unix socket={run}/native auth-anonymous=1",
                "-L", "module-null-sink sink_name=vsink rate=16000 channels=1",
                "-L", "module-remap-source source_name=virtual_mic master=vsink.monitor",
                "-L", "module-always-sink",
            ],
            check=True, capture_output=True, timeout=30,
        )
        for _ in range(100):
            if subprocess.run(["pactl", "info"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run(["pactl", "set-default-sink", "vsink"], check=True, capture_output=True)
        subprocess.run(["pactl", "set-default-source", "virtual_mic"], check=True, capture_output=True)
        pid_file = run / "pulse" / "pid"
        if pid_file.exists():
            self.pid = int(pid_file.read_text().split()[0])
        # Keep the sink's clock running, else the first callback comes seconds late.
        self._clock = subprocess.Popen(
            ["pacat", "--playback", "--device=vsink", "--format=s16le", "--rate=16000", "--channels=1", "/dev/zero"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        # If sounddevice was imported before the server existed, make PortAudio scan devices again.
        sd = sys.modules.get("sounddevice")
        if sd is not None:
            sd._terminate()
            sd._initialize()
        return self

    def play(self, samples: np.ndarray, wait: bool = True) -> subprocess.Popen:
        """Play float32 16 kHz audio into the virtual microphone."""
        path = write_wav(Path(tempfile.mktemp(suffix=".wav", dir=self.dir)), samples)
        proc = subprocess.Popen(["paplay", "--device=vsink", str(path)], stderr=subprocess.PIPE)
        if wait:
            proc.wait(timeout=120)
        return proc

    def stop(self) -> None:
        if self._clock is not None:
            os.killpg(self._clock.pid, signal.SIGTERM)
            self._clock.wait(timeout=10)
        subprocess.run(["pulseaudio", "--kill"], capture_output=True, timeout=30)
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for k, v in self._saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(self.dir, ignore_errors=True)


def white_noise(seconds: float, level: float = 0.1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, level, int(seconds * 16000)).astype(np.float32)
