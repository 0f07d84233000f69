"""Hostile things found in real folders, for the editor, reader and indexer tests.

    make_hostile_folder(folder) -> {name: path}   a FIFO and a link to /dev/zero named like documents,
                                                  a socket, and a good file whose name is not UTF-8
    memory_headroom(gib)                          a regression reading /dev/zero fails with MemoryError
                                                  instead of eating the shared machine's memory

Importable from tests of other packages (tests/app and tests/persona put this folder on sys.path).
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
from collections.abc import Iterator
from pathlib import Path

# A byte that is not UTF-8 on its own: os.listdir gives 'caf\udce9.txt' (surrogate-escaped).
NON_UTF8_NAME = b"caf\xe9.txt"
GOOD_TEXT = "A perfectly good note with enough words in it to be remembered by the style memory.\n"


def make_hostile_folder(folder: Path) -> dict[str, Path]:
    """A folder as a user might have it; keys: fifo, zero_link, socket, non_utf8 (a good file)."""
    folder.mkdir(parents=True, exist_ok=True)
    fifo = folder / "notes.txt"
    os.mkfifo(fifo)
    zero_link = folder / "notes2.txt"
    zero_link.symlink_to("/dev/zero")
    sock_path = folder / "inbox.md"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    here = os.getcwd()
    os.chdir(folder)  # a relative name: pytest's tmp paths can pass the 108-byte limit of AF_UNIX
    try:
        listener.bind(sock_path.name)  # the inode stays after close: a socket file in the folder
    finally:
        os.chdir(here)
        listener.close()
    raw = os.path.join(os.fsencode(folder), NON_UTF8_NAME)
    with open(raw, "wb") as fh:
        fh.write(GOOD_TEXT.encode())
    return {"fifo": fifo, "zero_link": zero_link, "socket": sock_path, "non_utf8": Path(os.fsdecode(raw))}


def _vm_size() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


@contextlib.contextmanager
def memory_headroom(gib: float = 2.0) -> Iterator[None]:
    """Cap this process's address space at its current size + ``gib`` for the block, then restore.

    The unfixed reader filled 24 GB from /dev/zero in two minutes; under the cap it gets a
    MemoryError within a second, and the test fails on the message instead of freezing the machine.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_size() + int(gib * 2**30)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
