"""Opening and saving real files through the editor window: round trips, bad files, failed saves."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from docfixtures import write_docx, write_encrypted_pdf, write_pdf, write_rtf

TEXT = "Первая строка, по-русски.\nSecond line — with “quotes” and émigré.\n\nA new paragraph."


@pytest.fixture
def plain_window(make_window):
    return make_window(None, load_model=False)


def reopen(window, prompter, path: Path) -> str:
    window.editor.document().setModified(False)
    assert window.documents.open(path) is not None, prompter.messages
    return window.editor.toPlainText()


@pytest.mark.parametrize("suffix", [".txt", ".md", ".docx"])
def test_saved_document_reopens_with_the_same_text(plain_window, prompter, tmp_path, suffix):
    window = plain_window
    window.editor.setPlainText(TEXT)
    target = tmp_path / f"story{suffix}"
    prompter.save_paths.append(str(target))
    assert window.documents.save_as()
    assert not window.documents.modified and window.documents.path == target
    window.editor.setPlainText("something else")
    assert reopen(window, prompter, target) == TEXT
    assert str(target.absolute()) == window.settings.recent_files[0]


def test_saving_over_a_docx_asks_before_dropping_its_formatting(plain_window, prompter, tmp_path):
    source = write_docx(tmp_path / "letter.docx", ["Dear Anna,", "I write to you from Moscow."])
    window = plain_window
    window.documents.open(source)
    assert window.editor.toPlainText() == "Dear Anna,\nI write to you from Moscow."
    window.editor.appendPlainText("Yours, Ivan.")
    prompter.answers.append(False)
    assert not window.documents.save()
    assert window.documents.modified
    prompter.answers.append(True)
    assert window.documents.save()
    assert reopen(window, prompter, source).endswith("Yours, Ivan.")


@pytest.mark.parametrize("kind", ["rtf", "pdf"])
def test_imported_rtf_and_pdf_are_saved_under_a_new_name(plain_window, prompter, tmp_path, kind):
    paragraphs = ["The first paragraph of the imported file.", "And the second one."]
    if kind == "rtf":
        source = write_rtf(tmp_path / "old.rtf", paragraphs)
    else:
        source = write_pdf(tmp_path / "old.pdf", [paragraphs])
    window = plain_window
    window.documents.open(source)
    text = window.editor.toPlainText()
    assert "first paragraph of the imported file" in text and "second one" in text
    assert window.documents.path is None and window.documents.modified  # not written back into the .rtf/.pdf
    target = tmp_path / "imported.docx"
    prompter.save_paths.append(str(target))
    assert window.documents.save()
    assert source.read_bytes()[:4] in (b"{\\rt", b"%PDF")  # the original is untouched
    assert reopen(window, prompter, target) == text


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    corrupt = tmp_path / "corrupt.docx"
    corrupt.write_bytes(b"PK\x03\x04" + os.urandom(2000))
    binary = tmp_path / "program.txt"
    binary.write_bytes(bytes(range(256)) * 40)
    huge = tmp_path / "huge.txt"
    with open(huge, "wb") as fh:  # a sparse 200 MB file: refused before it is read
        fh.truncate(200 * 1024 * 1024)
    return {
        "corrupt.docx": corrupt,
        "encrypted.pdf": write_encrypted_pdf(tmp_path / "encrypted.pdf", [["Secret text."]], "pw", "AES-128"),
        "scanned.pdf": write_pdf(tmp_path / "scanned.pdf", [[]]),
        "program.txt": binary,
        "huge.txt": huge,
    }


@pytest.mark.parametrize("name", ["corrupt.docx", "encrypted.pdf", "scanned.pdf", "program.txt", "huge.txt"])
def test_a_bad_file_gives_a_clear_message_and_keeps_the_buffer(plain_window, prompter, tmp_path, name):
    path = _bad_files(tmp_path)[name]
    window = plain_window
    window.editor.setPlainText("my unsaved words")
    window.editor.document().setModified(False)
    assert window.documents.open(path) is None
    errors = prompter.texts("error")
    assert len(errors) == 1 and path.name in errors[0]
    expected = {"corrupt.docx": "docx", "encrypted.pdf": "password", "scanned.pdf": "no text",
                "program.txt": "binary", "huge.txt": "too large"}[name]
    assert expected in errors[0]
    assert window.editor.toPlainText() == "my unsaved words"


def test_cp1251_russian_text_opens_and_a_guessed_encoding_is_flagged(plain_window, prompter, tmp_path):
    long_text = "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный — пора, красавица, проснись."
    (tmp_path / "pushkin.txt").write_bytes(long_text.encode("cp1251"))
    window = plain_window
    window.documents.open(tmp_path / "pushkin.txt")
    assert window.editor.toPlainText() == long_text
    short = tmp_path / "short.txt"
    short.write_bytes("Привет, мир.".encode("cp1251"))
    window.documents.open(short)
    warnings = prompter.texts("warning")
    assert warnings and "encoding" in warnings[-1] and "short.txt" in warnings[-1]


def test_a_failed_save_says_why_and_keeps_the_text_and_modified_flag(plain_window, prompter, tmp_path):
    window = plain_window
    window.editor.setPlainText("words I must not lose")
    window.editor.document().setModified(True)  # as after typing
    target = tmp_path / "story.txt"
    target.mkdir()  # a folder where the file should go: the save cannot replace it
    prompter.save_paths.append(str(target))
    assert not window.documents.save_as()
    error = prompter.texts("error")[-1]
    assert "story.txt" in error and "folder" in error
    assert window.editor.toPlainText() == "words I must not lose" and window.documents.modified
    assert "words I must not lose" in window.autosave.entry_path.read_text()


def test_saving_into_a_missing_folder_fails_cleanly(plain_window, prompter, tmp_path):
    window = plain_window
    window.editor.setPlainText("words I must not lose")
    window.editor.document().setModified(True)
    prompter.save_paths.append(str(tmp_path / "no-such-folder" / "story.md"))
    assert not window.documents.save_as()
    assert "story.md" in prompter.texts("error")[-1]
    assert window.documents.modified and window.documents.path is None
    assert "words I must not lose" in window.autosave.entry_path.read_text()
