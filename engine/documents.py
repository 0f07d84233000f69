"""Reading and writing the user's documents (.txt .md .rtf .docx .pdf), no Qt.

Every failure a user can cause (corrupt file, wrong password, binary junk, a
200 MB log named .txt, a full disk) becomes a ``DocumentError`` with a message
meant for the user. Saving is atomic: the old file stays intact unless the new
one has been written completely.

    read_document(path)  -> Document(text, paragraphs, format, encoding, ...)
    write_document(path, text)   # .txt / .md as UTF-8, .docx one paragraph per line
"""

from __future__ import annotations

import codecs
import errno
import io
import os
import re
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import DocumentError

SUPPORTED_OPEN = (".txt", ".md", ".rtf", ".docx", ".pdf")
SUPPORTED_SAVE = (".txt", ".md", ".docx")

# Larger than any manuscript (War and Peace is ~3 MB of text); checked with
# stat() before reading, so a huge file is refused without being read, and again
# while reading (a device or a growing file may claim a size of 0).
MAX_DOCUMENT_BYTES = 50 * 1024 * 1024

# Text files whose first 64 KiB hold more than this share of control bytes
# (other than tab/newline/form feed/escape) are treated as binary.
_BINARY_SAMPLE = 64 * 1024
_MAX_CONTROL_RATIO = 0.05
_TEXT_CONTROLS = {0x09, 0x0A, 0x0B, 0x0C, 0x0D, 0x1B}

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)

# Characters XML 1.0 (hence .docx) cannot hold: C0 controls except tab/LF/CR.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_BLANK_LINES = re.compile(r"\n[ \t\f\v]*\n+")


@dataclass
class Document:
    text: str
    paragraphs: list[str]  # non-empty, stripped; what the style memory indexes
    format: str  # 'txt' | 'md' | 'rtf' | 'docx' | 'pdf'
    encoding: str | None = None  # for text formats: the detected/declared charset
    encoding_confident: bool = True  # False when the charset was a guess among several
    warnings: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- public API


def read_document(path: str | os.PathLike) -> Document:
    """Read a document of a supported format, or raise DocumentError saying why not."""
    path = Path(path)
    _format_of(path, SUPPORTED_OPEN, "open")
    return document_from_bytes(read_document_bytes(path), path.name)


def read_document_bytes(path: str | os.PathLike, limit: int = MAX_DOCUMENT_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or DocumentError saying why not.

    Only what ``path`` resolves to being a regular file makes it a document: a named pipe
    would block the open or the read forever, and a link to /dev/zero has stat size 0 yet
    never ends. The type is checked before opening and again on the open descriptor (the
    path may be swapped in between); the open is non-blocking, and the read stops at
    ``limit + 1`` bytes whatever stat says.
    """
    path = Path(path)
    name = shown_name(path)
    try:
        info = os.stat(path)
    except FileNotFoundError as exc:
        raise DocumentError(f"{name}: the file does not exist.") from exc
    except OSError as exc:
        raise DocumentError(f"{name}: cannot read the file ({_reason(exc)}).") from exc
    _check_regular(info, name, limit)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise DocumentError(f"{name}: cannot read the file ({_reason(exc)}).") from exc
    try:
        _check_regular(os.fstat(fd), name, limit)
        data = _read_at_most(fd, limit + 1)
    except OSError as exc:
        raise DocumentError(f"{name}: cannot read the file ({_reason(exc)}).") from exc
    finally:
        os.close(fd)
    if len(data) > limit:
        raise _too_large(name, None, limit)
    return data


def document_from_bytes(data: bytes, name: str) -> Document:
    """Parse the bytes of a file called ``name`` (its suffix gives the format) into a Document.

    Every failure is a DocumentError; this is what the fuzzing tests drive.
    """
    fmt = _format_of(Path(name), SUPPORTED_OPEN, "open")
    shown = shown_name(name)
    if fmt in ("txt", "md"):
        return _read_plain(data, shown, fmt)
    if fmt == "rtf":
        return _read_rtf(data, shown)
    if fmt == "docx":
        return _read_docx(data, shown)
    return _read_pdf(data, shown)


def shown_name(path: str | os.PathLike) -> str:
    """A file's name fit to show or store as text.

    A name that is not valid UTF-8 arrives from the OS as surrogate-escaped text, which
    Qt, SQLite and UTF-8 log files refuse; its undecodable bytes are shown as U+FFFD.
    """
    return shown_path(os.path.basename(os.fspath(path)))


def shown_path(path: str | os.PathLike) -> str:
    """A whole path fit to show (see ``shown_name``)."""
    raw = path if isinstance(path, bytes) else os.fsencode(path)
    return raw.decode("utf-8", "replace")


def write_document(path: str | os.PathLike, text: str) -> None:
    """Save ``text`` atomically as .txt/.md (UTF-8) or .docx (one paragraph per line).

    The data goes to a temporary file in the same folder, is flushed to disk,
    and then replaces the target in one step: a crash or a full disk leaves the
    old file as it was.
    """
    path = Path(path)
    fmt = _format_of(path, SUPPORTED_SAVE, "save")
    if fmt == "docx":
        data = _docx_bytes(text)
    else:
        data = text.encode("utf-8")
    _atomic_write(path, data)


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of plain text: blocks separated by blank lines, stripped, empties dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return [block.strip() for block in _BLANK_LINES.split(text) if block.strip()]


# ---------------------------------------------------------------- plain text


def _read_plain(data: bytes, name: str, fmt: str) -> Document:
    text, encoding, confident = decode_text_bytes(data, name)
    warnings = [] if confident else [f"The character encoding was guessed ({encoding}); check the text."]
    if not text.strip():
        warnings.append("The document is empty.")
    return Document(text, split_paragraphs(text), fmt, encoding, confident, warnings)


def decode_text_bytes(data: bytes, name: str = "the file") -> tuple[str, str, bool]:
    """Decode bytes of a text file: (text, encoding, confident) or DocumentError if binary."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding, True
            except UnicodeDecodeError as exc:
                raise DocumentError(
                    f"{name} starts like {encoding} text but is not valid {encoding}."
                ) from exc
    if _looks_binary(data[:_BINARY_SAMPLE]):
        raise DocumentError(f"{name} looks like binary data, not text.")
    try:
        # Most files are UTF-8 (ASCII included); a strict decode that succeeds is certain.
        return data.decode("utf-8"), "utf-8", True
    except UnicodeDecodeError:
        pass
    import charset_normalizer

    results = charset_normalizer.from_bytes(data)
    best = results.best()
    if best is None:
        raise DocumentError(f"{name} looks like binary data, not text (no character encoding fits).")
    # Confident when the decoding is clean and a language was recognised, or when
    # no other encoding fits at all; short cp1251 texts often also fit mac_cyrillic.
    confident = best.chaos <= 0.1 and (best.coherence >= 0.2 or len(results) == 1)
    return str(best), best.encoding, confident


def _looks_binary(sample: bytes) -> bool:
    if not sample:
        return False
    if b"\x00" in sample:
        return True
    controls = sum(1 for b in sample if b < 0x20 and b not in _TEXT_CONTROLS)
    return controls / len(sample) > _MAX_CONTROL_RATIO


# ---------------------------------------------------------------- rtf

_ANSICPG = re.compile(rb"\\ansicpg(\d+)")
# Pictures and embedded objects are hex dumps, split by line breaks only: striprtf walks them one
# character at a time (2.4 s of CPU for a 4 MB RTF with one photo, measured). No prose holds 512
# hex digits without a space, so such runs are dropped before parsing.
_HEX_DUMP = re.compile(r"(?<![0-9a-fA-F\r\n])[0-9a-fA-F\r\n]{512,}")  # starts only at a run: linear


_FONT_TABLE = re.compile(r"\{[^{}]*\\fonttbl")
_BRACE = re.compile(r"[{}]")
_FONT_ID = re.compile(r"\\f(\d+)")
_FONT_CHARSET = re.compile(r"\\fcharset(\d+)")
_MAX_FONTS = 4096


def _compact_font_table(source: str) -> str:
    """The RTF with its font table rewritten as ``{\\fonttbl{\\fN\\fcharsetM F;}...}``: all striprtf uses of it.

    striprtf matches each font with a lazy regex (``\\f(\\d+).*?\\fcharset``) that runs to the table's
    end when a font has no charset: quadratic, and a table that never closes spans the whole file
    (a 700 KB fuzzed RTF ran for minutes). Here the table is cut into fonts by one brace scan.
    """
    found = _FONT_TABLE.search(source)
    if not found:
        return source
    depth, end, fonts, font_start = 0, len(source), [], found.end()
    for brace in _BRACE.finditer(source, found.start()):
        if brace.group() == "{":
            depth += 1
            font_start = brace.end() if depth == 2 else font_start
        else:
            depth -= 1
            if depth == 1 and len(fonts) < _MAX_FONTS:
                fonts.append(source[font_start : brace.start()])
            if depth == 0:
                end = brace.end()
                break
    if not fonts:  # {\fonttbl\f0\fswiss Helvetica;}: one font without a group of its own
        fonts = [source[found.end() : end]]
    entries = []
    for font in fonts:
        font_id, charset = _FONT_ID.search(font), _FONT_CHARSET.search(font)
        if font_id and charset:
            entries.append(f"{{\\f{font_id.group(1)}\\fcharset{charset.group(1)} F;}}")
    return source[: found.start()] + "{\\fonttbl" + "".join(entries) + "}" + source[end:]


def _read_rtf(data: bytes, name: str) -> Document:
    from striprtf.striprtf import rtf_to_text

    if not data.lstrip().startswith(b"{\\rtf"):
        raise DocumentError(f"{name} is not an RTF document (it does not start with {{\\rtf).")
    # RTF is 7-bit: non-ASCII arrives as \'xx escapes in the \ansicpg code page
    # (striprtf decodes those) or \uN escapes. Raw 8-bit bytes, written by some
    # tools, are decoded in the declared code page too.
    match = _ANSICPG.search(data[:4096])
    codepage = f"cp{match.group(1).decode()}" if match else "cp1252"
    try:
        codecs.lookup(codepage)
    except LookupError:
        codepage = "cp1252"
    warnings: list[str] = []
    source = _compact_font_table(_HEX_DUMP.sub("", data.decode(codepage, errors="replace")))
    try:
        text = rtf_to_text(source, encoding=codepage, errors="strict")
    except UnicodeDecodeError:
        text = rtf_to_text(source, encoding=codepage, errors="replace")
        warnings.append(f"Some characters could not be decoded as {codepage} and were replaced.")
    except Exception as exc:  # noqa: BLE001 - striprtf raises plain errors on malformed input
        raise DocumentError(f"{name} is a damaged RTF document ({type(exc).__name__}).") from exc
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text.strip():
        warnings.append("The document is empty.")
    return Document(text, split_paragraphs(text), "rtf", codepage, True, warnings)


# ---------------------------------------------------------------- docx


# A .docx is a zip: 50 MB of it may unpack to gigabytes (a zip bomb). python-docx reads every part
# into memory, so the declared sizes are checked first (zipfile never unpacks past them). A long novel's
# document.xml is ~20 MB; pictures hardly compress, so a 50 MB file unpacks to little more.
MAX_DOCX_UNPACKED_BYTES = 4 * MAX_DOCUMENT_BYTES


def _read_docx(data: bytes, name: str) -> Document:
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise DocumentError(f"{name} is not a valid .docx document (damaged or another format).") from exc
    if unpacked > MAX_DOCX_UNPACKED_BYTES:
        raise DocumentError(
            f"{name} unpacks to {unpacked / 2**20:.0f} MB (a damaged or malicious .docx); Killah opens "
            f".docx documents up to {MAX_DOCX_UNPACKED_BYTES / 2**20:.0f} MB unpacked."
        )
    try:
        document = docx.Document(io.BytesIO(data))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise DocumentError(
            f"{name} is not a valid .docx document (damaged or another format)."
        ) from exc
    except Exception as exc:  # noqa: BLE001 - lxml and zipfile raise many kinds on corrupt input
        raise DocumentError(f"{name} is a damaged .docx document ({type(exc).__name__}).") from exc
    try:
        # python-docx trusts the XML's shape: a body-less or mangled document.xml fails only here
        # (AttributeError, found by fuzzing).
        lines = _docx_lines(document, Table)
    except Exception as exc:  # noqa: BLE001
        raise DocumentError(f"{name} is a damaged .docx document ({type(exc).__name__}).") from exc
    text = "\n".join(lines)
    paragraphs = [line.strip() for line in lines if line.strip()]
    warnings = [] if paragraphs else ["The document is empty."]
    return Document(text, paragraphs, "docx", None, True, warnings)


def _docx_lines(document, table_type) -> list[str]:
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, table_type):
            for row in block.rows:
                cells = [cell.text.strip() for cell in row.cells]
                lines.append(" | ".join(c for c in cells if c))
        else:
            lines.append(block.text)
    return lines


def _docx_bytes(text: str) -> bytes:
    import docx

    document = docx.Document()
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        # XML cannot carry most control characters: drop them rather than fail the save.
        document.add_paragraph(_XML_ILLEGAL.sub("", line))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- pdf

_SENTENCE_END = tuple(".!?:;\"'”»)…")


def _read_pdf(data: bytes, name: str) -> Document:
    from pypdf import PdfReader
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            # Owner-password-only PDFs open with the empty user password.
            try:
                opened = reader.decrypt("")
            except (DependencyError, NotImplementedError) as exc:
                raise DocumentError(f"{name} is password-protected (unsupported encryption).") from exc
            if not opened:
                raise DocumentError(f"{name} is password-protected; remove the password and try again.")
        pages = [page.extract_text() or "" for page in reader.pages]
    except DocumentError:
        raise
    except FileNotDecryptedError as exc:
        raise DocumentError(f"{name} is password-protected; remove the password and try again.") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise DocumentError(f"{name} is a damaged PDF ({type(exc).__name__}).") from exc
    except Exception as exc:  # noqa: BLE001 - pypdf raises many kinds on corrupt input
        raise DocumentError(f"{name} is a damaged PDF ({type(exc).__name__}).") from exc
    if not any(page.strip() for page in pages):
        raise DocumentError(f"{name} has no text layer (scanned?); Killah cannot read text from images.")
    warnings = []
    empty = [str(i + 1) for i, page in enumerate(pages) if not page.strip()]
    if empty:
        warnings.append(f"Pages without text (images?): {', '.join(empty[:20])}.")
    paragraphs = [para for page in pages for para in _reflow_pdf_page(page)]
    return Document("\n\n".join(paragraphs), paragraphs, "pdf", None, True, warnings)


def _reflow_pdf_page(page: str) -> list[str]:
    """Join a PDF page's visual lines into paragraphs.

    A paragraph ends at a blank line, or at a line that is clearly shorter than
    the page's full lines and ends like a sentence (the last line of a paragraph).
    Words hyphenated across lines are joined.
    """
    lines = [line.rstrip() for line in page.replace("\r", "\n").split("\n")]
    widths = sorted(len(line) for line in lines if line.strip())
    full = widths[int(len(widths) * 0.8)] if widths else 0
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        stripped = line.strip()
        if not stripped:
            if current:
                paragraphs.append(current)
            current = ""
            continue
        if current.endswith("-") and len(current) > 1 and current[-2].isalpha():
            current = current[:-1] + stripped
        else:
            current = f"{current} {stripped}" if current else stripped
        if len(stripped) < 0.75 * full and stripped.endswith(_SENTENCE_END):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return paragraphs


# ---------------------------------------------------------------- helpers


def _format_of(path: Path, allowed: tuple[str, ...], verb: str) -> str:
    suffix = path.suffix.lower()
    if suffix not in allowed:
        raise DocumentError(
            f"Killah cannot {verb} {suffix or 'files without an extension'} files ({shown_name(path)}); "
            f"supported: {', '.join(allowed)}."
        )
    return suffix[1:]


_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a named pipe (FIFO)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a device"),
    (stat.S_ISBLK, "a device"),
)


def _check_regular(info: os.stat_result, name: str, limit: int) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = next((kind for is_kind, kind in _FILE_KINDS if is_kind(info.st_mode)), "not a regular file")
        raise DocumentError(f"{name} is {kind}, not a document file; Killah opens only regular files.")
    if info.st_size > limit:  # refused before a byte is read
        raise _too_large(name, info.st_size, limit)


def _too_large(name: str, size: int | None, limit: int) -> DocumentError:
    """``size`` None: the read went past the limit although stat claimed less (a device, a growing file)."""
    shown = f"{size / 2**20:.0f} MB" if size is not None else f"more than {limit / 2**20:.0f} MB"
    return DocumentError(f"{name} is too large ({shown}); Killah opens documents up to {limit / 2**20:.0f} MB.")


def _read_at_most(fd: int, count: int) -> bytes:
    chunks: list[bytes] = []
    left = count
    while left > 0:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _reason(exc: OSError) -> str:
    reasons = {
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOSPC: "the disk is full",
        errno.EDQUOT: "the disk quota is exceeded",
        errno.EROFS: "the disk is read-only",
        errno.ENOENT: "the folder does not exist",
        errno.ENOTDIR: "a part of the path is not a folder",
        errno.EISDIR: "it is a folder",
        errno.ENAMETOOLONG: "the name is too long",
    }
    return reasons.get(exc.errno, exc.strerror or str(exc))


def _atomic_write(path: Path, data: bytes) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    tmp_name: str | None = None
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory", str(path))
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp makes the file 0600: keep the old file's mode, else the usual 0644-ish default.
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
        tmp_name = None
        _fsync_dir(folder)
    except OSError as exc:
        raise DocumentError(
            f"Could not save {shown_name(path)}: {_reason(exc)}. The previous version is unchanged."
        ) from exc
    finally:
        if tmp_name is not None:
            try:
                os.unlink(tmp_name)
            except OSError:
                pass


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform (Windows).
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
