"""Only regular files are documents: pipes, sockets and devices named like documents are refused at once."""

from __future__ import annotations

import os
import time

import pytest
from hostile_files import GOOD_TEXT, make_hostile_folder, memory_headroom

from engine.documents import read_document, read_document_bytes, shown_name
from engine.errors import DocumentError

# pytest-timeout interrupts a blocked open() of a FIFO, so a regression fails instead of hanging.
pytestmark = pytest.mark.timeout(30)

EXPECTED = {"fifo": "named pipe", "zero_link": "device", "socket": "socket"}


@pytest.mark.parametrize("kind", sorted(EXPECTED))
def test_a_special_file_named_like_a_document_is_refused_promptly(tmp_path, kind):
    path = make_hostile_folder(tmp_path / "folder")[kind]
    start = time.monotonic()
    with memory_headroom(2.0), pytest.raises(DocumentError) as refused:
        read_document(path)
    assert time.monotonic() - start < 1.0
    message = str(refused.value)
    assert path.name in message and EXPECTED[kind] in message and "regular files" in message


def test_the_read_stops_at_the_limit_whatever_stat_says(tmp_path):
    # A growing file or a device reports a small size; the read itself must stop at the limit.
    path = tmp_path / "grows.txt"
    path.write_bytes(b"x" * 4096)
    assert read_document_bytes(path, limit=4096) == b"x" * 4096
    with pytest.raises(DocumentError, match="too large"):
        read_document_bytes(path, limit=4095)
    with memory_headroom(2.0), pytest.raises(DocumentError, match="device"):
        read_document_bytes("/dev/zero")


def test_a_folder_named_like_a_document_is_refused(tmp_path):
    (tmp_path / "chapter.txt").mkdir()
    with pytest.raises(DocumentError, match="is a folder"):
        read_document(tmp_path / "chapter.txt")


def test_a_name_that_is_not_utf8_opens_and_is_shown_safely(tmp_path):
    path = make_hostile_folder(tmp_path / "folder")["non_utf8"]
    assert "\udce9" in path.name  # surrogate-escaped, as os.listdir gives it
    assert read_document(path).text == GOOD_TEXT
    assert shown_name(path) == "caf\ufffd.txt"
    shown_name(path).encode("utf-8")  # fit for Qt, SQLite and a UTF-8 log
    bad = tmp_path / "folder" / os.fsdecode(b"bad\xff.txt")
    os.mkfifo(bad)
    with pytest.raises(DocumentError) as refused:
        read_document(bad)
    assert "bad\ufffd.txt" in str(refused.value)
    str(refused.value).encode("utf-8")
