"""Open, save and autosave for the one buffer of a window; never loses the user's text.

Reading and writing are ``engine.documents`` (atomic saves, clear errors). This
module decides what the user sees: warnings for a guessed encoding, a message
for a file that cannot be opened (the current buffer stays as it was), a save
that failed (the buffer and its modified flag stay, the autosave keeps running).

Imported formats (.rtf, .pdf) cannot be written back: Save asks for a new
name. A .docx is saved as plain paragraphs: the first save over a .docx asks
before dropping its formatting.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QPlainTextEdit

from app.autosave import AutosaveStore, RecoveredBuffer
from app.prompter import Prompter
from app.settings import Settings
from engine.documents import (
    SUPPORTED_OPEN,
    SUPPORTED_SAVE,
    Document,
    DocumentError,
    read_document,
    shown_name,
    write_document,
)

log = logging.getLogger("killah.app")

# An edit reaches the quick autosave (app/autosave.py) within this long even while the user keeps
# typing: a throttle armed by the first change after a write, not a debounce (a fast typist never
# pauses long enough for one). A kill -9 may lose at most 1 s of typing (issue 11;
# tests/bench/kill_recovery.py measures it). The fsynced autosave follows every autosave_seconds.
AUTOSAVE_SOON_MS = 300
# A huge buffer must not take the UI thread: the delay grows so quick writes stay under a fifth of
# its time (a write took 1-9 ms up to 600 KB of text), but never past the 1-s bar.
AUTOSAVE_MAX_SHARE = 0.2
AUTOSAVE_SOON_MAX_MS = 700


class DocumentsService(QObject):
    pathChanged = Signal(object)  # Path | None
    opened = Signal(object, object)  # Path, engine.documents.Document
    autosaved = Signal(float)

    def __init__(
        self,
        editor: QPlainTextEdit,
        prompter: Prompter,
        settings: Settings,
        autosave: AutosaveStore,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.editor = editor
        self.prompter = prompter
        self.settings = settings
        self.autosave = autosave
        self.path: Path | None = None
        self.source_format = ""  # the format the buffer came from ('' for a new buffer)
        self._docx_confirmed = False
        self._autosaved_revision = -1
        self._quick_revision = -1
        self.last_autosave_error = ""
        self._autosave_on = True
        self.timer = QTimer(self)  # the durable (fsynced) autosave, every settings.autosave_seconds
        self.timer.timeout.connect(lambda: self.autosave_now(background=True))
        self.set_autosave_interval(settings.autosave_seconds)
        self.soon = QTimer(self)  # the quick autosave, driven by edits
        self.soon.setSingleShot(True)
        self.soon.timeout.connect(self.autosave_quick)
        self._soon_ms = AUTOSAVE_SOON_MS
        self.editor.document().contentsChanged.connect(self._autosave_soon)
        self.editor.document().modificationChanged.connect(self._on_modification_changed)

    # -- state ----------------------------------------------------------------------

    @property
    def modified(self) -> bool:
        return self.editor.document().isModified()

    @property
    def title(self) -> str:
        return shown_name(self.path) if self.path else "Untitled"

    def set_autosave_interval(self, seconds: int) -> None:
        self.timer.start(max(1, int(seconds)) * 1000)

    def _set_path(self, path: Path | None, source_format: str) -> None:
        self.path = path
        self.source_format = source_format
        self._docx_confirmed = False
        self.pathChanged.emit(path)

    def _load_text(self, text: str) -> None:
        editor = self.editor
        suspend = getattr(editor, "suspend_completion", None)
        if suspend:
            suspend()
        try:
            editor.setPlainText(text)  # also clears the undo stack: a new document
        finally:
            resume = getattr(editor, "resume_completion", None)
            if resume:
                resume()

    # -- open -----------------------------------------------------------------------

    def maybe_keep_changes(self) -> bool:
        """Before replacing the buffer: True when it is safe to go on."""
        if not self.modified or not self.editor.toPlainText().strip():
            return True
        choice = self.prompter.save_discard_cancel(
            "Unsaved changes", f"{self.title} has unsaved changes. Save them first?"
        )
        if choice == "save":
            return self.save()
        return choice == "discard"

    def new(self) -> bool:
        if not self.maybe_keep_changes():
            return False
        self._load_text("")
        self._set_path(None, "")
        self.autosave.discard()
        return True

    def open(self, path: str | Path | None = None) -> Document | None:
        """Open ``path`` (or ask for one). None if nothing was opened; the buffer is then unchanged."""
        if not path:
            folder = str(self.path.parent) if self.path else ""
            path = self.prompter.open_path(folder)
            if not path:
                return None
        path = Path(path)
        if not self.maybe_keep_changes():
            return None
        try:
            document = read_document(path)
        except DocumentError as exc:
            self.prompter.error("Cannot open the document", str(exc))
            return None
        except Exception as exc:  # noqa: BLE001 - never a traceback for a bad file
            log.exception("opening %s failed", path)
            self.prompter.error("Cannot open the document", f"{shown_name(path)}: unexpected error ({type(exc).__name__}).")
            return None
        self._load_text(document.text)
        writable = path.suffix.lower() in SUPPORTED_SAVE
        self._set_path(path.absolute() if writable else None, document.format)
        if not writable:
            # Imported: the text is new to Killah; keep it safe until it is saved somewhere.
            self.editor.document().setModified(True)
            self._imported_name = path.with_suffix(".docx" if document.format == "docx" else ".txt")
        self.autosave.discard()
        self.settings.add_recent(path)
        if document.warnings:
            title = "Check the encoding" if not document.encoding_confident else "Note"
            self.prompter.warning(title, f"{shown_name(path)}: " + " ".join(document.warnings))
        self.opened.emit(path, document)
        return document

    # -- save -----------------------------------------------------------------------

    def save(self) -> bool:
        if self.path is None:
            return self.save_as()
        if self.path.suffix.lower() == ".docx" and self.source_format == "docx" and not self._docx_confirmed:
            if not self.prompter.question(
                "Save as plain paragraphs?",
                f"Killah saves {self.title} as plain paragraphs: bold, headings and other formatting "
                "in it will be lost. Save anyway? (Choose No and use Save As to keep the original.)",
                default_yes=False,
            ):
                return False
            self._docx_confirmed = True
        return self._write(self.path)

    def save_as(self) -> bool:
        suggested = self.path or getattr(self, "_imported_name", None) or Path.home() / "Untitled.txt"
        target = self.prompter.save_path(str(suggested))
        if not target:
            return False
        target_path = Path(target)
        if target_path.suffix.lower() not in SUPPORTED_SAVE:
            self.prompter.error(
                "Cannot save",
                f"Killah saves {', '.join(SUPPORTED_SAVE)} files; choose one of these extensions.",
            )
            return False
        if self._write(target_path):
            self._set_path(target_path.absolute(), target_path.suffix.lower()[1:])
            self._docx_confirmed = True
            self.settings.add_recent(target_path)
            return True
        return False

    def _write(self, path: Path) -> bool:
        text = self.editor.toPlainText()
        try:
            write_document(path, text)
        except DocumentError as exc:
            # The buffer and its modified flag stay; the autosave keeps a copy.
            self.prompter.error("Save failed", f"{exc}\nYour text is still here and in the autosave.")
            self.autosave_now()
            return False
        except Exception as exc:  # noqa: BLE001
            log.exception("saving %s failed", path)
            self.prompter.error("Save failed", f"{shown_name(path)}: unexpected error ({type(exc).__name__}). "
                                "Your text is still here.")
            self.autosave_now()
            return False
        self.editor.document().setModified(False)
        self.autosave.discard()
        self._autosaved_revision = self._quick_revision = -1
        return True

    # -- autosave and recovery ----------------------------------------------------------

    def _autosave_soon(self) -> None:
        if self._autosave_on and not self.soon.isActive():
            self.soon.start(self._soon_ms)

    def stop_autosave(self) -> None:
        """At shutdown: no autosave may land after the store is closed (it would be offered as a crash)."""
        self._autosave_on = False
        self.timer.stop()
        self.soon.stop()

    def autosave_quick(self) -> bool:
        """The quick autosave (no fsync): what a crash or kill -9 finds, at most ~0.3 s old."""
        if not self.modified or not self._autosave_on:
            return False
        revision = self.editor.document().revision()
        # Not skipped when the durable save has this revision: that one may still wait for its fsync.
        if revision == self._quick_revision:
            return False
        started = time.perf_counter()
        try:
            self.autosave.save(self.editor.toPlainText(), str(self.path) if self.path else None, durable=False)
        except OSError as exc:
            log.warning("quick autosave failed: %s", exc.strerror or exc)  # the durable one retries
            return False
        self._quick_revision = revision
        took_ms = (time.perf_counter() - started) * 1000
        self._soon_ms = min(AUTOSAVE_SOON_MAX_MS, max(AUTOSAVE_SOON_MS, int(took_ms / AUTOSAVE_MAX_SHARE)))
        return True

    def autosave_now(self, background: bool = False) -> bool:
        """The durable autosave (fsynced): the buffer, if it changed since the last one and is unsaved.

        ``background``: a thread writes it and the UI goes on (the timer's way: a stall probe found the
        UI thread inside this fsync or rename in stalls of over 0.5 s); a failure is reported at the next one.
        """
        if not self.modified or not self._autosave_on:
            return False
        revision = self.editor.document().revision()
        if revision == self._autosaved_revision:
            return False
        text, path = self.editor.toPlainText(), str(self.path) if self.path else None
        try:
            if background:
                self.autosave.save_in_background(text, path)
            else:
                self.autosave.save(text, path)
        except OSError as exc:
            self.last_autosave_error = f"Autosave failed: {exc.strerror or exc}"
            log.warning(self.last_autosave_error)
            return False
        if background and self.autosave.background_error:  # the previous write failed: queue it again next time
            self.last_autosave_error = self.autosave.background_error
            return False
        self._autosaved_revision = revision
        self.last_autosave_error = ""
        self.autosaved.emit(time.time())
        return True

    def _on_modification_changed(self, modified: bool) -> None:
        if not modified:
            self.autosave.discard()

    def offer_recovery(self) -> RecoveredBuffer | None:
        """At start: offer the newest buffer a crashed session left; restore it if the user agrees."""
        orphans = self.autosave.orphans()
        if not orphans:
            return None
        newest = orphans[0]
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(newest.saved_at))
        words = len(newest.text.split())
        more = f"\n\n{len(orphans) - 1} other unsaved buffer(s) will be offered next time." if len(orphans) > 1 else ""
        if not self.prompter.question(
            "Recover unsaved text?",
            f"Killah was closed without saving {newest.title} ({words} words, autosaved {when}). "
            f"Restore it?{more}",
        ):
            if self.prompter.question("Discard the unsaved text?", "Delete the autosaved text for good?",
                                      default_yes=False):
                self.autosave.forget(newest)
            return None
        self._load_text(newest.text)
        path = Path(newest.path) if newest.path else None
        self._set_path(path if path and path.suffix.lower() in SUPPORTED_SAVE else None, "")
        self.editor.document().setModified(True)
        self.autosave.adopt(newest)
        self.autosave_now()
        return newest


__all__ = ["DocumentsService", "SUPPORTED_OPEN", "SUPPORTED_SAVE"]
