"""The style memory's database: one SQLite file, private to the user (mode 0600).

    documents (id, path, mtime_ns, size, sha256, n_paragraphs, format, indexed_at)
    paragraphs(id, doc_id -> documents, ordinal, text, embedding float32 BLOB)
    consent   (path, granted_at)        folders (or files) the user allowed to be read
    excluded  (path)                    files the user removed: not indexed again on a rescan
    settings  (key, value)              'paused', 'encoder'

``secure_delete`` zeroes freed pages and ``delete_all`` VACUUMs, so deleted text
does not linger in the file. The rollback journal (not WAL) keeps the database
a single file whose permissions SQLite copies to the journal.
One connection, guarded by a lock, is shared by the UI thread and the indexing
thread; the indexer holds it only to write one document at a time.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine import paths

DB_NAME = "persona.sqlite3"
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    mtime_ns INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    n_paragraphs INTEGER NOT NULL,
    format TEXT NOT NULL,
    indexed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS paragraphs (
    id INTEGER PRIMARY KEY,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    text TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS paragraphs_doc ON paragraphs(doc_id);
CREATE TABLE IF NOT EXISTS consent (path TEXT PRIMARY KEY, granted_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS excluded (path TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class DocumentRecord:
    id: int
    path: str
    mtime_ns: int
    size: int
    sha256: str
    n_paragraphs: int
    format: str
    indexed_at: float


def _db_path(path: str | os.PathLike) -> str | bytes:
    """A path as SQLite stores it: text, or its raw bytes when it is not valid UTF-8.

    ``os.listdir`` hands such names over surrogate-escaped, which sqlite3 refuses to encode;
    the bytes are exact and ``_from_db`` turns them back into the same ``str``.
    """
    text = os.fspath(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return os.fsencode(text)
    return text


def _from_db(value: str | bytes) -> str:
    return os.fsdecode(value) if isinstance(value, bytes) else value


def _record(row: tuple) -> DocumentRecord:
    return DocumentRecord(row[0], _from_db(row[1]), *row[2:])


class _OtherVersion(Exception):
    """The file holds a style memory in another format (user_version)."""

    def __init__(self, version: int) -> None:
        super().__init__(version)
        self.version = version


def default_db_path() -> Path:
    return paths.data_dir() / DB_NAME


def _create_private(path: Path) -> None:
    """Create the file 0600 before SQLite opens it (SQLite would use the umask)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class PersonaStore:
    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path else default_db_path()
        _create_private(self.path)
        self._lock = threading.RLock()
        self.revision = 0  # bumped on every change of the paragraphs: lets readers cache the vectors
        # Why the memory was started afresh ("" if it was not): the file was corrupt or written by
        # another version. It holds only copies of the user's documents, which are never touched.
        self.reset_reason = ""
        try:
            self._db = self._open()
            return
        except _OtherVersion as exc:
            self.reset_reason = (
                f"the style memory file was written by another version (format {exc.version}, "
                f"this one reads {SCHEMA_VERSION}); it was started afresh"
            )
        except sqlite3.DatabaseError as exc:
            self.reset_reason = f"the style memory file could not be read ({exc}); it was started afresh"
        self._discard_file()
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        try:
            with self._lock:
                db.execute("PRAGMA foreign_keys=ON")
                db.execute("PRAGMA secure_delete=ON")
                db.execute("PRAGMA journal_mode=DELETE")
                fresh = db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0] == 0
                version = int(db.execute("PRAGMA user_version").fetchone()[0])
                if not fresh and version != SCHEMA_VERSION:
                    raise _OtherVersion(version)
                db.executescript(_SCHEMA)
                if fresh:
                    db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except (sqlite3.DatabaseError, _OtherVersion):
            db.close()
            raise
        return db

    def _discard_file(self) -> None:
        """Delete an unreadable memory file (and its journal): it only held copies of indexed text."""
        for victim in (self.path, self.path.with_name(self.path.name + "-journal")):
            victim.unlink(missing_ok=True)
        _create_private(self.path)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- settings -------------------------------------------------------------

    def get_setting(self, key: str, default: str | None = None) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_setting(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO settings(key, value) VALUES (?, ?)", (key, value))

    @property
    def paused(self) -> bool:
        return self.get_setting("paused", "0") == "1"

    def set_paused(self, paused: bool) -> None:
        self.set_setting("paused", "1" if paused else "0")

    # -- consent --------------------------------------------------------------

    def grant_consent(self, path: Path) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO consent(path, granted_at) VALUES (?, ?)", (_db_path(path), time.time())
            )

    def revoke_consent(self, path: Path) -> None:
        with self._lock:
            self._db.execute("DELETE FROM consent WHERE path=?", (_db_path(path),))

    def consented_paths(self) -> list[str]:
        with self._lock:
            return [_from_db(r[0]) for r in self._db.execute("SELECT path FROM consent ORDER BY path")]

    def has_consent(self, path: Path) -> bool:
        """True when ``path`` is, or lies inside, a path the user allowed."""
        target = Path(path)
        return any(target == Path(c) or target.is_relative_to(c) for c in self.consented_paths())

    def exclude(self, path: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR IGNORE INTO excluded(path) VALUES (?)", (_db_path(path),))

    def include(self, path: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM excluded WHERE path=?", (_db_path(path),))

    def is_excluded(self, path: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM excluded WHERE path=?", (_db_path(path),)).fetchone() is not None

    # -- documents ------------------------------------------------------------

    def get_document(self, path: str) -> DocumentRecord | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, path, mtime_ns, size, sha256, n_paragraphs, format, indexed_at "
                "FROM documents WHERE path=?",
                (_db_path(path),),
            ).fetchone()
        return _record(row) if row else None

    def documents(self, under: Path | None = None) -> list[DocumentRecord]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, path, mtime_ns, size, sha256, n_paragraphs, format, indexed_at FROM documents ORDER BY path"
            ).fetchall()
        records = [_record(r) for r in rows]
        if under is not None:
            records = [r for r in records if Path(r.path) == under or Path(r.path).is_relative_to(under)]
        return records

    def touch_document(self, path: str, mtime_ns: int, size: int) -> None:
        """Same content, new mtime (a `touch` or a save without changes): remember the new stat."""
        with self._lock:
            self._db.execute(
                "UPDATE documents SET mtime_ns=?, size=? WHERE path=?", (mtime_ns, size, _db_path(path))
            )

    def replace_document(
        self,
        path: str,
        mtime_ns: int,
        size: int,
        sha256: str,
        fmt: str,
        paragraphs: list[str],
        embeddings: np.ndarray,
    ) -> int:
        """Store a document's paragraphs and vectors, replacing any previous version, in one transaction."""
        if len(paragraphs) != embeddings.shape[0]:
            raise ValueError("one embedding per paragraph")
        blobs = [np.ascontiguousarray(e, dtype=np.float32).tobytes() for e in embeddings]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute("DELETE FROM documents WHERE path=?", (_db_path(path),))
                cur = self._db.execute(
                    "INSERT INTO documents(path, mtime_ns, size, sha256, n_paragraphs, format, indexed_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (_db_path(path), mtime_ns, size, sha256, len(paragraphs), fmt, time.time()),
                )
                doc_id = int(cur.lastrowid)
                self._db.executemany(
                    "INSERT INTO paragraphs(doc_id, ordinal, text, embedding) VALUES (?, ?, ?, ?)",
                    [
                        (doc_id, i, text, blob)
                        for i, (text, blob) in enumerate(zip(paragraphs, blobs, strict=True))
                    ],
                )
                self._db.execute("COMMIT")
                self.revision += 1
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return doc_id

    def remove_document(self, path: str) -> bool:
        with self._lock:
            cur = self._db.execute("DELETE FROM documents WHERE path=?", (_db_path(path),))
            self.revision += 1
        return cur.rowcount > 0

    def remove_under(self, folder: Path) -> int:
        removed = 0
        for record in self.documents(under=folder):
            removed += self.remove_document(record.path)
        return removed

    def delete_all(self) -> None:
        """Forget everything (documents, paragraphs, consents, exclusions) and rebuild the file,
        so no text remains in it. The pause flag is kept: it is the user's standing choice."""
        with self._lock:
            self._db.execute("DELETE FROM paragraphs")
            self._db.execute("DELETE FROM documents")
            self._db.execute("DELETE FROM consent")
            self._db.execute("DELETE FROM excluded")
            self.revision += 1
            self._db.execute("VACUUM")
        os.chmod(self.path, 0o600)

    # -- paragraphs -----------------------------------------------------------

    def paragraph_count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM paragraphs").fetchone()[0])

    def all_embeddings(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """(paragraph ids [n], vectors [n, dim]) of the whole memory."""
        with self._lock:
            rows = self._db.execute("SELECT id, embedding FROM paragraphs ORDER BY id").fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        if not rows:
            return ids, np.zeros((0, dim), dtype=np.float32)
        vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim).copy()
        return ids, vectors

    def paragraph_sources(self, paragraph_ids: list[int]) -> list[tuple[str, str]]:
        """(document path, text) of the given paragraphs, in the given order."""
        if not paragraph_ids:
            return []
        marks = ",".join("?" * len(paragraph_ids))
        with self._lock:
            rows = self._db.execute(
                f"SELECT p.id, d.path, p.text FROM paragraphs p JOIN documents d ON d.id = p.doc_id "
                f"WHERE p.id IN ({marks})",
                [int(i) for i in paragraph_ids],
            ).fetchall()
        found = {r[0]: (_from_db(r[1]), r[2]) for r in rows}
        return [found[i] for i in paragraph_ids if i in found]

    def iter_paragraph_texts(self, path: str) -> Iterator[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT p.text FROM paragraphs p JOIN documents d ON d.id = p.doc_id WHERE d.path=? ORDER BY p.ordinal",
                (_db_path(path),),
            ).fetchall()
        yield from (r[0] for r in rows)
