"""Persona soft tokens for training examples, from the shipped persona projector.

For each example, the author's other paragraphs play the user's documents:
their MiniLM vectors are aggregated input-aware against the example's prompt
(``engine.persona.aggregate.attention_persona``) and the projector turns the
persona vector into k soft tokens [k, hidden], which the recipe puts after BOS.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from engine.errors import ArtifactError


def persona_soft_tokens(
    loaded, examples: Sequence, corpora: Sequence[str], projector_name: str = "persona_projector"
) -> tuple[list[torch.Tensor] | None, str]:
    """([k, hidden] per example, note) or (None, why not)."""
    try:
        from engine.manifest import artifact
        from engine.persona.aggregate import attention_persona
        from engine.persona.encoder import MiniLMEncoder
        from engine.persona.projector import PersonaProjector
    except ImportError as exc:
        return None, f"no soft tokens (persona modules unavailable: {exc})"
    try:
        from engine.manifest import load_manifest

        # The configured name first, else any persona projector made for this base.
        names = [projector_name] + sorted(
            n for n, a in load_manifest().items() if a.kind == "persona_projector" and n != projector_name
        )
        art, why = None, f"no {projector_name} artifact"
        for name in names:
            try:
                candidate = artifact(name)
                candidate.require_base(loaded.info)
                art = candidate
                break
            except ArtifactError as exc:
                why = str(exc)
        if art is None:
            return None, f"no soft tokens ({why})"
    except ArtifactError as exc:
        return None, f"no soft tokens ({exc})"
    from training.data.tasks import AUTHORS, author_reference_texts

    try:
        projector = PersonaProjector.load(art.folder)
    except (
        OSError,
        RuntimeError,
        ValueError,
        KeyError,
    ) as exc:  # the shipped file predates the projector code
        return (
            None,
            f"no soft tokens (the {art.name} artifact does not load with the current projector code: {exc})",
        )
    encoder = MiniLMEncoder()
    refs = author_reference_texts(corpora)
    history = {author: torch.as_tensor(encoder.encode(paras)) for author, paras in refs.items()}
    queries = torch.as_tensor(encoder.encode([e.prompt[-1000:] for e in examples]))
    out = []
    with torch.no_grad():
        for q, e in zip(queries, examples, strict=True):
            persona = attention_persona(
                q,
                history[e.author or AUTHORS[corpora[0]]],
                projector.config.top_k,
                projector.config.temperature,
            )
            out.append(projector(persona))
    weights = next(f for f in art.files if f.path.endswith(".safetensors"))
    return out, (
        f"soft tokens from the {art.name} artifact (projector sha256 {weights.sha256[:12]}, created {art.created}; "
        f"k={projector.config.num_tokens}; "
        "persona = input-aware mix of 40 other paragraphs by the same author)"
    )
