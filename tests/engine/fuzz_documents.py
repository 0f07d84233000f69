"""Fuzzed documents for every reader: small real files of each format, mutated.

    seed_files() -> {fmt: [bytes, ...]}   real .txt .md .rtf .docx .pdf written by the real libraries
    mutate(data, fmt, rng) -> bytes       1-4 mutations: generic byte edits, format tokens, and
                                          structure-aware ones (a zip member re-zipped, a PDF stream
                                          re-compressed, deep nesting, decompression bombs)
    read_outcome(path) -> Outcome         what read_document did: "clean", "clear" (a KillahError) or
                                          "crash" (anything else), with seconds and peak resident bytes

One mutator serves the hypothesis tests (``rng`` drawn by ``st.randoms``) and the 10,000-file script
(tests/bench/fuzz_readers.py, ``random.Random(i)``). Importable from other test folders.
"""

from __future__ import annotations

import io
import random
import re
import tempfile
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from docfixtures import pdf_bytes, write_docx, write_encrypted_pdf, write_rtf

from engine.documents import read_document
from engine.errors import KillahError

FORMATS = ("txt", "md", "rtf", "docx", "pdf")
MAX_FUZZ_BYTES = 4 * 2**20  # mutated files stay small on disk; bombs grow only when read
BOMB_BYTES = 250 * 2**20  # what a decompression bomb expands to (~0.25 MB zipped): past the .docx limit

ENGLISH = "It is a truth universally acknowledged, that a single man in possession of a good fortune."
RUSSIAN = "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный — пора, красавица, проснись."


# ---------------------------------------------------------------- seeds


@cache
def seed_files() -> dict[str, tuple[bytes, ...]]:
    """Real files of each format, a few variants each (encodings, tables, compression, encryption)."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        docx_table = _docx_with_table(folder / "table.docx")
        return {
            "txt": (
                f"{ENGLISH}\n\n{RUSSIAN}\n".encode(),
                RUSSIAN.encode("cp1251"),
                ("\ufeff" + ENGLISH + "\r\n" + RUSSIAN).encode("utf-16"),
            ),
            "md": (
                f"# Title\n\n{ENGLISH}\n\n- one\n- two\n\n> {RUSSIAN}\n\n```\ncode\n```\n".encode(),
            ),
            "rtf": (
                write_rtf(folder / "a.rtf", [ENGLISH, "Émigré café."]).read_bytes(),
                write_rtf(folder / "r.rtf", [RUSSIAN], codepage=1251).read_bytes(),
                _rich_rtf(),
            ),
            "docx": (
                write_docx(folder / "a.docx", [ENGLISH, "", RUSSIAN]).read_bytes(),
                docx_table,
            ),
            "pdf": (
                pdf_bytes([[ENGLISH[:50], ENGLISH[50:]], [RUSSIAN.encode("cp1252", "replace").decode("cp1252")]]),
                _compressed_pdf(),
                write_encrypted_pdf(folder / "e.pdf", [[ENGLISH]], "", "AES-128").read_bytes(),
            ),
        }


def _docx_with_table(path: Path) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("A heading", level=1)
    document.add_paragraph(ENGLISH)
    table = document.add_table(rows=2, cols=2)
    for i, cell in enumerate(table._cells):
        cell.text = f"cell {i} {RUSSIAN[:20]}"
    document.save(str(path))
    return path.read_bytes()


def _rich_rtf() -> bytes:
    return (
        b"{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Times;}}{\\*\\generator Fuzz;}"
        b"{\\info{\\title A title}}\\uc1 \\pard\\plain Caf\\'e9 \\u1052?\\u1086?\\u1088? "
        b"{\\b bold} {\\i italic}\\par\\trowd\\cellx1000 A\\cell B\\cell\\row "
        b"{\\pict\\pngblip 89504e470d0a1a0a}\\line end\\par}"
    )


def _compressed_pdf() -> bytes:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(pdf_bytes([[ENGLISH, "Second line."]]))))
    for page in writer.pages:
        page.compress_content_streams()
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


# ---------------------------------------------------------------- byte mutations

Mutation = Callable[[bytes, random.Random], bytes]
_INTERESTING = (0x00, 0x01, 0x7F, 0x80, 0xFF, 0x0A, 0x0D, 0x22, 0x3C, 0x3E, 0x5C, 0x7B, 0x7D, 0xC3, 0xD0)
_TOKENS = {
    "txt": (b"\x00", b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff\x00", b"\r", b"\xd0", b"\xc3\x28", b"\x1b[31m"),
    "rtf": (b"{", b"}", b"\\", b"\\'", b"\\'zz", b"\\u-5?", b"\\u99999999?", b"\\bin999999 ", b"\\*",
            b"\\par", b"\\ansicpg65001", b"\\ansicpg99999", b"\\uc0", b"\\uc99", b"{\\*\\", b"\\pard",
            b"\\cell", b"\\row", b"{\\pict ", b"\\'00", b"\\u0?"),
    "xml": (b"<w:p>", b"</w:p>", b"<w:t>", b"</w:t>", b"&amp;", b"&#0;", b"&#xFFFFFFFF;", b"<w:tbl>",
            b"<w:tr><w:tc>", b"]]>", b"<![CDATA[", b"<!--", b"<?xml", b"\"", b"xmlns:w=\"x\"", b"&lol;",
            b"<!DOCTYPE d [<!ENTITY lol \"lololololololol\">]>"),
    "pdf": (b"<<", b">>", b"[", b"]", b"(", b")", b"obj", b"endobj", b"stream\n", b"endstream", b"R",
            b"/Length 99999999", b"/Length -1", b"xref", b"trailer", b"startxref", b"%%EOF",
            b"/Filter /FlateDecode", b"/Filter /LZWDecode", b"9999999999 0 R", b"/Count -1",
            b"/Count 999999999", b"/Kids [2 0 R]", b"/Parent 4 0 R", b"Tj", b"TJ", b"Tf", b"BT", b"ET",
            b"/Encrypt", b"/Type /Page", b"1 0 R", b"\\", b"<FFFE>", b"/Root 2 0 R"),
}
_TOKENS["md"] = _TOKENS["txt"]


def _at(data: bytes, rng: random.Random) -> int:
    return rng.randint(0, len(data)) if data else 0


def flip_bits(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(out))
        out[i] ^= 1 << rng.randrange(8)
    return bytes(out)


def set_interesting(data: bytes, rng: random.Random) -> bytes:
    if not data:
        return data
    i = rng.randrange(len(data))
    return data[:i] + bytes([rng.choice(_INTERESTING)]) + data[i + 1 :]


def insert_random(data: bytes, rng: random.Random) -> bytes:
    i = _at(data, rng)
    return data[:i] + rng.randbytes(rng.choice((1, 4, 64, 1024))) + data[i:]


def delete_range(data: bytes, rng: random.Random) -> bytes:
    i = _at(data, rng)
    return data[:i] + data[i + rng.randint(1, max(1, len(data) // 4)) :]


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: _at(data, rng)]


def repeat_range(data: bytes, rng: random.Random) -> bytes:
    """A slice repeated up to thousands of times: long lines, deep nesting, big tables."""
    if not data:
        return data
    i = rng.randrange(len(data))
    piece = data[i : i + rng.randint(1, 64)]
    times = rng.choice((2, 10, 1000, 50_000))
    return data[:i] + piece * min(times, MAX_FUZZ_BYTES // max(len(piece), 1) // 2) + data[i:]


def swap_ranges(data: bytes, rng: random.Random) -> bytes:
    if len(data) < 4:
        return data
    a, b = sorted(rng.sample(range(len(data)), 2))
    size = rng.randint(1, max(1, min(b - a, 256)))
    return data[:a] + data[b : b + size] + data[a + size : b] + data[a : a + size] + data[b + size :]


def _insert_token(tokens: tuple[bytes, ...]) -> Mutation:
    def insert_token(data: bytes, rng: random.Random) -> bytes:
        i = _at(data, rng)
        return data[:i] + rng.choice(tokens) * rng.choice((1, 1, 3, 500)) + data[i:]

    return insert_token


def splice(fmt: str) -> Mutation:
    """The head of this file joined to the tail of another seed of any format."""

    def splice_seeds(data: bytes, rng: random.Random) -> bytes:
        other = rng.choice(seed_files()[rng.choice(FORMATS)])
        return data[: _at(data, rng)] + other[_at(other, rng) :]

    return splice_seeds


_GENERIC: tuple[Mutation, ...] = (flip_bits, set_interesting, insert_random, delete_range, truncate,
                                  repeat_range, swap_ranges)


def _byte_mutations(fmt: str, tokens: str | None = None) -> tuple[Mutation, ...]:
    token_ops = (_insert_token(_TOKENS[tokens or fmt]),) * 3
    return _GENERIC + token_ops + (splice(fmt),)


# ---------------------------------------------------------------- structure-aware mutations


def _rezip(members: dict[str, bytes], order: list[str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in order:
            archive.writestr(name, members[name])
    return out.getvalue()


def mutate_zip_member(data: bytes, rng: random.Random) -> bytes:
    """Edit one part of a .docx (document.xml most often) and zip it again: reaches the XML parser."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            order = archive.namelist()
            members = {name: archive.read(name) for name in order}
    except Exception:  # noqa: BLE001 - already broken by an earlier mutation: edit the bytes instead
        return rng.choice(_GENERIC)(data, rng)
    if not order:
        return data
    name = "word/document.xml" if "word/document.xml" in members and rng.random() < 0.6 else rng.choice(order)
    op = rng.choice(_byte_mutations("docx", tokens="xml"))
    members[name] = op(members[name], rng)
    if rng.random() < 0.1:
        order.remove(name)  # a missing part
    return _rezip(members, order)


_W_T = re.compile(rb"(<w:t(?: [^>]*)?>)([^<]*)(</w:t>)")
_W_BLOCK = re.compile(rb"<w:p>.*?</w:p>|<w:p .*?</w:p>|<w:tr>.*?</w:tr>|<w:tr .*?</w:tr>", re.S)


def mutate_docx_text(data: bytes, rng: random.Random) -> bytes:
    """Well-formed edits of document.xml: odd text in a run, paragraphs or table rows copied many times.

    Byte edits of the XML mostly stop at the parser; these reach python-docx's walk of the body.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            order = archive.namelist()
            members = {name: archive.read(name) for name in order}
    except Exception:  # noqa: BLE001
        return rng.choice(_GENERIC)(data, rng)
    xml = members.get("word/document.xml")
    if xml is None:
        return data
    if rng.random() < 0.5:
        runs = list(_W_T.finditer(xml))
        if runs:
            run = rng.choice(runs)
            text = "".join(chr(rng.choice((rng.randint(0x20, 0x7E), rng.randint(0xA0, 0xD7FF), 0x9, 0xA)))
                           for _ in range(rng.choice((1, 50, 5000))))
            escaped = text.replace("&", "&amp;").replace("<", "&lt;").encode("utf-8")
            xml = xml[: run.start(2)] + escaped + xml[run.end(2) :]
    else:
        blocks = list(_W_BLOCK.finditer(xml))
        if blocks:
            block = rng.choice(blocks)
            xml = xml[: block.end()] + block.group() * rng.choice((2, 100, 5000)) + xml[block.end() :]
    members["word/document.xml"] = xml
    return _rezip(members, order)


def docx_bomb(data: bytes, rng: random.Random) -> bytes:
    """XML nested a hundred thousand deep, or document.xml inflating to hundreds of MB (~0.3 MB zipped)."""
    if rng.random() < 0.5:
        return _whitespace_bomb_docx()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            order = archive.namelist()
            members = {name: archive.read(name) for name in order}
    except Exception:  # noqa: BLE001
        return data
    if "word/document.xml" not in members:
        return data
    xml = members["word/document.xml"]
    members["word/document.xml"] = xml.replace(b"<w:body>", b"<w:body>" + b"<w:p>" * 100_000, 1)
    return _rezip(members, order)


@cache
def _whitespace_bomb_docx() -> bytes:
    with zipfile.ZipFile(io.BytesIO(seed_files()["docx"][0])) as archive:
        order = archive.namelist()
        members = {name: archive.read(name) for name in order}
    xml = members["word/document.xml"]
    members["word/document.xml"] = xml[:-20] + b" " * BOMB_BYTES + xml[-20:]
    return _rezip(members, order)


@cache
def _text_bomb_stream() -> bytes:
    return zlib.compress(b"(A) Tj " * (BOMB_BYTES // 7), 9)


def pdf_stream_bomb(data: bytes, rng: random.Random) -> bytes:
    """A content stream replaced by Flate data that inflates to hundreds of MB of text operators."""
    start = data.find(b"stream\n")
    end = data.find(b"endstream", start)
    if start < 0 or end < 0:
        return data
    head = data[:start].replace(b"<< /Length", b"<< /Filter /FlateDecode /Length", 1)
    return head + b"stream\n" + _text_bomb_stream() + b"\n" + data[end:]


def nest_deep(fmt: str) -> Mutation:
    opener, closer = {"rtf": (b"{", b"}"), "pdf": (b"[", b"]"), "md": (b">", b""), "txt": (b"(", b")")}[fmt]

    def nest(data: bytes, rng: random.Random) -> bytes:
        depth = rng.choice((100, 10_000, 200_000))
        i = _at(data, rng)
        return data[:i] + opener * depth + closer * rng.choice((0, depth)) + data[i:]

    return nest


MUTATIONS: dict[str, tuple[Mutation, ...]] = {
    "txt": _byte_mutations("txt") + (nest_deep("txt"),),
    "md": _byte_mutations("md") + (nest_deep("md"),),
    "rtf": _byte_mutations("rtf") + (nest_deep("rtf"),) * 2,
    "docx": (mutate_zip_member,) * 5 + (mutate_docx_text,) * 5 + _GENERIC + (docx_bomb,),
    "pdf": _byte_mutations("pdf") + (nest_deep("pdf"), pdf_stream_bomb),
}


_BOMBS = (docx_bomb, pdf_stream_bomb)


def mutate(data: bytes, fmt: str, rng: random.Random) -> bytes:
    for _ in range(rng.randint(1, 4)):
        op = rng.choice(MUTATIONS[fmt])
        data = op(data, rng)
        if len(data) > MAX_FUZZ_BYTES:
            data = data[:MAX_FUZZ_BYTES]
        if op in _BOMBS:  # a bomb is the last step: editing it again means inflating it again
            break
    return data


def fuzzed_file(fmt: str, rng: random.Random) -> bytes:
    return mutate(rng.choice(seed_files()[fmt]), fmt, rng)


# ---------------------------------------------------------------- reading


@dataclass
class Outcome:
    kind: str  # "clean" | "clear" (a KillahError, the user sees its message) | "crash" (anything else)
    seconds: float  # wall clock
    cpu_seconds: float  # this thread's CPU: what the 5 s bar is checked on, the machine being shared
    peak_bytes: int  # resident memory the read added at its peak (VmHWM after the read - RSS before)
    detail: str = ""  # the message or the exception


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def read_outcome(path: Path) -> Outcome:
    """Read ``path`` with engine.documents.read_document and say what happened.

    The peak is the process's resident high-water mark, reset before the read (Linux clear_refs),
    so memory that C libraries (lxml, zlib) take counts too; tracemalloc would miss it and slowed
    the readers several times over.
    """
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    before = _status_kib("VmRSS:")
    start, cpu_start = time.perf_counter(), time.thread_time()
    try:
        read_document(path)
        kind, detail = "clean", ""
    except KillahError as exc:
        kind, detail = "clear", str(exc)
    except Exception as exc:  # noqa: BLE001 - what we are looking for (MemoryError, RecursionError...)
        kind, detail = "crash", f"{type(exc).__name__}: {exc}"[:500]
    seconds, cpu = time.perf_counter() - start, time.thread_time() - cpu_start
    peak = max(0, _status_kib("VmHWM:") - before) * 1024
    return Outcome(kind, seconds, cpu, peak, detail)
