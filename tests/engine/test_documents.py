"""engine.documents on real files of every format, and on the bad inputs users will feed it."""

from __future__ import annotations

import os
import stat
import time

import pytest
from docfixtures import write_docx, write_encrypted_pdf, write_pdf, write_rtf

from engine import documents
from engine.documents import DocumentError, read_document, write_document

RUSSIAN = (
    "Мой дядя самых честных правил,\nКогда не в шутку занемог,\nОн уважать себя заставил\n"
    "И лучше выдумать не мог.\n\nЕго пример другим наука; но, боже мой, какая скука "
    "с больным сидеть и день и ночь, не отходя ни шагу прочь!"
)
ENGLISH = "It is a truth universally acknowledged.\n\nThat a single man in possession of a good fortune\nmust be in want of a wife."


# ---------------------------------------------------------------- round trips


@pytest.mark.parametrize("suffix", [".txt", ".md"])
def test_plain_text_round_trips_exactly_as_utf8(tmp_path, suffix):
    path = tmp_path / f"note{suffix}"
    text = ENGLISH + "\n\n" + RUSSIAN + "\n\ttabbed line — with “quotes” and emoji 🙂\n"
    write_document(path, text)
    assert path.read_bytes() == text.encode("utf-8")
    doc = read_document(path)
    assert doc.text == text
    assert doc.format == suffix[1:]
    assert doc.encoding == "utf-8" and doc.encoding_confident
    assert doc.paragraphs[0] == "It is a truth universally acknowledged."
    assert len(doc.paragraphs) == 4


def test_docx_round_trips_one_paragraph_per_line(tmp_path):
    path = tmp_path / "story.docx"
    text = "First line\n\nSecond paragraph, with a\ttab\nПривет, мир"
    write_document(path, text)
    doc = read_document(path)
    assert doc.text == text
    assert doc.paragraphs == ["First line", "Second paragraph, with a\ttab", "Привет, мир"]
    assert doc.format == "docx"


def test_docx_save_drops_control_characters_instead_of_failing(tmp_path):
    path = tmp_path / "ctl.docx"
    write_document(path, "bell\x07 and null\x00 here")
    assert read_document(path).text == "bell and null here"


def test_saving_replaces_the_old_file_and_keeps_its_mode(tmp_path):
    path = tmp_path / "keep.txt"
    path.write_text("old")
    os.chmod(path, 0o640)
    write_document(path, "new text")
    assert path.read_text() == "new text"
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]  # no temp file left behind


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_save_into_read_only_folder_fails_clearly_and_leaves_old_file(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    path = folder / "draft.md"
    path.write_text("precious old text")
    os.chmod(folder, 0o500)
    try:
        with pytest.raises(DocumentError, match="permission denied"):
            write_document(path, "new")
        assert path.read_text() == "precious old text"
        assert [p.name for p in folder.iterdir()] == ["draft.md"]
    finally:
        os.chmod(folder, 0o700)


def test_save_failure_midway_leaves_old_file_and_no_temp(tmp_path, monkeypatch):
    # A full disk shows up as ENOSPC from write/fsync: simulate it at fsync.
    path = tmp_path / "full.txt"
    path.write_text("old contents")

    def disk_full(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(documents.os, "fsync", disk_full)
    with pytest.raises(DocumentError, match="disk is full"):
        write_document(path, "new contents that do not fit")
    assert path.read_text() == "old contents"
    assert [p.name for p in tmp_path.iterdir()] == ["full.txt"]


def test_save_to_unsupported_format_is_refused(tmp_path):
    with pytest.raises(DocumentError, match="cannot save .pdf"):
        write_document(tmp_path / "x.pdf", "text")


def test_save_over_a_folder_is_refused(tmp_path):
    (tmp_path / "dir.txt").mkdir()
    with pytest.raises(DocumentError, match="folder"):
        write_document(tmp_path / "dir.txt", "text")


# ---------------------------------------------------------------- reading other formats


def test_rtf_with_cp1252_escapes_is_decoded(tmp_path):
    path = write_rtf(tmp_path / "fr.rtf", ["Café crème — déjà vu.", "Second {braced} para"], codepage=1252)
    doc = read_document(path)
    assert doc.paragraphs == ["Café crème — déjà vu.", "Second {braced} para"]
    assert doc.format == "rtf" and doc.encoding == "cp1252"


def test_rtf_with_cp1251_escapes_is_decoded_as_russian(tmp_path):
    path = write_rtf(tmp_path / "ru.rtf", ["Привет, мир!", "Ещё абзац."], codepage=1251)
    doc = read_document(path)
    assert doc.paragraphs == ["Привет, мир!", "Ещё абзац."]
    assert doc.encoding == "cp1251"


def test_rtf_with_unicode_escapes_is_decoded(tmp_path):
    path = tmp_path / "u.rtf"
    path.write_bytes(rb"{\rtf1\ansi\uc1 \u1055?\u1088?\u1080? ok\par}")
    assert read_document(path).paragraphs == ["При ok"]


def test_file_named_rtf_that_is_not_rtf_is_refused(tmp_path):
    path = tmp_path / "fake.rtf"
    path.write_text("just text")
    with pytest.raises(DocumentError, match="not an RTF"):
        read_document(path)


def test_docx_written_by_python_docx_is_read_with_tables(tmp_path):
    import docx

    path = write_docx(tmp_path / "w.docx", ["Chapter One", "", "It was a dark night."])
    document = docx.Document(str(path))
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "cell a"
    table.rows[0].cells[1].text = "cell b"
    document.save(str(path))
    doc = read_document(path)
    assert doc.paragraphs == ["Chapter One", "It was a dark night.", "cell a | cell b"]


def test_corrupt_docx_is_refused_clearly(tmp_path):
    good = write_docx(tmp_path / "good.docx", ["hello"])
    bad = tmp_path / "bad.docx"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])  # truncated zip
    with pytest.raises(DocumentError, match="not a valid .docx"):
        read_document(bad)
    junk = tmp_path / "junk.docx"
    junk.write_bytes(b"this is plain text, not a zip")
    with pytest.raises(DocumentError, match="not a valid .docx"):
        read_document(junk)


def test_pdf_text_layer_is_read_and_lines_reflowed_into_paragraphs(tmp_path):
    page1 = [
        "The whale is a large animal that lives in the sea and breathes",
        "air through a blowhole on the top of its head, which is why it",
        "must come up.",
        "",
        "Ishmael went to sea.",
    ]
    page2 = ["Second page text."]
    path = write_pdf(tmp_path / "book.pdf", [page1, page2])
    doc = read_document(path)
    assert doc.format == "pdf"
    assert doc.paragraphs[0].startswith("The whale is a large animal")
    assert doc.paragraphs[0].endswith("which is why it must come up.")
    assert "Ishmael went to sea." in doc.paragraphs
    assert doc.paragraphs[-1] == "Second page text."


def test_pdf_with_some_image_pages_warns_about_them(tmp_path):
    path = write_pdf(tmp_path / "mixed.pdf", [["Some text."], []])
    doc = read_document(path)
    assert doc.paragraphs == ["Some text."]
    assert any("Pages without text" in w and "2" in w for w in doc.warnings)


def test_image_only_pdf_is_refused_as_having_no_text_layer(tmp_path):
    path = write_pdf(tmp_path / "scan.pdf", [[], []])
    with pytest.raises(DocumentError, match=r"no text layer \(scanned\?\)"):
        read_document(path)


@pytest.mark.parametrize("algorithm", ["RC4-128", "AES-256"])
def test_password_protected_pdf_is_refused(tmp_path, algorithm):
    path = write_encrypted_pdf(tmp_path / "secret.pdf", [["Top secret."]], "pw", algorithm)
    with pytest.raises(DocumentError, match="password-protected"):
        read_document(path)


def test_pdf_with_owner_password_only_opens(tmp_path):
    pytest.importorskip("cryptography", reason="pypdf needs cryptography for AES")
    path = write_encrypted_pdf(tmp_path / "restricted.pdf", [["Readable text."]], "", "AES-128")
    assert read_document(path).paragraphs == ["Readable text."]


def test_damaged_pdf_is_refused(tmp_path):
    path = tmp_path / "broken.pdf"
    path.write_bytes(b"%PDF-1.4\n1 0 obj << /Type /Catalog >>\ngarbage")
    with pytest.raises(DocumentError, match="PDF"):
        read_document(path)


# ---------------------------------------------------------------- bad inputs for text


def test_cp1251_russian_is_detected(tmp_path):
    path = tmp_path / "ru.txt"
    path.write_bytes(RUSSIAN.encode("cp1251"))
    doc = read_document(path)
    assert doc.encoding == "cp1251"
    assert doc.text == RUSSIAN
    assert doc.encoding_confident


def test_utf8_bom_and_utf16_are_decoded(tmp_path):
    a = tmp_path / "bom.txt"
    a.write_bytes(RUSSIAN.encode("utf-8-sig"))
    assert read_document(a).text == RUSSIAN
    b = tmp_path / "u16.txt"
    b.write_bytes(RUSSIAN.encode("utf-16"))  # has a BOM and NUL bytes: still text
    doc = read_document(b)
    assert doc.text == RUSSIAN and doc.encoding == "utf-16"


def test_binary_junk_named_txt_is_refused(tmp_path):
    path = tmp_path / "junk.txt"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(DocumentError, match="looks like binary data, not text"):
        read_document(path)
    elf = tmp_path / "program.md"
    elf.write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 100 + b"code")
    with pytest.raises(DocumentError, match="binary"):
        read_document(elf)


def test_control_character_soup_without_nul_is_refused(tmp_path):
    path = tmp_path / "ctl.txt"
    path.write_bytes(bytes([1, 2, 3, 4, 5, 6, 65, 66]) * 500)
    with pytest.raises(DocumentError, match="binary"):
        read_document(path)


def test_200_mb_text_file_is_refused_quickly(tmp_path):
    path = tmp_path / "huge.txt"
    with open(path, "wb") as fh:
        fh.truncate(200 * 1024 * 1024)  # sparse: costs no disk
    start = time.perf_counter()
    with pytest.raises(DocumentError, match="too large"):
        read_document(path)
    assert time.perf_counter() - start < 0.5


def test_empty_text_file_reads_as_empty_document(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    doc = read_document(path)
    assert doc.text == "" and doc.paragraphs == []
    assert "empty" in doc.warnings[0]


def test_missing_file_and_unknown_format_are_refused(tmp_path):
    with pytest.raises(DocumentError, match="does not exist"):
        read_document(tmp_path / "nope.txt")
    (tmp_path / "x.odt").write_text("x")
    with pytest.raises(DocumentError, match="cannot open .odt"):
        read_document(tmp_path / "x.odt")


def test_split_paragraphs_handles_crlf_and_whitespace_only_lines():
    assert documents.split_paragraphs("a\r\nb\r\n \t\r\n\r\nc\n\n\n") == ["a\nb", "c"]


def test_save_into_missing_folder_fails_clearly(tmp_path):
    with pytest.raises(DocumentError, match="folder does not exist"):
        write_document(tmp_path / "no" / "such" / "dir.txt", "text")
