"""Real English text that can be had offline: R data packages shipped by Debian.

    apt-get download PKG --> dpkg-deb -x --> R data (lazy-load .rdb/.rdx or .rda) --rdata--> paragraphs

| name        | Debian package        | what                                  |
|-------------|-----------------------|---------------------------------------|
| `austen`    | r-cran-janeaustenr    | the six Austen novels (one line a row) |
| `moby_dick` | r-cran-tokenizers     | Moby Dick (one Gutenberg string)       |
| `reuters`   | r-cran-tm             | 70 Reuters-21578 articles (acq, crude) |

Nothing here is committed: the .deb files, their contents and the parsed
paragraphs live under ``engine.paths.cache_dir()/corpora``. A second
``load_corpus`` call reads the parsed json and is instant.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import subprocess
import tempfile
import warnings
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from engine import paths

CORPORA = {
    "austen": "r-cran-janeaustenr",
    "moby_dick": "r-cran-tokenizers",
    "reuters": "r-cran-tm",
}
# Bump when the paragraph re-flow changes, so cached json files are rebuilt.
PARSE_VERSION = 1

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


class CorpusError(RuntimeError):
    """The Debian package could not be fetched or read."""


def corpora_dir() -> Path:
    path = paths.cache_dir() / "corpora"
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------- fetching


def _site_library(package: str) -> Path:
    """Download and unpack a Debian package once; return its R site-library folder."""
    root = corpora_dir() / "debs" / package
    lib = root / "usr" / "lib" / "R" / "site-library"
    if lib.exists() and any(lib.iterdir()):
        return lib
    with tempfile.TemporaryDirectory(dir=corpora_dir()) as tmp:
        try:
            subprocess.run(
                ["apt-get", "download", package], cwd=tmp, check=True, capture_output=True, timeout=300
            )
        except (OSError, subprocess.SubprocessError) as exc:
            detail = getattr(exc, "stderr", b"") or b""
            raise CorpusError(
                f"apt-get download {package} failed: {exc} {detail.decode(errors='replace')}"
            ) from exc
        debs = list(Path(tmp).glob("*.deb"))
        if not debs:
            raise CorpusError(f"apt-get download {package} produced no .deb file")
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True, capture_output=True)
    return lib


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


def _normalize(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


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
            blocks.append(_normalize(" ".join(current)))
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
                heading = _normalize(str(doc["meta"]["heading"][0])) or f"{topic} {doc['meta']['id'][0]}"
                # Paragraphs start with an indented line; the trailing "Reuter" is a dateline, not text.
                paras = [_normalize(p) for p in re.split(r"\n\s{2,}", body)]
                paras = [re.sub(r"\s*Reuter$", "", p) for p in paras]
                title = heading if heading not in out else f"{heading} ({doc['meta']['id'][0]})"
                out[title] = [p for p in paras if p]
    return out


_LOADERS = {"austen": _load_austen, "moby_dick": _load_moby_dick, "reuters": _load_reuters}


def load_corpus(name: str) -> dict[str, list[str]]:
    """Title -> paragraphs of one offline corpus ('austen', 'moby_dick', 'reuters'), cached as json."""
    if name not in _LOADERS:
        raise ValueError(f"Unknown corpus {name!r}; known: {', '.join(_LOADERS)}")
    cache = corpora_dir() / f"{name}.v{PARSE_VERSION}.json"
    if cache.exists():
        try:
            return json.loads(cache.read_text())
        except json.JSONDecodeError:
            pass  # a half-written cache: rebuild it
    result = _LOADERS[name]()
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
