"""Indexing the user's documents into the style memory, incrementally.

For each supported file under the given paths (the user must have consented to
a folder holding it):

    stat (mtime, size) == stored        -> unchanged: not even read
    content sha256 == stored            -> unchanged: stat refreshed, no re-embedding
    otherwise                           -> read (engine.documents), embed, replace its paragraphs
    indexed earlier, gone from the disk -> removed

A bad file (corrupt, encrypted, binary, too large, empty) is skipped with its
reason logged and in the report; indexing goes on. The global pause is checked
before anything and between files: a paused memory is not touched. Plain
Python, no Qt: the app runs ``index_paths`` on a worker thread and turns the
``progress(stage, fraction)`` callbacks into a progress bar.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.documents import (
    MAX_DOCUMENT_BYTES,
    SUPPORTED_OPEN,
    document_from_bytes,
    read_document_bytes,
    shown_name,
)
from engine.errors import DocumentError, KillahError
from engine.persona.encoder import SentenceEncoder
from engine.persona.store import PersonaStore

log = logging.getLogger("killah.persona")

ProgressFn = Callable[[str, float], None]
MIN_PARAGRAPH_WORDS = 3  # headings and page numbers say nothing about style
MAX_PARAGRAPH_CHARS = 4000  # the encoder reads ~256 tokens anyway; keep rows small
FLUSH_PARAGRAPHS = 64  # embed once this many paragraphs of small files are waiting
ENCODE_CHUNK = 256  # pause/cancel are checked between chunks of a large file


@dataclass
class _Pending:
    """A file read and split, waiting for its paragraphs to be embedded."""

    key: str
    mtime_ns: int
    size: int
    sha256: str
    format: str
    paragraphs: list[str]


@dataclass
class IndexReport:
    status: str = "done"  # "done" | "paused" | "cancelled"
    indexed: list[str] = field(default_factory=list)  # read and (re-)embedded
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # gone from disk, dropped from the memory
    skipped: dict[str, str] = field(default_factory=dict)  # path -> reason
    paragraphs_added: int = 0

    def summary(self) -> str:
        return (
            f"{self.status}: {len(self.indexed)} indexed ({self.paragraphs_added} paragraphs), "
            f"{len(self.unchanged)} unchanged, {len(self.removed)} removed, {len(self.skipped)} skipped"
        )


def _cancelled(cancel) -> bool:
    if cancel is None:
        return False
    if callable(cancel):
        return bool(cancel())
    return bool(getattr(cancel, "cancelled", False))


def style_paragraphs(paragraphs: Iterable[str]) -> list[str]:
    """The paragraphs worth remembering: enough words to show a style, capped in length."""
    kept = []
    for para in paragraphs:
        para = " ".join(para.split())
        if len(para.split()) >= MIN_PARAGRAPH_WORDS:
            kept.append(para[:MAX_PARAGRAPH_CHARS])
    return kept


class PersonaIndexer:
    def __init__(self, store: PersonaStore, encoder: SentenceEncoder, batch_size: int = 32) -> None:
        self.store = store
        self.encoder = encoder
        self.batch_size = batch_size

    # -- discovery ------------------------------------------------------------

    @staticmethod
    def _walk(folder: Path) -> list[Path]:
        """Supported files under ``folder``; hidden files/folders and symlinked folders are left out."""
        found = []
        for root, dirs, files in os.walk(folder, followlinks=False):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if not name.startswith(".") and Path(name).suffix.lower() in SUPPORTED_OPEN:
                    found.append(Path(root) / name)
        return found

    # -- the work -------------------------------------------------------------

    def index_paths(
        self,
        paths: Iterable[str | os.PathLike],
        progress: ProgressFn | None = None,
        cancel=None,
    ) -> IndexReport:
        """Bring the memory up to date for these files and folders; see the module doc."""
        report = IndexReport()
        if self.store.paused:
            report.status = "paused"
            return report
        self._check_encoder()
        files: list[Path] = []
        for raw in paths:
            target = Path(raw).expanduser().absolute()
            if not self.store.has_consent(target):
                report.skipped[str(target)] = "not allowed: add its folder to the style memory first"
                log.info("style memory: skipped %s (no consent)", target)
                continue
            if target.is_dir():
                present = [p for p in self._walk(target) if not self.store.is_excluded(str(p))]
                files.extend(present)
                present_set = {str(p) for p in present}
                for record in self.store.documents(under=target):
                    if record.path not in present_set:
                        self.store.remove_document(record.path)
                        report.removed.append(record.path)
            elif target.exists():
                self.store.include(str(target))  # naming a file explicitly undoes an earlier removal
                files.append(target)
            elif self.store.remove_document(str(target)):
                report.removed.append(str(target))
            else:
                report.skipped[str(target)] = "the file does not exist"
        total = len(files)
        pending: list[_Pending] = []
        for n, path in enumerate(files):
            if self.store.paused or _cancelled(cancel):
                report.status = "paused" if self.store.paused else "cancelled"
                break
            if progress:
                progress(f"indexing {shown_name(path)} ({n + 1}/{total})", n / max(total, 1))
            try:
                item = self._prepare(path, report)
            except KillahError as exc:
                self._skip(report, path, str(exc))
                continue
            except OSError as exc:
                self._skip(report, path, f"cannot read the file ({exc.strerror or exc})")
                continue
            except Exception as exc:  # noqa: BLE001 - one bad file must not stop the whole index
                log.exception("style memory: unexpected failure on %s", path)
                self._skip(report, path, f"unexpected error ({type(exc).__name__}: {exc})")
                continue
            if item is not None:
                pending.append(item)
            # Embed several small files together: the encoder is much faster on full batches.
            if sum(len(p.paragraphs) for p in pending) >= FLUSH_PARAGRAPHS:
                if not self._flush(pending, report, cancel):
                    break
                pending = []
        else:
            if pending:
                self._flush(pending, report, cancel)
        if progress and report.status == "done":
            progress("style memory up to date", 1.0)
        log.info("style memory: %s", report.summary())
        return report

    def _skip(self, report: IndexReport, path: Path, reason: str) -> None:
        report.skipped[str(path)] = reason
        log.warning("style memory: skipped %s: %s", path, reason)
        # A file that became unreadable must not keep speaking with its old paragraphs.
        if self.store.remove_document(str(path)):
            report.removed.append(str(path))

    def _prepare(self, path: Path, report: IndexReport) -> _Pending | None:
        """Decide whether ``path`` needs (re-)embedding; if so read it. None when unchanged."""
        key = str(path)
        stat = path.stat()
        record = self.store.get_document(key)
        if record and record.mtime_ns == stat.st_mtime_ns and record.size == stat.st_size:
            report.unchanged.append(key)
            return None
        # One capped read of a regular file (a pipe or a link to /dev/zero is refused here),
        # hashed and parsed from memory: the file is opened once.
        data = read_document_bytes(path, MAX_DOCUMENT_BYTES)
        digest = hashlib.sha256(data).hexdigest()
        if record and record.sha256 == digest:
            self.store.touch_document(key, stat.st_mtime_ns, stat.st_size)
            report.unchanged.append(key)
            return None
        document = document_from_bytes(data, path.name)
        paragraphs = style_paragraphs(document.paragraphs)
        if not paragraphs:
            raise DocumentError(f"{shown_name(path)} has no paragraphs of text to learn from (empty?).")
        return _Pending(key, stat.st_mtime_ns, stat.st_size, digest, document.format, paragraphs)

    def _flush(self, pending: list[_Pending], report: IndexReport, cancel) -> bool:
        """Embed the pending files' paragraphs and store each file; False if paused/cancelled meanwhile
        (then none of these files is written: the next run picks them up)."""
        texts = [t for item in pending for t in item.paragraphs]
        chunks = []
        for start in range(0, len(texts), ENCODE_CHUNK):
            if self.store.paused or _cancelled(cancel):
                report.status = "paused" if self.store.paused else "cancelled"
                return False
            try:
                chunks.append(self.encoder.encode(texts[start : start + ENCODE_CHUNK], self.batch_size))
            except Exception as exc:  # noqa: BLE001 - the encoder failing must not lose the report
                log.exception("style memory: encoder failed")
                for item in pending:
                    self._skip(report, Path(item.key), f"could not embed ({type(exc).__name__}: {exc})")
                return True
        vectors = np.concatenate(chunks)
        offset = 0
        for item in pending:
            n = len(item.paragraphs)
            self.store.replace_document(
                item.key,
                item.mtime_ns,
                item.size,
                item.sha256,
                item.format,
                item.paragraphs,
                vectors[offset : offset + n],
            )
            offset += n
            report.indexed.append(item.key)
            report.paragraphs_added += n
        return True

    def _check_encoder(self) -> None:
        """Vectors of another encoder are not comparable: drop them so everything is re-embedded."""
        stored = self.store.get_setting("encoder")
        if stored is not None and stored != self.encoder.name:
            log.warning("style memory: encoder changed (%s -> %s); re-indexing", stored, self.encoder.name)
            for record in self.store.documents():
                self.store.remove_document(record.path)
        self.store.set_setting("encoder", self.encoder.name)
