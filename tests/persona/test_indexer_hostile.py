"""A folder holding a FIFO, a link to /dev/zero, a socket and a name that is not UTF-8 is indexed to the end."""

from __future__ import annotations

import os
import time

import pytest
from hostile_files import NON_UTF8_NAME, make_hostile_folder, memory_headroom

# A FIFO used to block the indexer forever: pytest-timeout turns a regression into a failure.
pytestmark = pytest.mark.timeout(120)

AUSTEN = (
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife."
)


def test_one_bad_file_never_stops_an_indexing_run(memory, tmp_path):
    folder = tmp_path / "docs"
    hostile = make_hostile_folder(folder)
    (folder / "zz_last.txt").write_text(AUSTEN + "\n")  # sorted after every hostile name
    progress: list[str] = []
    start = time.monotonic()
    with memory_headroom(2.0):
        report = memory.add_folder(folder, progress=lambda stage, _: progress.append(stage))
    assert time.monotonic() - start < 60
    assert report.status == "done", report.summary()
    skipped = {os.path.basename(path): reason for path, reason in report.skipped.items()}
    assert "named pipe" in skipped["notes.txt"] and "device" in skipped["notes2.txt"]
    assert "socket" in skipped["inbox.md"]
    good = str(hostile["non_utf8"].absolute())
    assert sorted(report.indexed) == sorted([good, str((folder / "zz_last.txt").absolute())])
    # The name that is not UTF-8 is stored exactly (as its bytes) and comes back as the same str.
    paths = [d.path for d in memory.documents()]
    assert good in paths and os.fsencode(good).endswith(NON_UTF8_NAME)
    assert list(memory.store.iter_paragraph_texts(good))[0].startswith("A perfectly good note")
    assert all(stage.encode("utf-8") for stage in progress)  # shown with U+FFFD, never a surrogate
    assert any("caf\ufffd.txt" in stage for stage in progress)
    # A rescan sees it unchanged; removing it keeps it out of the next scan.
    again = memory.refresh()
    assert good in again.unchanged and again.status == "done"
    assert memory.remove_document(good)
    assert good not in [d.path for d in memory.documents()]
    assert good not in memory.refresh().indexed
