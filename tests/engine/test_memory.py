"""engine.memory: freed heap goes back to the system (the app's RSS, issue 16)."""

from pathlib import Path

from engine.memory import release_freed_memory


def _anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no RssAnon")


def test_freed_heap_is_returned_to_the_system():
    chunks = [bytearray(2048) for _ in range(100_000)]  # ~200 MB of malloc'd blocks, touched
    pin = bytearray(2048)  # allocated last: the top of the heap stays in use, so glibc keeps the rest
    del chunks
    kept = _anon_mb()
    assert release_freed_memory()
    assert _anon_mb() < kept - 100, (kept, _anon_mb())
    del pin
