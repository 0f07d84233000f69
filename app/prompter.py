"""Every question and message the editor puts to the user goes through a Prompter.

The real one shows Qt dialogs. Tests (and the subprocess test hooks) swap in a
``ScriptedPrompter`` that records the messages and answers from a script, so
no test ever blocks on a modal dialog and each can assert what the user saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from PySide6.QtWidgets import QFileDialog, QMessageBox, QWidget

OPEN_FILTER = "Documents (*.txt *.md *.rtf *.docx *.pdf);;Text (*.txt *.md);;All files (*)"
SAVE_FILTER = "Text (*.txt);;Markdown (*.md);;Word document (*.docx)"


class Prompter:
    """Modal Qt dialogs parented to ``parent``."""

    def __init__(self, parent: QWidget | None = None) -> None:
        self.parent = parent

    def info(self, title: str, message: str) -> None:
        QMessageBox.information(self.parent, title, message)

    def warning(self, title: str, message: str) -> None:
        QMessageBox.warning(self.parent, title, message)

    def error(self, title: str, message: str) -> None:
        QMessageBox.critical(self.parent, title, message)

    def question(self, title: str, message: str, default_yes: bool = True) -> bool:
        default = QMessageBox.Yes if default_yes else QMessageBox.No
        answer = QMessageBox.question(self.parent, title, message, QMessageBox.Yes | QMessageBox.No, default)
        return answer == QMessageBox.Yes

    def save_discard_cancel(self, title: str, message: str) -> str:
        """'save', 'discard' or 'cancel'."""
        answer = QMessageBox.warning(
            self.parent, title, message, QMessageBox.Save | QMessageBox.Discard | QMessageBox.Cancel, QMessageBox.Save
        )
        return {QMessageBox.Save: "save", QMessageBox.Discard: "discard"}.get(answer, "cancel")

    def open_path(self, folder: str = "") -> str:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open document", folder, OPEN_FILTER)
        return path

    def save_path(self, suggested: str = "") -> str:
        path, chosen = QFileDialog.getSaveFileName(self.parent, "Save as", suggested, SAVE_FILTER)
        if path and "." not in path.rsplit("/", 1)[-1]:
            path += {"Markdown (*.md)": ".md", "Word document (*.docx)": ".docx"}.get(chosen, ".txt")
        return path


@dataclass
class ScriptedPrompter(Prompter):
    """Records every message; answers questions and file dialogs from lists (or defaults)."""

    answers: list[bool] = field(default_factory=list)  # popped per question(); default: default_answer
    default_answer: bool = False
    choices: list[str] = field(default_factory=list)  # for save_discard_cancel; default 'cancel'
    open_paths: list[str] = field(default_factory=list)
    save_paths: list[str] = field(default_factory=list)
    messages: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, title, message)

    def __post_init__(self) -> None:
        self.parent = None

    def info(self, title: str, message: str) -> None:
        self.messages.append(("info", title, message))

    def warning(self, title: str, message: str) -> None:
        self.messages.append(("warning", title, message))

    def error(self, title: str, message: str) -> None:
        self.messages.append(("error", title, message))

    def question(self, title: str, message: str, default_yes: bool = True) -> bool:
        self.messages.append(("question", title, message))
        return self.answers.pop(0) if self.answers else self.default_answer

    def save_discard_cancel(self, title: str, message: str) -> str:
        self.messages.append(("save?", title, message))
        return self.choices.pop(0) if self.choices else "cancel"

    def open_path(self, folder: str = "") -> str:
        return self.open_paths.pop(0) if self.open_paths else ""

    def save_path(self, suggested: str = "") -> str:
        return self.save_paths.pop(0) if self.save_paths else ""

    def texts(self, kind: str | None = None) -> list[str]:
        return [m for k, _, m in self.messages if kind is None or k == kind]
