"""Retrieved exemplars: the writer's own paragraphs most like the text being written.

    memory matrix M [n, 384] (unit MiniLM vectors, float16, refreshed on store revision)
    query q = MiniLM(last words before the cursor)
    s = M @ q                                  one matrix-vector product over the whole memory
    candidates = top-(4k) of s above RELEVANCE_THRESHOLD, minus the paragraph being edited
    MMR:  pick argmax  lambda * s_i - (1 - lambda) * max_j cos(i, j picked)   until k or the budget

The chosen paragraphs go before the prompt as earlier text by the same writer
(``engine.prompts.with_exemplars``). They are chosen once per paragraph being
edited and cached, so the prompt prefix stays the same across keystrokes and the
engine reuses its cached keys/values.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

# Chosen on dev writers (style_retrieval.py --grid, docs/persona.md "Retrieved exemplars"): k = 1
# keeps 56 % of k = 2's gain; k = 4 in 512 tokens gains 0.07 more but doubles the prompt and, with
# ~400 tokens of text and continue's new tokens, overflows the ExecuTorch programs' 1,024 positions.
DEFAULT_K = 2
DEFAULT_BUDGET_TOKENS = 256
# MiniLM cosine below which a paragraph is not "like" the text. English vs Russian text scores
# ~0.04 (ASSETS.md); 37 of 39 held-out Reuters queries found Reuters paragraphs above 0.15
# (tests/bench/bench_retrieval.py).
RELEVANCE_THRESHOLD = 0.15
# "Rephrase in my style" wants the writer's voice, not their topic: any paragraph of theirs is evidence
# of style (nearest first), as in the RL prompts, which showed two regardless of relevance. At 0.15,
# 5 of 12 sentences of another writer found nothing (docs/style_rl.md, style_rephrase_app.py).
ANY_PARAGRAPH = -1.0
MMR_LAMBDA = 0.7  # relevance vs diversity; 1.0 = plain top-k
NEAR_DUPLICATE = 0.95  # cosine above which two paragraphs count as the same text
QUERY_WORDS = 80  # the text just before the cursor is what the next words should sound like
CANDIDATES_PER_PICK = 4
CACHE_SIZE = 64

TokenCounter = Callable[[str], int]


@dataclass(frozen=True)
class Exemplar:
    text: str
    source: str  # the document the paragraph came from (its path)
    score: float  # MiniLM cosine to the query


@dataclass(frozen=True)
class StyleContext:
    """What conditions one request on the writer's style: exemplar paragraphs, or why none."""

    exemplars: tuple[Exemplar, ...] = ()
    reason: str = ""  # why style conditioning is off ("" when exemplars are used)
    # False when the request's mode never takes style (engine.api.STYLED_MODES): the status bar keeps
    # showing what conditions the modes that do, instead of "off" after every keystroke.
    mode_styled: bool = True

    @property
    def active(self) -> bool:
        return bool(self.exemplars)

    @property
    def texts(self) -> list[str]:
        return [e.text for e in self.exemplars]

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(e.source for e in self.exemplars))

    def describe(self) -> str:
        """One line for the status bar: "Style: 3 paragraphs from letters.docx" or "Style: off (why)"."""
        if not self.active:
            return f"Style: off ({self.reason})" if self.reason else "Style: off"
        names = [Path(s).name for s in self.sources]
        n = len(self.exemplars)
        where = names[0] if len(names) == 1 else f"{names[0]} and {len(names) - 1} more"
        return f"Style: {n} paragraph{'s' if n != 1 else ''} from {where}"


@dataclass(frozen=True)
class StyleRequest:
    """The app's ask: condition this request on the style memory.

    ``document`` names the document being edited (a path, or any id for an unsaved one): with the
    paragraph's start it keys the cache that keeps the exemplars fixed while the writer types.
    ``paragraph_after_cursor`` is the rest of the paragraph being edited (never used as exemplar).
    """

    document: str = ""
    paragraph_after_cursor: str = ""
    # Rephrase in my style: the selection being rewritten. A stored paragraph holding it is the writer's
    # own copy of the source, the nearest match but no example of style: it is never an exemplar.
    rewriting: str = ""


@dataclass
class _Matrix:
    revision: int
    ids: np.ndarray  # [n] paragraph ids
    vectors: np.ndarray  # [n, dim] float32, unit rows


_CYRILLIC = re.compile(r"[\u0400-\u04FF]")
_LATIN = re.compile(r"[A-Za-z]")


def script_name(text: str) -> str:
    """'cyrillic' when Cyrillic letters dominate, else 'latin' (a memory/text language mismatch)."""
    return "cyrillic" if len(_CYRILLIC.findall(text)) > len(_LATIN.findall(text)) else "latin"


def _norm(text: str) -> str:
    return " ".join(text.split()).lower()


def split_paragraph(text_before_cursor: str) -> tuple[str, str]:
    """(text before the paragraph being edited, the paragraph's typed part). A line break ends a paragraph."""
    cut = text_before_cursor.rfind("\n") + 1
    return text_before_cursor[:cut], text_before_cursor[cut:]


def paragraph_key(document: str, text_before_cursor: str) -> str:
    """Stable while the writer types inside one paragraph: the document and what precedes the paragraph.

    At the very start of a document the query is only a few words long, so the choice is renewed
    when the text reaches 8 and then 32 words (two extra prefills per document, then stable).
    """
    before, _ = split_paragraph(text_before_cursor)
    words = len(text_before_cursor.split())
    grown = 0 if words < 8 else 1 if words < 32 else 2
    digest = hashlib.sha256(f"{document}\x00{len(before)}\x00{grown}\x00{before[-500:]}".encode()).hexdigest()
    return digest[:24]


def search_matrix(vectors: np.ndarray) -> np.ndarray:
    """The memory's unit vectors as the float16 matrix that every search scans.

    The scan reads the whole matrix per request and is memory-bound (100,000 x 384 float32 = 154 MB);
    float16 halves the bytes read and the RAM held. Cosines move by < 1e-3 (unit vectors, float32
    accumulation), far below the gaps that decide the threshold, the top candidates or MMR.
    """
    return np.ascontiguousarray(vectors, dtype=np.float16)


def cosine_scores(matrix: np.ndarray, query: np.ndarray) -> np.ndarray:
    """[n] float32 cosines of the query to each row of a float16 (or float32) unit matrix."""
    if matrix.dtype == np.float16:
        # numpy has no float16 BLAS (its float16 matmul is ~50x slower); torch's CPU kernel
        # converts with F16C and accumulates in float32. from_numpy shares the memory: no copy.
        scores = torch.mv(torch.from_numpy(matrix), torch.from_numpy(query.astype(np.float16)))
        return scores.float().numpy()
    return matrix @ query.astype(np.float32)


def top_candidates(scores: np.ndarray, n: int, threshold: float) -> np.ndarray:
    """Indices of the ``n`` highest scores at or above ``threshold``, best first (argpartition: O(N))."""
    n = min(n, scores.shape[0])
    if n <= 0:
        return np.zeros(0, dtype=np.int64)
    part = np.argpartition(-scores, n - 1)[:n] if n < scores.shape[0] else np.arange(scores.shape[0])
    part = part[scores[part] >= threshold]
    return part[np.argsort(-scores[part], kind="stable")]


def mmr_order(scores: np.ndarray, vectors: np.ndarray, lam: float = MMR_LAMBDA) -> list[int]:
    """Maximal marginal relevance order of the candidates (rows of ``vectors``), near-duplicates dropped."""
    vectors = vectors.astype(np.float32)  # a few rows: float32 products, as the scores are
    sims = vectors @ vectors.T
    chosen: list[int] = []
    left = list(range(len(scores)))
    while left:
        if chosen:
            redundancy = sims[np.ix_(left, chosen)].max(axis=1)
        else:
            redundancy = np.zeros(len(left), dtype=np.float32)
        gains = lam * scores[left] - (1 - lam) * redundancy
        best = int(np.argmax(gains))
        pick = left.pop(best)
        if chosen and redundancy[best] >= NEAR_DUPLICATE:
            continue
        chosen.append(pick)
    return chosen


class ExemplarCache:
    """The last choices per (document, paragraph): an LRU dropped whenever the memory changes."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self.revision = -1
        self._items: OrderedDict[tuple, StyleContext] = OrderedDict()

    def get(self, key: tuple, revision: int) -> StyleContext | None:
        if revision != self.revision:
            self._items.clear()
            self.revision = revision
            return None
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
        return found

    def put(self, key: tuple, value: StyleContext) -> None:
        self._items[key] = value
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def excluded_texts(text_before_cursor: str, paragraph_after_cursor: str) -> tuple[set[str], str]:
    """(normalized paragraphs the model already sees, the normalized paragraph being edited)."""
    before, typed = split_paragraph(text_before_cursor)
    seen = {_norm(p) for p in before[-4000:].split("\n") if p.strip()}
    editing = _norm(typed + paragraph_after_cursor)
    return seen, editing


def _rewritten_parts(rewriting: str) -> list[str]:
    """The selection, and each of its lines long enough to identify a paragraph (a selection may span
    the end of one paragraph and the start of the next)."""
    lines = [_norm(line) for line in rewriting.split("\n")]
    return [_norm(rewriting), *(line for line in lines if len(line) >= 24)]


def is_excluded(text: str, seen: set[str], editing: str, rewriting: str = "") -> bool:
    norm = _norm(text)
    if norm in seen or (editing and norm == editing):
        return True
    if rewriting.strip() and any(part in norm for part in _rewritten_parts(rewriting)):
        return True
    # The stored copy of the paragraph being edited is its last saved version: it starts like it.
    return len(editing) >= 24 and (norm.startswith(editing[:80]) or editing.startswith(norm[:80]))


def fit_budget(
    picks: list[Exemplar], k: int, budget_tokens: int, count_tokens: TokenCounter | None
) -> tuple[Exemplar, ...]:
    """The first ``k`` picks, in order, that fit the budget together (one that would overflow is skipped)."""
    count = count_tokens or (lambda t: int(len(t.split()) * 1.4) + 1)
    used, kept = 0, []
    for ex in picks:
        if len(kept) == k:
            break
        cost = count(ex.text) + 2  # the blank line between paragraphs
        if used + cost > budget_tokens:
            continue
        kept.append(ex)
        used += cost
    return tuple(kept)


@dataclass
class RetrievalStats:
    """Timing of the last search (for the bench): query encoding and the matrix search, in seconds."""

    encode_seconds: float = 0.0
    search_seconds: float = 0.0
    cached: bool = False
    candidates: list[int] = field(default_factory=list)
