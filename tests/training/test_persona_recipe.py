"""The persona projector recipe's pieces: scoring, gradients, config overrides, personas."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.persona.projector import PersonaProjector, ProjectorConfig
from training.config import load_recipe_config
from training.recipes.persona_projector import (
    PersonaProjectorConfig,
    continuation_nll,
    make_example,
    neutral_embeddings,
)

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gemma():
    from engine.models import load_model

    torch.set_num_threads(1)
    return load_model("gemma3-270m")


def test_continuation_nll_equals_the_models_own_loss_on_the_continuation(gemma):
    model, tok = gemma.model, gemma.tokenizer
    examples = [
        make_example(
            tok, "It is a truth universally", " acknowledged, that a single man must want a wife.", 40
        ),
        make_example(tok, "Call me Ishmael. Some years ago", " I went to sea.", 40),
    ]
    with torch.no_grad():
        sums, counts = continuation_nll(model, examples, None)
        for i, ex in enumerate(examples):
            ids = torch.tensor([ex.lead_ids + ex.prefix_ids + ex.cont_ids])
            labels = ids.clone()
            labels[0, : len(ex.lead_ids) + len(ex.prefix_ids)] = -100  # score the continuation only
            reference = model(input_ids=ids, labels=labels).loss
            assert counts[i] == len(ex.cont_ids)
            assert torch.allclose(sums[i] / counts[i], reference, atol=1e-4)
    assert examples[0].lead_ids == [tok.bos_token_id]  # Gemma's BOS leads, the soft tokens go after it


def test_gradient_reaches_the_projector_and_not_the_frozen_lm(gemma):
    model, tok = gemma.model, gemma.tokenizer
    config = ProjectorConfig(hidden_size=640, num_tokens=2, inner=16)
    projector = PersonaProjector(config)
    projector.init_from_embeddings(neutral_embeddings(model, tok, 2), torch.zeros(384))
    persona = torch.nn.functional.normalize(torch.randn(2, 384), dim=-1)
    examples = [make_example(tok, "She said that", " the ball was over.", 8)] * 2
    sums, counts = continuation_nll(model, examples, projector(persona))
    (sums.sum() / counts.sum()).backward()
    assert projector.mlp[2].weight.grad.abs().sum() > 0
    assert projector.base.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_config_overrides_from_the_command_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(
        "base: gemma3-270m\ntrain:\n  max_steps: 240\n  lr: 0.002\noutput: {name: p, dir: assets/p}\n"
    )
    config = load_recipe_config(
        PersonaProjectorConfig, path, ["train.max_steps=5", "base=smollm2-135m", "projector.num_tokens=2"]
    )
    assert (config.train.max_steps, config.train.lr) == (5, 0.002)
    assert config.base == "smollm2-135m" and config.projector.num_tokens == 2
    assert config.projector.inner == 256  # the dataclass default, not in the YAML


def test_shipped_configs_name_their_base_and_output():
    for base in ("gemma3-270m", "smollm2-135m"):
        path = REPO / "training" / "configs" / base / "persona_projector.yaml"
        config = load_recipe_config(PersonaProjectorConfig, path)
        assert config.base == base
        assert config.output.dir == f"assets/persona_projector/{base}"
        assert config.output.name == f"persona_projector_{base}"
