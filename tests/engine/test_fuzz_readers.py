"""Every reader (.txt .md .rtf .docx .pdf) on mutated real files: a clean read or a KillahError, fast, bounded.

Hypothesis draws the mutations (tests/engine/fuzz_documents.py). The short run is part of the suite
(~100 files, well under a minute); the long one (1,000 files) is marked slow; tests/bench/fuzz_readers.py
runs >= 10,000 in a separate process and prints the counts (docs/reliability.md).
"""

from __future__ import annotations

import logging
import random

import pytest
from fuzz_documents import FORMATS, fuzzed_file, read_outcome
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

CPU_BAR_SECONDS = 5.0  # per read, CPU of the reading thread (the machine is shared; wall time is noisy)
PEAK_BAR_BYTES = 1024 * 2**20  # resident memory one read may add (a 250 MB zip bomb is refused first)

_SETTINGS = dict(deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.fixture(autouse=True)
def _quiet_pypdf():
    # pypdf logs a repair note for nearly every broken PDF; the outcome is what is checked.
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def _check_one(tmp_path, fmt: str, rng: random.Random) -> None:
    path = tmp_path / f"fuzzed.{fmt}"
    path.write_bytes(fuzzed_file(fmt, rng))
    outcome = read_outcome(path)
    assert outcome.kind != "crash", outcome.detail
    assert outcome.cpu_seconds < CPU_BAR_SECONDS, (outcome.cpu_seconds, outcome.detail)
    assert outcome.peak_bytes < PEAK_BAR_BYTES, (outcome.peak_bytes, outcome.detail)
    if outcome.kind == "clear":
        assert path.name in outcome.detail  # the message names the file it is about


@pytest.mark.timeout(120)
@pytest.mark.parametrize("fmt", FORMATS)
def test_fuzzed_files_read_cleanly_or_fail_clearly(tmp_path, fmt):
    @settings(max_examples=16, derandomize=True, **_SETTINGS)  # the same files on every run of the suite
    @given(rng=st.randoms(use_true_random=False))
    def check(rng):
        _check_one(tmp_path, fmt, rng)

    check()


@pytest.mark.slow
@pytest.mark.timeout(3600)
@pytest.mark.parametrize("fmt", FORMATS)
def test_many_fuzzed_files_read_cleanly_or_fail_clearly(tmp_path, fmt):
    @settings(max_examples=200, **_SETTINGS)
    @given(rng=st.randoms(use_true_random=False))
    def check(rng):
        _check_one(tmp_path, fmt, rng)

    check()


# ---------------------------------------------------------------- found by fuzzing (tests/bench/fuzz_readers.py)


def test_an_rtf_font_table_that_never_closes_reads_in_linear_time(tmp_path):
    # striprtf's font regex was quadratic over an unclosed table: a 700 KB file ran for minutes.
    path = tmp_path / "fonts.rtf"
    path.write_bytes(b"{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Times;}" + b"ff0{\\fonttbl{\\f0 Times;}" * 30_000)
    outcome = read_outcome(path)
    assert outcome.kind in ("clean", "clear") and outcome.cpu_seconds < 2.0, outcome


def test_a_docx_whose_document_has_no_body_fails_clearly(tmp_path):
    import io
    import zipfile

    from fuzz_documents import seed_files

    source = zipfile.ZipFile(io.BytesIO(seed_files()["docx"][0]))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "word/document.xml":  # python-docx raised AttributeError walking it
                data = b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"/>'
            target.writestr(name, data)
    path = tmp_path / "nobody.docx"
    path.write_bytes(out.getvalue())
    outcome = read_outcome(path)
    assert outcome.kind == "clear" and "damaged .docx" in outcome.detail, outcome
