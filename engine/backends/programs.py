"""One ExecuTorch program per adapter composition, eager PyTorch until it is ready.

A program has its composition's adapters merged into the weights (engine/export/compose.py), so a
mode whose adapters differ needs its own program: autocomplete (base + task_autocomplete) and
continue (base + persona + task_continue) are two programs. The engine asks, on every request,
for the backend of the active composition:

    programs = ProgramsPerComposition(loaded, eager, quant="8da8w", build=True)
    backend, note = programs.backend_for(("task_autocomplete",), [folder])

- a valid cached program is loaded once and kept, up to ``max_loaded`` of them (each holds ~0.5-1 GB
  on Gemma 270M); the least recently used one is dropped and reloaded from the cache when needed;
- a missing one is built in the background (one build at a time: an export takes minutes and
  GBs of RAM), and the eager backend, whose peft layers hold the same composition, serves meanwhile;
- a program that cannot be had (export failed, bad file) is not retried in this session; the
  note says why and eager keeps serving.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import KillahError

log = logging.getLogger(__name__)

Composition = tuple[str, ...]


class ProgramsPerComposition:
    def __init__(
        self,
        loaded: Any,
        eager: Any,
        *,
        quant: str,
        build: bool,
        threads: int | None = None,
        max_seq: int = 1024,
        max_loaded: int = 2,
        cache: Any = None,
        progress: Callable | None = None,
        on_ready: Callable[[Composition], None] | None = None,
    ) -> None:
        from engine.export import ProgramCache, preset

        self.loaded, self.eager = loaded, eager
        self.quant = preset(quant)
        self.build, self.threads, self.progress, self.max_seq = build, threads, progress, max_seq
        self.cache = cache or ProgramCache()
        self.on_ready = on_ready  # called from the build thread when a program becomes usable
        self.max_loaded = max_loaded
        self._ready: OrderedDict[Composition, Any] = OrderedDict()  # least recently used first
        self._failed: dict[Composition, str] = {}
        self._specs: dict[Composition, Any] = {}
        self._queue: list[tuple[Composition, list[Path]]] = []
        self._building: Composition | None = None
        self._lock = threading.Lock()

    def backend_for(self, names: Composition, folders: list[Path]) -> tuple[Any, str]:
        """(backend, note): the composition's program if usable now, else eager and why."""
        key = tuple(sorted(names))
        with self._lock:
            if key in self._ready:
                self._ready.move_to_end(key)
                return self._ready[key], ""
            if key in self._failed:
                return self.eager, f"using eager PyTorch: {self._failed[key]}"
            if key == self._building or any(k == key for k, _ in self._queue):
                return self.eager, _building_note(key)  # no lookup per request while it is built
        ordered = [f for _, f in sorted(zip(names, folders, strict=True))]
        try:
            spec = self._spec(key, ordered)
            backend = self._load(self.cache.lookup(self.loaded, spec))
        except KillahError as exc:
            if not self.build:
                self._fail(key, str(exc))
                return self.eager, f"using eager PyTorch: {exc}"
            self._enqueue(key, ordered)
            return self.eager, _building_note(key)
        self._keep(key, backend)
        return backend, ""

    def forget(self, name: str) -> None:
        """An adapter was retrained or deleted (the writer's own): its compositions' programs are stale.
        The next request builds the new one in the background (eager serves meanwhile); a build of the old
        weights still running is dropped when it ends."""
        with self._lock:
            for table in (self._ready, self._failed, self._specs):
                for key in [k for k in table if name in k]:
                    del table[key]

    @property
    def ready(self) -> list[Composition]:
        with self._lock:
            return list(self._ready)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no build is queued or running (tests, CLI); False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                if self._building is None and not self._queue:
                    return True
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(0.2)

    # -- internals --------------------------------------------------------------

    def _spec(self, key: Composition, folders: list[Path]):
        """The composition's program spec, computed once: it hashes every adapter file (MBs each),
        too slow for every request, and the loaded adapters do not change during a session."""
        from engine.export import spec_for

        if key not in self._specs:
            self._specs[key] = spec_for(self.loaded, self.quant, folders, max_seq=self.max_seq)
        return self._specs[key]

    def _load(self, pte: Path):
        from engine.backends.executorch import ExecuTorchBackend
        from engine.memory import release_freed_memory

        backend = ExecuTorchBackend(pte, threads=self.threads)
        release_freed_memory()  # loading packs the weights through temporaries
        return backend

    def _keep(self, key: Composition, backend: Any) -> None:
        with self._lock:
            self._ready[key] = backend
            self._ready.move_to_end(key)
            while len(self._ready) > self.max_loaded:
                self._ready.popitem(last=False)  # still valid in the cache: reloaded on its next use

    def _fail(self, key: Composition, why: str) -> None:
        with self._lock:
            self._failed[key] = why
        log.warning("ExecuTorch program for %s unavailable: %s", _label(key), why)

    def _enqueue(self, key: Composition, folders: list[Path]) -> None:
        with self._lock:
            if key == self._building or any(k == key for k, _ in self._queue):
                return
            self._queue.append((key, folders))
            if self._building is not None:
                return
        self._next()

    def _next(self) -> None:
        with self._lock:
            if self._building is not None or not self._queue:
                return
            key, folders = self._queue.pop(0)
            self._building = key

        def ready(path: Path) -> None:
            if self._specs.get(key) is not spec:  # forgotten while it was built: old adapter weights
                with self._lock:
                    self._building = None
                self._next()
                return
            try:
                backend = self._load(path)
            except KillahError as exc:
                failed(exc)
                return
            self._keep(key, backend)
            with self._lock:
                self._building = None
            if self.on_ready is not None:
                self.on_ready(key)
            self._next()

        def failed(exc: KillahError) -> None:
            self._fail(key, str(exc))
            with self._lock:
                self._building = None
            self._next()

        try:
            spec = self._spec(key, folders)
        except KillahError as exc:
            failed(exc)
            return
        self.cache.ensure_in_background(
            self.loaded, spec, ready, adapters=folders, on_error=failed, progress=self.progress
        )


def _building_note(key: Composition) -> str:
    return f"ExecuTorch program for {_label(key)} is being built; using eager PyTorch meanwhile"


def _label(key: Composition) -> str:
    return "base + " + " + ".join(key) if key else "the base"
