"""Persona vector aggregation, the projector, and conditioning the real Gemma 3 270M on soft tokens."""

from __future__ import annotations

import math

import pytest
import torch

from engine.errors import ArtifactError
from engine.persona import StyleMemory
from engine.persona.aggregate import attention_persona, mean_persona
from engine.persona.projector import PersonaProjector, ProjectorConfig


def unit(*xs):
    v = torch.tensor(xs, dtype=torch.float32)
    return v / v.norm()


def test_attention_persona_matches_hand_computed_softmax_over_top_k():
    history = torch.stack([unit(1, 0, 0), unit(0, 1, 0), unit(1, 1, 0), unit(0, 0, 1)])
    query = unit(1, 0.2, 0)
    scores = history @ query
    top = scores.topk(2)  # paragraphs 0 and 2
    assert sorted(top.indices.tolist()) == [0, 2]
    w0, w2 = (math.exp(scores[0] / 0.5), math.exp(scores[2] / 0.5))
    expected = (w0 * history[0] + w2 * history[2]) / (w0 + w2)
    got = attention_persona(query, history, top_k=2, temperature=0.5)
    assert torch.allclose(got, expected, atol=1e-6)


def test_low_temperature_picks_the_nearest_paragraph_and_exclude_skips_it():
    history = torch.stack([unit(1, 0, 0), unit(0, 1, 0), unit(0.7, 0.3, 0)])
    query = unit(1, 0, 0)
    assert torch.allclose(attention_persona(query, history, top_k=3, temperature=1e-3), history[0], atol=1e-5)
    exclude = torch.tensor([True, False, False])
    picked = attention_persona(query, history, top_k=3, temperature=1e-3, exclude=exclude)
    assert torch.allclose(picked, history[2], atol=1e-5)
    batch = attention_persona(torch.stack([query, unit(0, 1, 0)]), history, top_k=1, temperature=0.1)
    assert torch.allclose(batch, history[[0, 1]])


def test_mean_persona_is_the_plain_mean():
    history = torch.stack([unit(1, 0), unit(0, 1)])
    assert torch.allclose(mean_persona(history), torch.tensor([0.5, 0.5]))
    with pytest.raises(ValueError):
        mean_persona(torch.zeros(0, 2))


def test_untrained_projector_outputs_its_base_prefix_and_round_trips(tmp_path):
    config = ProjectorConfig(hidden_size=16, num_tokens=3, inner=8)
    projector = PersonaProjector(config)
    base = torch.randn(3, 16)
    projector.init_from_embeddings(base, torch.zeros(384))
    persona = unit(*range(1, 385))
    assert torch.allclose(projector(persona), base)  # the persona part starts at zero
    with torch.no_grad():
        projector.mlp[2].weight.normal_()
    out = projector(torch.stack([persona, -persona]))
    assert out.shape == (2, 3, 16) and not torch.allclose(out[0], out[1])
    projector.save(tmp_path / "p")
    again = PersonaProjector.load(tmp_path / "p")
    assert torch.allclose(again(persona), projector(persona))


# ---------------------------------------------------------------- with the real model


@pytest.fixture(scope="module")
def gemma():
    from engine.models import load_model

    torch.set_num_threads(1)
    return load_model("gemma3-270m")


def _register_random_projector(root, loaded, name="persona_projector_test", sha=None):
    from engine.manifest import register_artifact

    hidden = loaded.model.config.get_text_config().hidden_size
    projector = PersonaProjector(ProjectorConfig(hidden_size=hidden, num_tokens=4, inner=32))
    ids = loaded.tokenizer(" the style of", add_special_tokens=False).input_ids
    with torch.no_grad():
        embeds = loaded.model.get_input_embeddings()(torch.tensor((ids * 4)[:4]))
        projector.init_from_embeddings(embeds, torch.zeros(384))
        torch.manual_seed(0)
        projector.mlp[2].weight.normal_(std=0.05)
    folder = root / "persona_projector" / "test"
    projector.save(folder)
    register_artifact(
        name,
        "persona_projector",
        [folder],
        base_model="gemma3-270m",
        base_sha256=sha or loaded.info.source_sha256,
        extra=projector.config.to_json(),
        root=root,
    )
    return folder


def _next_token_logits(loaded, text, soft):
    model, tok = loaded.model, loaded.tokenizer
    ids = tok(text, return_tensors="pt").input_ids[0]
    embed = model.get_input_embeddings()
    with torch.no_grad():
        parts = [embed(ids[:1]), soft, embed(ids[1:])] if soft is not None else [embed(ids)]
        return model(inputs_embeds=torch.cat(parts)[None]).logits[0, -1]


def test_persona_for_gives_soft_tokens_that_change_what_gemma_predicts(gemma, tmp_path, encoder):
    from docfixtures import write_docx

    root = tmp_path / "assets"
    _register_random_projector(root, gemma)
    memory = StyleMemory(encoder=encoder, assets_root=root)
    assert memory.persona_for("It was a fine morning", gemma) is None  # nothing indexed yet
    folder = tmp_path / "docs"
    folder.mkdir()
    write_docx(folder / "a.docx", ["The sea was rough and the whale rose beside the ship at dawn."])
    (folder / "b.txt").write_text("Elizabeth smiled at her sister and said nothing of the ball.\n")
    memory.add_folder(folder)
    context = memory.persona_for("The harpooneer watched the whale", gemma)
    assert context.soft_tokens.shape == (4, 640)
    assert context.n_paragraphs == 2
    assert context.sources[0].endswith("a.docx")  # the most similar paragraph's document
    # In the post-scaling embedding space: same magnitude as real token embeddings.
    real = gemma.model.get_input_embeddings()(torch.tensor([100, 200, 300]))
    ratio = context.soft_tokens.norm(dim=-1).mean() / real.norm(dim=-1).mean()
    assert 0.2 < float(ratio) < 5
    plain = _next_token_logits(gemma, "The harpooneer watched the", None)
    conditioned = _next_token_logits(gemma, "The harpooneer watched the", context.soft_tokens)
    assert not torch.allclose(plain, conditioned, atol=1e-3)
    other = memory.persona_for("Elizabeth went to the ball", gemma)
    assert not torch.allclose(other.soft_tokens, context.soft_tokens)  # input-aware
    memory.pause()
    assert memory.persona_for("The harpooneer watched the whale", gemma) is None
    memory.close()


def test_projector_for_another_base_model_is_not_used(gemma, tmp_path, encoder):
    root = tmp_path / "assets"
    _register_random_projector(root, gemma, sha="0" * 64)
    memory = StyleMemory(encoder=encoder, assets_root=root)
    assert memory.projector_for(gemma) is None
    memory.close()


def test_altered_projector_file_is_refused(gemma, tmp_path, encoder):
    root = tmp_path / "assets"
    folder = _register_random_projector(root, gemma)
    weights = folder / "projector.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    memory = StyleMemory(encoder=encoder, assets_root=root)
    with pytest.raises(ArtifactError, match="altered"):
        memory.projector_for(gemma)
    memory.close()


def test_shipped_projector_conditions_gemma_from_a_real_memory(gemma, tmp_path, encoder):
    from engine import manifest

    if "persona_projector_gemma3-270m" not in manifest.load_manifest():
        pytest.skip("no shipped persona projector for gemma3-270m in assets/manifest.json")
    memory = StyleMemory(encoder=encoder)
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.md").write_text(
        "The whale rose beside the ship, and the harpooneers stood ready in the boats.\n"
    )
    memory.add_folder(folder)
    context = memory.persona_for("The mate called the crew to the boats", gemma)
    assert context is not None and context.soft_tokens.shape == (4, 640)
    assert torch.isfinite(context.soft_tokens).all()
    memory.close()
