"""Atomic JSON writes for the app's own files (settings, autosaves)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json_atomic(
    path: Path, payload: Any, *, indent: int | None = None, private: bool = False, durable: bool = True
) -> None:
    """Write to a temp file beside ``path``, fsync, rename: a crash leaves the old file or the new one.

    ``private`` makes the file readable by the user only. ``durable=False`` skips the fsync: the file
    then survives a crash or kill -9 (the kernel has it) but maybe not a power cut, and the write does
    not wait for the disk (an fsync took 115 ms here at worst on a quiet disk, more while other
    processes write). OSError propagates (the caller says why) and no temp file is left behind.
    """
    text = json.dumps(payload, indent=indent, ensure_ascii=False)
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:
        # A file name that is not valid UTF-8 comes surrogate-escaped from the OS; escaped as
        # \udcXX it stays valid JSON and json.load gives back the very same str.
        data = json.dumps(payload, indent=indent, ensure_ascii=True).encode("ascii")
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if durable:
                os.fsync(fh.fileno())
        if private:
            os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
