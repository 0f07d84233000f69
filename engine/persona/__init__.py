"""Style memory (PersonaPlugs): the user's documents condition lil Pushkin on their style.

    documents --indexer--> SQLite (paragraphs + MiniLM vectors, 0600)
    context text --MiniLM--> query --attention over top-k paragraphs--> persona vector [384]
    persona vector --trained projector (assets/manifest.json)--> PersonaContext(soft_tokens [k, hidden])

``StyleMemory`` is the one object the app and the engine use: it lists what is
indexed, indexes (with progress and cancel, on the caller's thread), removes,
deletes everything, pauses and resumes, and builds the persona for a request.
While paused, nothing is indexed and no persona is produced.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from engine.errors import ArtifactError
from engine.persona.aggregate import attention_persona, mean_persona
from engine.persona.encoder import MiniLMEncoder, SentenceEncoder, default_encoder
from engine.persona.exemplars import (
    CANDIDATES_PER_PICK,
    DEFAULT_BUDGET_TOKENS,
    DEFAULT_K,
    QUERY_WORDS,
    RELEVANCE_THRESHOLD,
    Exemplar,
    ExemplarCache,
    RetrievalStats,
    StyleContext,
    StyleRequest,
    TokenCounter,
    cosine_scores,
    excluded_texts,
    fit_budget,
    is_excluded,
    mmr_order,
    paragraph_key,
    script_name,
    search_matrix,
    top_candidates,
)
from engine.persona.indexer import IndexReport, PersonaIndexer, ProgressFn
from engine.persona.projector import PersonaContext, PersonaProjector
from engine.persona.store import PersonaStore

__all__ = [
    "DocumentSummary",
    "Exemplar",
    "IndexReport",
    "MiniLMEncoder",
    "PersonaContext",
    "PersonaProjector",
    "SentenceEncoder",
    "StyleContext",
    "StyleMemory",
    "StyleRequest",
]

log = logging.getLogger("killah.persona")


@dataclass(frozen=True)
class DocumentSummary:
    path: str
    n_paragraphs: int
    format: str
    indexed_at: float  # unix time


class StyleMemory:
    def __init__(
        self,
        db_path: Path | None = None,
        encoder: SentenceEncoder | None = None,
        assets_root: Path | None = None,  # where manifest.json lives; None: the shipped assets
    ) -> None:
        self.store = PersonaStore(db_path)
        self.assets_root = assets_root
        self.encoder = encoder or default_encoder()
        self.indexer = PersonaIndexer(self.store, self.encoder)
        self._vectors: tuple[int, np.ndarray, np.ndarray] | None = None  # (revision, ids, float16 vectors)
        self._projectors: dict[str, PersonaProjector] = {}
        self._lock = threading.Lock()
        self._exemplar_cache = ExemplarCache()
        self.last_retrieval = RetrievalStats()

    def close(self) -> None:
        self.store.close()

    # -- what the panel shows -------------------------------------------------

    def documents(self) -> list[DocumentSummary]:
        return [
            DocumentSummary(r.path, r.n_paragraphs, r.format, r.indexed_at) for r in self.store.documents()
        ]

    def folders(self) -> list[str]:
        """The folders (and files) the user allowed the memory to read."""
        return self.store.consented_paths()

    def paragraph_count(self) -> int:
        return self.store.paragraph_count()

    @property
    def paused(self) -> bool:
        return self.store.paused

    def pause(self) -> None:
        """Opt out: stop indexing (a running index stops after the current batch) and stop conditioning."""
        self.store.set_paused(True)

    def resume(self) -> None:
        self.store.set_paused(False)

    # -- indexing -------------------------------------------------------------

    def add_folder(
        self, folder: str | os.PathLike, progress: ProgressFn | None = None, cancel=None
    ) -> IndexReport:
        """The user's consent to read ``folder`` (recorded), then index it. Also works for one file."""
        target = Path(folder).expanduser().absolute()
        self.store.grant_consent(target)
        return self.indexer.index_paths([target], progress=progress, cancel=cancel)

    def add_files(
        self, files: Iterable[str | os.PathLike], progress: ProgressFn | None = None, cancel=None
    ) -> IndexReport:
        targets = [Path(f).expanduser().absolute() for f in files]
        for target in targets:
            self.store.grant_consent(target)
        return self.indexer.index_paths(targets, progress=progress, cancel=cancel)

    def refresh(self, progress: ProgressFn | None = None, cancel=None) -> IndexReport:
        """Re-scan everything the user allowed: new and changed files in, deleted ones out."""
        return self.indexer.index_paths(self.store.consented_paths(), progress=progress, cancel=cancel)

    def remove_document(self, path: str | os.PathLike) -> bool:
        """Forget one document; a later rescan of its folder leaves it out."""
        key = str(Path(path).expanduser().absolute())
        self.store.exclude(key)
        return self.store.remove_document(key)

    def forget_folder(self, folder: str | os.PathLike) -> int:
        """Withdraw consent for a folder and forget every document in it."""
        target = Path(folder).expanduser().absolute()
        self.store.revoke_consent(target)
        return self.store.remove_under(target)

    def delete_all(self) -> None:
        """Forget every document, paragraph and consent; the database file is vacuumed."""
        self.store.delete_all()
        self._vectors = None

    # -- conditioning ---------------------------------------------------------

    def _memory_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            revision = self.store.revision
            if self._vectors is None or self._vectors[0] != revision:
                ids, vectors = self.store.all_embeddings(self.encoder.dim)
                self._vectors = (revision, ids, search_matrix(vectors))
            return self._vectors[1], self._vectors[2]

    def exemplars(
        self,
        text_before_cursor: str,
        request: StyleRequest | None = None,
        *,
        budget_tokens: int = DEFAULT_BUDGET_TOKENS,
        k: int = DEFAULT_K,
        count_tokens: TokenCounter | None = None,
        threshold: float = RELEVANCE_THRESHOLD,
    ) -> StyleContext:
        """The writer's ``k`` paragraphs most like the text before the cursor, within ``budget_tokens``.

        Relevant (MiniLM cosine >= ``threshold``), diverse (MMR, near-duplicates dropped), never the
        paragraph being edited nor one the model already sees. Chosen once per (document, paragraph)
        and cached until the memory changes, so the prompt prefix stays put while the writer types.
        An empty or paused memory, or nothing relevant, gives no exemplars and the reason.
        """
        request = request or StyleRequest()
        if self.paused:
            return StyleContext(reason="style memory paused")
        ids, vectors = self._memory_vectors()
        if len(ids) == 0:
            return StyleContext(reason="style memory empty")
        key = (paragraph_key(request.document, text_before_cursor), k, budget_tokens, threshold)
        with self._lock:
            cached = self._exemplar_cache.get(key, self.store.revision)
        if cached is not None:
            self.last_retrieval = RetrievalStats(cached=True)
            return cached
        found = self._search(
            text_before_cursor, request, ids, vectors, budget_tokens, k, count_tokens, threshold
        )
        with self._lock:
            self._exemplar_cache.put(key, found)
        return found

    def _search(self, text_before_cursor, request, ids, vectors, budget_tokens, k, count_tokens, threshold):
        stats = RetrievalStats()
        words = text_before_cursor.split()[-QUERY_WORDS:]
        if not words:
            return StyleContext(reason="no text to match yet")
        started = time.perf_counter()
        query = self.encoder.encode([" ".join(words)])[0]
        stats.encode_seconds = time.perf_counter() - started
        found = self.search_vector(query, ids, vectors, text_before_cursor, request, k, threshold, stats)
        if isinstance(found, StyleContext):
            self.last_retrieval = stats
            return found
        picks = fit_budget(found, k, budget_tokens, count_tokens)
        self.last_retrieval = stats
        if not picks:
            return StyleContext(reason="no paragraph fits the style budget")
        return StyleContext(exemplars=picks)

    def search_vector(
        self,
        query: np.ndarray,
        ids: np.ndarray,
        vectors: np.ndarray,
        text_before_cursor: str,
        request: StyleRequest,
        k: int,
        threshold: float,
        stats: RetrievalStats | None = None,
    ) -> list[Exemplar] | StyleContext:
        """Exemplars (MMR order, up to ``2k`` for the budget to choose from), or a StyleContext saying why none."""
        stats = stats or RetrievalStats()
        started = time.perf_counter()
        scores = cosine_scores(vectors, query)  # [n] cosines: one pass over the whole memory
        wanted = max(1, k) * CANDIDATES_PER_PICK
        top = top_candidates(scores, wanted + 8, -1.0)  # a few extra: some may be excluded below
        stats.search_seconds = time.perf_counter() - started
        stats.candidates = [int(ids[i]) for i in top]
        rows = self.store.paragraph_sources(stats.candidates)
        seen, editing = excluded_texts(text_before_cursor, request.paragraph_after_cursor)
        by_id = dict(zip(stats.candidates, top.tolist(), strict=True))
        kept = [
            (by_id[pid], path, text)
            for pid, (path, text) in zip(stats.candidates, rows, strict=False)
            if not is_excluded(text, seen, editing, request.rewriting)
        ][:wanted]
        query_script = script_name(text_before_cursor[-2000:])
        scripts = [script_name(text) for _, _, text in kept]
        # A paragraph in another script is never an example of how this text should sound, whatever
        # its cosine (a threshold below 0, "Rephrase in my style", would otherwise let it through).
        relevant = [
            (i, path, text)
            for (i, path, text), script in zip(kept, scripts, strict=True)
            if scores[i] >= threshold and script == query_script
        ]
        if not relevant:
            if scripts and scripts.count(query_script) * 2 < len(scripts):
                return StyleContext(reason="the style memory is in another language")
            return StyleContext(reason="nothing in the style memory is like this text")
        order = mmr_order(scores[[i for i, _, _ in relevant]], vectors[[i for i, _, _ in relevant]])
        return [Exemplar(relevant[j][2], relevant[j][1], float(scores[relevant[j][0]])) for j in order]

    def projector_for(self, loaded_model) -> PersonaProjector | None:
        """The trained projector for this base model from the manifest, or None if there is none."""
        from engine import manifest

        info = loaded_model.info
        candidates = [
            a
            for a in manifest.load_manifest(self.assets_root).values()
            if a.kind == "persona_projector"
            and a.base_sha256 == info.source_sha256
            and a.extra.get("encoder", self.encoder.name) == self.encoder.name
        ]
        if not candidates:
            return None
        chosen = sorted(candidates, key=lambda a: a.created)[-1]
        with self._lock:
            if chosen.name not in self._projectors:
                chosen = manifest.artifact(
                    chosen.name, self.assets_root
                )  # re-hashes the files: ArtifactError if altered
                projector = PersonaProjector.load(chosen.folder)
                hidden = int(loaded_model.model.config.get_text_config().hidden_size)
                if projector.config.hidden_size != hidden:
                    raise ArtifactError(
                        f"The persona projector {chosen.name!r} makes {projector.config.hidden_size}-wide "
                        f"tokens but the model's embeddings are {hidden} wide."
                    )
                self._projectors[chosen.name] = projector
            return self._projectors[chosen.name]

    def persona_vector(
        self, context_text: str, aggregation: str = "attention", top_k: int = 32, temperature: float = 0.1
    ) -> tuple[torch.Tensor, list[int]] | None:
        """(persona vector [dim], ids of the most-weighted paragraphs), or None if memory is empty/paused."""
        if self.paused:
            return None
        ids, vectors = self._memory_vectors()
        if len(ids) == 0:
            return None
        words = context_text.split()[-QUERY_WORDS:]
        if aggregation == "mean" or not words:
            return mean_persona(vectors.astype(np.float32)), []
        query = torch.from_numpy(self.encoder.encode([" ".join(words)])[0])
        history = torch.from_numpy(vectors).float()
        persona = attention_persona(query, history, top_k=top_k, temperature=temperature)
        top = torch.topk(history @ query, min(3, len(ids))).indices.tolist()
        return persona, [int(ids[i]) for i in top]

    def persona_for(self, context_text: str, loaded_model) -> PersonaContext | None:
        """Soft tokens conditioning ``loaded_model`` on the user's style for this context.

        None when the memory is paused or empty, or no projector was trained for this base model
        (generation then runs unconditioned). ArtifactError if the projector's files were altered.
        """
        if self.paused:
            return None
        projector = self.projector_for(loaded_model)
        if projector is None:
            log.info("style memory: no persona projector for %s", loaded_model.info.name)
            return None
        cfg = projector.config
        found = self.persona_vector(context_text, cfg.aggregation, cfg.top_k, cfg.temperature)
        if found is None:
            return None
        persona, top_ids = found
        with torch.no_grad():
            soft = projector(persona)
        sources = list(dict.fromkeys(path for path, _ in self.store.paragraph_sources(top_ids)))
        return PersonaContext(soft_tokens=soft, n_paragraphs=self.store.paragraph_count(), sources=sources)
