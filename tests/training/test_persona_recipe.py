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


@pytest.mark.slow  # MiniLM embeds every seen persona: ~8 min on a cold cache (load 5), 3 s warm
def test_the_recipe_ships_a_checkpoint_every_save_every_steps_and_the_last_step(tmp_path, capsys):
    import json

    from engine.manifest import artifact
    from tests.export.tiny_models import save_tiny_llama, save_word_tokenizer
    from training.recipes.persona_projector import PersonaProjectorRecipe

    tiny = save_tiny_llama(tmp_path / "tiny")
    save_word_tokenizer(tiny)
    assets = tmp_path / "assets"
    config = load_recipe_config(
        PersonaProjectorConfig,
        REPO / "training" / "configs" / "gemma3-270m" / "persona_projector.yaml",
        [
            f"base={tiny}", "train.max_steps=3", "train.save_every=2", "train.batch_size=2",
            "train.log_every=1", "train.warmup_steps=1", "projector.inner=16", "projector.num_tokens=2",
            "data.max_completion_tokens=8", f"output.dir={assets / 'projector'}",
            f"output.manifest_root={assets}", f"output.run_dir={tmp_path / 'run'}",
        ],
    )  # fmt: skip
    metrics = PersonaProjectorRecipe(config).run()
    saved = [
        line.split(" to ")[0] for line in capsys.readouterr().out.splitlines() if line.startswith("saved")
    ]
    assert saved == ["saved step 2", "saved step 3"]  # the checkpoint, then the last step: once each
    shipped = artifact(config.output.name, root=assets)  # files verified by sha256
    assert shipped.metrics == {"steps": 3, "train_loss_ema": round(metrics["final_loss_ema"], 4)}
    assert PersonaProjector.load(shipped.folder).config.num_tokens == 2
    log = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [1, 2, 3] and log == metrics["log"]
