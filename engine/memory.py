"""Give freed heap memory back to the system.

Loading Gemma's 33 MB tokenizer.json, a model or an ExecuTorch program allocates hundreds of MB of
temporaries; glibc keeps the freed pages in its arenas, where they count in the app's RSS for the
whole session. ``malloc_trim`` returns them (measured: -56 MB after the tokenizer, docs/benchmarks.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _libc():
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None


def release_freed_memory() -> bool:
    """Return the allocator's free pages to the system; False where there is no glibc (macOS, musl)."""
    libc = _libc()
    return bool(libc and libc.malloc_trim(0))
