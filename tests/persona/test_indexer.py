"""The style memory's indexer and store on real files, with the real MiniLM encoder."""

from __future__ import annotations

import os
import stat
import time

import pytest
from docfixtures import write_docx, write_encrypted_pdf, write_pdf, write_rtf

from engine import documents as documents_module
from engine.persona import StyleMemory
from engine.persona import indexer as indexer_module

AUSTEN = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife."
)
MELVILLE = (
    "Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about a little."
)
NEWS = "The company said it had completed the sale of two hundred thousand shares of its common stock."


def make_corpus(folder):
    """One real file of every supported format; returns {file name: expected paragraph count}."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text(f"{AUSTEN}\n\n{MELVILLE}\n\nshort\n")  # 'short' is too short to keep
    (folder / "draft.md").write_text(f"# Title here\n\n{NEWS}\n")
    write_rtf(
        folder / "letter.rtf", [AUSTEN + " In a letter.", "Yours, most sincerely and truly, Elizabeth."]
    )
    write_docx(
        folder / "story.docx", [MELVILLE + " In a story.", "", "The sea was grey and the wind was cold."]
    )
    write_pdf(folder / "paper.pdf", [[NEWS[:60], NEWS[60:]], ["A second page with enough words in it."]])
    return {"notes.txt": 2, "draft.md": 2, "letter.rtf": 2, "story.docx": 2, "paper.pdf": 2}


def counts(memory):
    return {os.path.basename(d.path): d.n_paragraphs for d in memory.documents()}


def test_indexes_real_files_of_every_format(memory, tmp_path):
    expected = make_corpus(tmp_path / "docs")
    progress = []
    report = memory.add_folder(tmp_path / "docs", progress=lambda stage, frac: progress.append((stage, frac)))
    assert report.status == "done" and not report.skipped
    assert counts(memory) == expected
    assert memory.paragraph_count() == sum(expected.values())
    assert {d.format for d in memory.documents()} == {"txt", "md", "rtf", "docx", "pdf"}
    assert progress[-1] == ("style memory up to date", 1.0)
    assert all(0.0 <= f <= 1.0 for _, f in progress) and len(progress) == 6
    texts = list(memory.store.iter_paragraph_texts(str((tmp_path / "docs" / "story.docx").absolute())))
    assert texts[0].startswith("Call me Ishmael")


def test_database_file_is_private(memory):
    assert stat.S_IMODE(memory.store.path.stat().st_mode) == 0o600
    assert memory.store.path.parent.name == "data"  # under KILLAH_HOME/data, i.e. engine.paths.data_dir()


def test_unchanged_files_are_not_read_nor_embedded_again(memory, encoder, tmp_path, monkeypatch):
    make_corpus(tmp_path / "docs")
    memory.add_folder(tmp_path / "docs")
    embedded = encoder.encoded
    reads = []
    real_read = indexer_module.read_document_bytes
    monkeypatch.setattr(indexer_module, "read_document_bytes", lambda p, *a: reads.append(p) or real_read(p, *a))
    report = memory.refresh()
    assert len(report.unchanged) == 5 and not report.indexed
    assert reads == [] and encoder.encoded == embedded


def test_touched_file_with_same_content_is_not_embedded_again(memory, encoder, tmp_path):
    make_corpus(tmp_path / "docs")
    memory.add_folder(tmp_path / "docs")
    embedded = encoder.encoded
    path = tmp_path / "docs" / "notes.txt"
    later = time.time() + 100
    os.utime(path, (later, later))
    report = memory.refresh()
    assert str(path.absolute()) in report.unchanged and not report.indexed
    assert encoder.encoded == embedded
    assert memory.store.get_document(str(path.absolute())).mtime_ns == path.stat().st_mtime_ns


def test_changed_file_replaces_its_paragraphs(memory, tmp_path):
    make_corpus(tmp_path / "docs")
    memory.add_folder(tmp_path / "docs")
    path = tmp_path / "docs" / "notes.txt"
    path.write_text("An entirely new paragraph replaces the old ones in this note.\n")
    report = memory.refresh()
    assert report.indexed == [str(path.absolute())]
    texts = list(memory.store.iter_paragraph_texts(str(path.absolute())))
    assert texts == ["An entirely new paragraph replaces the old ones in this note."]
    assert counts(memory)["notes.txt"] == 1


def test_deleted_file_disappears_on_rescan(memory, tmp_path):
    make_corpus(tmp_path / "docs")
    memory.add_folder(tmp_path / "docs")
    (tmp_path / "docs" / "draft.md").unlink()
    report = memory.add_folder(tmp_path / "docs")
    assert report.removed == [str((tmp_path / "docs" / "draft.md").absolute())]
    assert "draft.md" not in counts(memory)
    assert memory.paragraph_count() == 8


def test_removed_document_stays_out_of_a_rescan(memory, tmp_path):
    make_corpus(tmp_path / "docs")
    memory.add_folder(tmp_path / "docs")
    assert memory.remove_document(tmp_path / "docs" / "letter.rtf")
    memory.refresh()
    assert "letter.rtf" not in counts(memory) and len(counts(memory)) == 4


def test_global_pause_leaves_the_memory_untouched(memory, encoder, tmp_path):
    make_corpus(tmp_path / "docs")
    memory.pause()
    report = memory.add_folder(tmp_path / "docs")
    assert report.status == "paused"
    assert memory.documents() == [] and encoder.encoded == 0
    # The pause is persisted: a new StyleMemory on the same database is still paused.
    again = StyleMemory(encoder=encoder)
    assert again.paused
    assert again.refresh().status == "paused"
    again.close()
    memory.resume()
    assert memory.refresh().status == "done" and len(memory.documents()) == 5


def test_pause_during_indexing_stops_before_the_next_file(memory, tmp_path):
    make_corpus(tmp_path / "docs")

    def pause_after_first(stage, fraction):
        if stage.startswith("indexing") and "(2/" in stage:
            memory.pause()

    report = memory.add_folder(tmp_path / "docs", progress=pause_after_first)
    assert report.status == "paused"
    assert len(memory.documents()) < 5 and len(report.indexed) == len(memory.documents())
    memory.resume()
    report = memory.refresh()
    assert report.status == "done" and len(memory.documents()) == 5


def test_cancel_stops_indexing(memory, tmp_path):
    make_corpus(tmp_path / "docs")

    class Cancel:
        cancelled = True

    report = memory.add_folder(tmp_path / "docs", cancel=Cancel())
    assert report.status == "cancelled" and memory.documents() == []


def test_folder_without_consent_is_not_read(memory, encoder, tmp_path):
    make_corpus(tmp_path / "private")
    report = memory.indexer.index_paths([tmp_path / "private"])
    assert list(report.skipped.values()) == ["not allowed: add its folder to the style memory first"]
    assert memory.documents() == [] and encoder.encoded == 0


def test_forget_folder_withdraws_consent_and_forgets_its_documents(memory, tmp_path):
    make_corpus(tmp_path / "a")
    make_corpus(tmp_path / "b")
    memory.add_folder(tmp_path / "a")
    memory.add_folder(tmp_path / "b")
    assert memory.forget_folder(tmp_path / "a") == 5
    memory.refresh()
    assert all(d.path.startswith(str((tmp_path / "b").absolute())) for d in memory.documents())
    assert len(memory.documents()) == 5


def test_bad_inputs_are_skipped_with_reasons_and_indexing_continues(memory, tmp_path, caplog):
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = write_docx(folder / "b_good.docx", [AUSTEN])
    bad_docx = folder / "a_corrupt.docx"
    bad_docx.write_bytes(good.read_bytes()[:300])
    write_encrypted_pdf(folder / "c_secret.pdf", [["Secret text here."]], "pw", "RC4-128")
    write_pdf(folder / "d_scan.pdf", [[]])
    (folder / "e_empty.txt").write_bytes(b"")
    (folder / "f_junk.txt").write_bytes(os.urandom(3000))
    with open(folder / "g_huge.txt", "wb") as fh:
        fh.truncate(200 * 1024 * 1024)
    (folder / "h_good.md").write_text(MELVILLE)
    (folder / "ignored.xyz").write_text("not a document type")
    start = time.perf_counter()
    report = memory.add_folder(folder)
    assert time.perf_counter() - start < 30
    assert sorted(counts(memory)) == ["b_good.docx", "h_good.md"]
    reasons = {os.path.basename(k): v for k, v in report.skipped.items()}
    assert "not a valid .docx" in reasons["a_corrupt.docx"]
    assert "password-protected" in reasons["c_secret.pdf"]
    assert "no text layer" in reasons["d_scan.pdf"]
    assert "no paragraphs" in reasons["e_empty.txt"]
    assert "binary" in reasons["f_junk.txt"]
    assert "too large" in reasons["g_huge.txt"]
    assert len(reasons) == 6
    assert "skipped" in caplog.text and "g_huge.txt" in caplog.text


def test_file_that_turns_corrupt_loses_its_old_paragraphs(memory, tmp_path):
    make_corpus(tmp_path / "docs")
    memory.add_folder(tmp_path / "docs")
    (tmp_path / "docs" / "story.docx").write_bytes(b"PK\x03\x04 not really a zip")
    report = memory.refresh()
    assert "story.docx" not in counts(memory)
    assert any(k.endswith("story.docx") for k in report.skipped)


def test_delete_all_leaves_no_paragraph_text_in_the_database_file(memory, tmp_path):
    marker = "Zanzibarquixotic marmalade"
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "secret.txt").write_text(
        f"{marker} is the phrase nobody else would ever write in a letter.\n" * 3
    )
    memory.add_folder(folder)
    db = memory.store.path
    assert marker.encode() in db.read_bytes()  # the check below can fail
    memory.delete_all()
    assert memory.documents() == [] and memory.paragraph_count() == 0 and memory.folders() == []
    leftovers = [p for p in db.parent.iterdir() if p.name.startswith(db.name)]
    assert leftovers == [db]  # no journal or WAL file keeps a copy
    assert marker.encode() not in db.read_bytes()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_another_encoder_reembeds_everything(memory, encoder, tmp_path):
    make_corpus(tmp_path / "docs")
    memory.add_folder(tmp_path / "docs")
    encoder.name = "another-encoder"
    report = memory.refresh()
    assert len(report.indexed) == 5


def test_document_reader_limit_is_shared(tmp_path):
    # The indexer refuses big files by the same limit as the editor.
    assert indexer_module.MAX_DOCUMENT_BYTES == documents_module.MAX_DOCUMENT_BYTES


@pytest.mark.parametrize("aggregation", ["attention", "mean"])
def test_persona_vector_comes_from_the_memory_and_pause_silences_it(memory, tmp_path, aggregation):
    make_corpus(tmp_path / "docs")
    assert memory.persona_vector("anything") is None  # empty memory
    memory.add_folder(tmp_path / "docs")
    vector, top = memory.persona_vector("Ishmael went to sea on a whaling ship.", aggregation)
    assert vector.shape == (384,)
    if aggregation == "attention":
        sources = memory.store.paragraph_sources(top)
        assert "Ishmael" in sources[0][1]
    memory.pause()
    assert memory.persona_vector("Ishmael") is None


def test_pause_while_embedding_a_long_file_writes_nothing(memory, encoder, tmp_path):
    folder = tmp_path / "long"
    folder.mkdir()
    (folder / "book.txt").write_text(
        "\n\n".join(f"Paragraph number {i} of a very long book." for i in range(600))
    )
    real_encode = encoder.encode

    def encode_then_pause(texts, batch_size=32):
        vectors = real_encode(texts, batch_size)
        memory.pause()  # the user pressed pause while the first chunk was being embedded
        return vectors

    encoder.encode = encode_then_pause
    report = memory.add_folder(folder)
    assert report.status == "paused"
    assert 0 < encoder.encoded < 600  # stopped after the first chunk
    assert memory.documents() == [] and memory.paragraph_count() == 0
