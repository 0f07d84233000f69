"""The Style memory panel: what lil Pushkin learned the user's style from, and the controls.

``StyleService`` runs ``engine.persona.StyleMemory`` on its own thread (indexing
embeds paragraphs with MiniLM: seconds to minutes) and reports back with
signals. ``StylePanel`` is a dock widget: the indexed documents with their
paragraph counts, Pause/Resume, Remove, Delete all, and a progress bar.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.prompter import Prompter
from engine.cancel import CancelToken  # noqa: E402
from engine.documents import shown_name, shown_path

log = logging.getLogger("killah.app")


_Cancel = CancelToken


class StyleWorker(QObject):
    listed = Signal(object, bool, int)  # [DocumentSummary], paused, paragraph count
    progress = Signal(str, float)
    indexed = Signal(str)  # report summary
    failed = Signal(str)
    notice = Signal(str)  # a standing state the user should know of (the memory file was started afresh)

    def __init__(self, db_path: Path | None = None) -> None:
        super().__init__()
        self._db_path = db_path
        self.memory: Any = None
        self.cancel_token = _Cancel()
        self._create_lock = threading.Lock()  # the UI thread may ask for consent before the first list

    def _memory(self) -> Any:
        with self._create_lock:
            if self.memory is None:
                from engine.persona import StyleMemory

                self.memory = StyleMemory(self._db_path)
                if self.memory.store.reset_reason:
                    self.notice.emit(f"Style memory: {self.memory.store.reset_reason}. Your documents are untouched.")
            return self.memory

    def _guard(self, action) -> None:
        try:
            action()
        except Exception as exc:  # noqa: BLE001 - the panel reports, the editor keeps working
            log.exception("style memory action failed")
            self.failed.emit(f"Style memory: {exc}")
        self._emit_list()

    def _emit_list(self) -> None:
        try:
            memory = self._memory()
            self.listed.emit(memory.documents(), memory.paused, memory.paragraph_count())
        except Exception as exc:  # noqa: BLE001
            self.failed.emit(f"Style memory unavailable: {exc}")

    @Slot()
    def refresh_list(self) -> None:
        self._emit_list()

    @Slot(str)
    def add_folder(self, folder: str) -> None:
        self.cancel_token = _Cancel()

        def run() -> None:
            report = self._memory().add_folder(folder, progress=self.progress.emit, cancel=self.cancel_token)
            self.indexed.emit(report.summary())

        self._guard(run)

    @Slot(str)
    def remove(self, path: str) -> None:
        self._guard(lambda: self._memory().remove_document(path))

    @Slot()
    def delete_all(self) -> None:
        self._guard(lambda: self._memory().delete_all())

    @Slot(bool)
    def set_paused(self, paused: bool) -> None:
        self._guard(lambda: self._memory().pause() if paused else self._memory().resume())

    def has_consent(self, path: str) -> bool:
        """Called from the UI thread: the store is thread-safe (one lock around SQLite)."""
        return bool(self._memory().store.has_consent(Path(path).absolute()))

    def persona_for(self, text: str, loaded_model: Any) -> Any:
        """Called on the engine thread for each request when persona is on."""
        return self._memory().persona_for(text, loaded_model)


class StyleService(QObject):
    listed = Signal(object, bool, int)
    progress = Signal(str, float)
    indexed = Signal(str)
    failed = Signal(str)
    notice = Signal(str)
    _refresh = Signal()
    _add = Signal(str)
    _remove = Signal(str)
    _delete_all = Signal()
    _pause = Signal(bool)

    def __init__(self, db_path: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._thread = QThread()
        self._thread.setObjectName("killah-style-memory")
        self.worker = StyleWorker(db_path)
        self.worker.moveToThread(self._thread)
        for signal, slot in ((self._refresh, self.worker.refresh_list), (self._add, self.worker.add_folder),
                             (self._remove, self.worker.remove), (self._delete_all, self.worker.delete_all),
                             (self._pause, self.worker.set_paused)):
            signal.connect(slot)
        for source, target in ((self.worker.listed, self.listed), (self.worker.progress, self.progress),
                               (self.worker.indexed, self.indexed), (self.worker.failed, self.failed),
                               (self.worker.notice, self.notice)):
            source.connect(target)
        self._thread.start()

    def refresh(self) -> None:
        self._refresh.emit()

    def add_folder(self, folder: str | Path) -> None:
        self._add.emit(str(folder))

    def remove(self, path: str) -> None:
        self._remove.emit(path)

    def delete_all(self) -> None:
        self.worker.cancel_token.cancel()  # a running index stops after its current batch
        self._delete_all.emit()

    def set_paused(self, paused: bool) -> None:
        if paused:
            self.worker.cancel_token.cancel()
            try:  # StyleMemory.pause() is thread-safe: honour it now, not after a running index
                self.worker._memory().pause()
            except Exception:  # noqa: BLE001 - the queued call below reports any problem
                pass
        self._pause.emit(paused)

    def memory(self) -> Any:
        """The StyleMemory the engine retrieves exemplars from (thread-safe), or None if it cannot open."""
        try:
            return self.worker._memory()
        except Exception as exc:  # noqa: BLE001 - no memory, no style; the editor keeps working
            log.warning("style memory unavailable: %s", exc)
            return None

    def has_consent(self, path: str | Path) -> bool:
        try:
            return self.worker.has_consent(str(path))
        except Exception:  # noqa: BLE001 - no memory, no consent
            return False

    def shutdown(self) -> None:
        self.worker.cancel_token.cancel()
        self._thread.quit()
        self._thread.wait(30000)


class StylePanel(QDockWidget):
    deletedAll = Signal()  # "delete everything" confirmed: the recorded choices go too (app/choices.py)

    def __init__(self, service: StyleService, prompter: Prompter, parent: QWidget | None = None) -> None:
        super().__init__("Style memory", parent)
        self.setObjectName("style-memory-panel")
        self.service = service
        self.prompter = prompter
        self.paused = False
        self._doc_paths: list[str] = []  # the tree's rows, as the OS names them
        body = QWidget()
        layout = QVBoxLayout(body)
        self.summary = QLabel("Loading…")
        self.summary.setWordWrap(True)
        layout.addWidget(self.summary)
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.notice.setVisible(False)
        layout.addWidget(self.notice)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Document", "Paragraphs"])
        self.tree.setRootIsDecorated(False)
        layout.addWidget(self.tree)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setVisible(False)
        self.progress_label = QLabel("")
        layout.addWidget(self.progress_label)
        # What conditioned the last suggestion: the exemplar paragraphs and their documents.
        self.style_label = QLabel("Style: not used yet")
        self.style_label.setWordWrap(True)
        self.exemplar_list = QListWidget()
        self.exemplar_list.setWordWrap(True)
        self.exemplar_list.setMaximumHeight(160)
        layout.addWidget(self.style_label)
        layout.addWidget(self.exemplar_list)
        layout.addWidget(self.progress)
        row = QHBoxLayout()
        self.pause_button = QPushButton("Pause")
        self.remove_button = QPushButton("Remove")
        self.delete_button = QPushButton("Delete all")
        for button in (self.pause_button, self.remove_button, self.delete_button):
            row.addWidget(button)
        layout.addLayout(row)
        self.setWidget(body)
        self.pause_button.clicked.connect(self.toggle_pause)
        self.remove_button.clicked.connect(self.remove_selected)
        self.delete_button.clicked.connect(self.delete_all)
        service.listed.connect(self.show_documents)
        service.progress.connect(self.show_progress)
        service.indexed.connect(self.on_indexed)
        service.failed.connect(lambda message: self.summary.setText(message))
        service.notice.connect(self.show_notice)
        service.refresh()

    def show_documents(self, documents: list, paused: bool, paragraphs: int) -> None:
        self.paused = paused
        self.pause_button.setText("Resume" if paused else "Pause")
        self.tree.clear()
        # The paths stay in Python: a name that is not valid UTF-8 is surrogate-escaped text,
        # which Qt cannot hold exactly; the tree shows it with U+FFFD and keeps the row number.
        self._doc_paths = [doc.path for doc in documents]
        for row, doc in enumerate(documents):
            item = QTreeWidgetItem([shown_name(doc.path), str(doc.n_paragraphs)])
            item.setToolTip(0, shown_path(doc.path))
            item.setData(0, 256, row)  # Qt.UserRole
            self.tree.addTopLevelItem(item)
        state = "paused: nothing is indexed and no style is applied" if paused else "active"
        self.summary.setText(f"{len(documents)} documents, {paragraphs} paragraphs ({state}).")

    def show_notice(self, message: str) -> None:
        self.notice.setText(message)
        self.notice.setVisible(bool(message))

    def show_style(self, style: Any) -> None:
        """The exemplars (engine.persona.StyleContext) that conditioned the last request, or why none."""
        self.style_label.setText(style.describe())
        self.exemplar_list.clear()
        for exemplar in style.exemplars:
            short = exemplar.text if len(exemplar.text) <= 200 else exemplar.text[:200] + "…"
            item = QListWidgetItem(f"{shown_name(exemplar.source)}: {short}")
            item.setToolTip(f"{shown_path(exemplar.source)} (similarity {exemplar.score:.2f})\n\n{exemplar.text}")
            self.exemplar_list.addItem(item)

    def show_progress(self, stage: str, fraction: float) -> None:
        self.progress.setVisible(True)
        self.progress.setValue(int(fraction * 1000))
        self.progress_label.setText(stage)

    def on_indexed(self, summary: str) -> None:
        self.progress.setVisible(False)
        self.progress_label.setText(summary)

    def toggle_pause(self) -> None:
        self.service.set_paused(not self.paused)

    def remove_selected(self) -> None:
        item = self.tree.currentItem()
        if item is not None:
            self.service.remove(self._doc_paths[item.data(0, 256)])

    def delete_all(self) -> None:
        if self.prompter.question(
            "Delete the style memory?",
            "Forget every indexed document and every folder permission, your recorded choices and your "
            "personal adapter? Your documents themselves are not touched.",
            default_yes=False,
        ):
            self.service.delete_all()
            self.deletedAll.emit()
