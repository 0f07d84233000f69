"""Named entities for R_ne_overlap, from the quality suite's shared spaCy pipeline."""

from __future__ import annotations

from functools import lru_cache

from engine.quality.metrics_nlp import spacy_pipeline


@lru_cache(maxsize=4096)  # the same source sentence is scored for every sample of its group
def named_entities(text: str) -> frozenset[str]:
    """Lower-cased surface forms of the entities spaCy finds in ``text``."""
    return frozenset(ent.text.lower() for ent in spacy_pipeline()(text).ents)
