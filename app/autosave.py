"""Autosave of unsaved buffers and recovery after a crash.

Each editor session owns one entry in ``data_dir()/autosave/``:

    <session>.json        {"path": original file or null, "text": ..., "saved_at": unix time}
    <session>.quick.json  the same, written within ~0.3 s of an edit without fsync
    <session>.lock        a QLockFile held while the session runs

Both JSON files are written atomically (temp file, rename), so a kill -9 in the
middle of an autosave leaves the previous one. The quick file bounds what a crash
or kill -9 can lose to a fraction of a second of typing and never waits for the
disk; the .json is fsynced every few seconds, so a power cut loses at most those
seconds (it may truncate the quick file, never the .json). At start, sessions whose
lock is no longer held (their process died) are offered for recovery, with the
newer of their two files. A clean save or an explicit "discard" removes both.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QLockFile

from app.files import write_json_atomic
from engine import paths
from engine.documents import shown_name

log = logging.getLogger("killah.app")


@dataclass(frozen=True)
class RecoveredBuffer:
    session: str
    path: str | None  # the file the text belonged to, if it had one
    text: str
    saved_at: float

    @property
    def title(self) -> str:
        return shown_name(self.path) if self.path else "Untitled"


def autosave_dir() -> Path:
    folder = paths.data_dir() / "autosave"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class AutosaveStore:
    def __init__(self, folder: Path | None = None, session: str | None = None) -> None:
        self.folder = folder or autosave_dir()
        self.folder.mkdir(parents=True, exist_ok=True)
        self.session = session or uuid.uuid4().hex
        self._lock = QLockFile(str(self._lock_path(self.session)))
        self._lock.setStaleLockTime(0)  # only a dead owner makes a lock stale, never its age
        if not self._lock.tryLock(0):
            raise RuntimeError(f"autosave session {self.session} is already in use")
        # Durable saves queued by save_in_background, written in order by one thread.
        self._pending: queue.Queue[dict | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self.background_error = ""  # the last background write's failure ("" when it worked)

    def _json_path(self, session: str) -> Path:
        return self.folder / f"{session}.json"

    def _quick_path(self, session: str) -> Path:
        return self.folder / f"{session}.quick.json"

    def _lock_path(self, session: str) -> Path:
        return self.folder / f"{session}.lock"

    @property
    def entry_path(self) -> Path:
        return self._json_path(self.session)

    @property
    def quick_path(self) -> Path:
        return self._quick_path(self.session)

    def save(self, text: str, path: str | None, durable: bool = True) -> None:
        """Write this session's buffer (atomic; fsynced when ``durable``). OSError propagates: the caller shows it."""
        if durable:
            self.flush()  # a queued older write must not land after this one
        target = self.entry_path if durable else self.quick_path
        # The user's unsaved words: private.
        write_json_atomic(target, self._payload(text, path), private=True, durable=durable)

    def save_in_background(self, text: str, path: str | None) -> None:
        """The durable save, written by a thread: the UI never waits for an fsync (seconds on a busy disk).

        A failure shows up in ``background_error`` (and the log); the quick file still holds the text.
        """
        payload = self._payload(text, path)  # stamped now: a late write never looks newer than a quick one
        if self._writer is None:
            self._writer = threading.Thread(target=self._write_queued, name="killah-autosave", daemon=True)
            self._writer.start()
        self._pending.put(payload)

    def _payload(self, text: str, path: str | None) -> dict:
        return {"path": path, "text": text, "saved_at": time.time(), "pid": os.getpid()}

    def _write_queued(self) -> None:
        while (payload := self._pending.get()) is not None:
            try:
                write_json_atomic(self.entry_path, payload, private=True)
                self.background_error = ""
            except OSError as exc:
                self.background_error = f"Autosave failed: {exc.strerror or exc}"
                log.warning(self.background_error)
            finally:
                self._pending.task_done()
        self._pending.task_done()

    def flush(self) -> None:
        """Wait for the queued background writes."""
        self._pending.join()

    def discard(self) -> None:
        """The buffer is safe elsewhere (saved) or the user threw it away."""
        self.flush()  # a queued write must not bring the entry back afterwards
        for entry in (self.entry_path, self.quick_path):
            try:
                entry.unlink()
            except FileNotFoundError:
                pass

    def close(self, keep: bool = False) -> None:
        """End of session: drop the entry unless ``keep``; release the lock."""
        if self._writer is not None:
            self._pending.put(None)  # the writer finishes the queue, then stops
            self._writer.join()
            self._writer = None
        if not keep:
            self.discard()
        self._lock.unlock()
        try:
            self._lock_path(self.session).unlink()
        except FileNotFoundError:
            pass

    # -- recovery -------------------------------------------------------------------

    def orphans(self) -> list[RecoveredBuffer]:
        """Entries of sessions that died without saving (the newer of each one's two files), newest first."""
        found: list[RecoveredBuffer] = []
        sessions = {entry.name.split(".", 1)[0] for entry in self.folder.glob("*.json")}
        for session in sorted(sessions):
            if session == self.session or not self._owner_is_gone(session):
                continue
            readable = [r for r in map(self._read, (self._json_path(session), self._quick_path(session))) if r]
            if readable:
                found.append(max(readable, key=lambda r: r.saved_at))
        return sorted(found, key=lambda r: r.saved_at, reverse=True)

    def _read(self, entry: Path) -> RecoveredBuffer | None:
        if not entry.exists():
            return None
        try:
            data = json.loads(entry.read_text(encoding="utf-8"))
            session = entry.name.split(".", 1)[0]
            return RecoveredBuffer(session, data.get("path"), str(data["text"]), float(data["saved_at"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:  # e.g. a quick file cut by a power loss
            log.warning("autosave: unreadable entry %s (%s)", entry, exc)
            return None

    def _owner_is_gone(self, session: str) -> bool:
        lock = QLockFile(str(self._lock_path(session)))
        lock.setStaleLockTime(0)
        if lock.tryLock(0):  # nobody holds it (or its holder died): an orphan
            lock.unlock()
            return True
        return False

    def adopt(self, recovered: RecoveredBuffer) -> None:
        """The recovered text now lives in this session: its old entry goes."""
        self.forget(recovered)

    def forget(self, recovered: RecoveredBuffer) -> None:
        session = recovered.session
        for path in (self._json_path(session), self._quick_path(session), self._lock_path(session)):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
