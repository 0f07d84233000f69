"""The style encoder: features, loss and held-out measures on hand values; a short real run ships a head."""

import math

import numpy as np
import pytest
import torch

from engine.quality.style_encoder import FUNCTION_WORDS, N_FEATURES, PUNCTUATION, StyleEncoder, stylometric
from training.recipes.style_encoder import retrieval_accuracy, supcon_loss, triplet_accuracy


def test_stylometric_features_count_function_words_and_punctuation():
    f = stylometric("The cat, and the dog.")  # 5 words, 21 chars
    assert f.shape == (N_FEATURES,)
    assert f[FUNCTION_WORDS.index("the")] == pytest.approx(2 / 5)
    assert f[FUNCTION_WORDS.index("and")] == pytest.approx(1 / 5)
    base = len(FUNCTION_WORDS)
    assert f[base + PUNCTUATION.index(",")] == pytest.approx(10 / 21)
    assert f[base + len(PUNCTUATION)] == pytest.approx((3 + 3 + 3 + 3 + 3) / 5 / 10)


def test_supcon_loss_on_a_hand_made_batch():
    v = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 0, 1])
    # anchor 0: logits to 1 and 2 are 1/t and 0 (t=1): -log(e / (e + 1)); anchor 1 the same; anchor 2 has no positive
    expected = -math.log(math.e / (math.e + 1))
    assert supcon_loss(v, labels, 1.0).item() == pytest.approx(expected, rel=1e-5)


def test_retrieval_and_triplets():
    v = np.array([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    v = v / np.linalg.norm(v, axis=1, keepdims=True)
    labels = np.array([0, 0, 1, 1])
    assert retrieval_accuracy(v, labels) == 1.0
    # each anchor's content-matched negative is the other writer's nearest: style still wins
    assert triplet_accuracy(v, labels, np.array([2, 3, 0, 1])) == 1.0


def test_a_short_run_trains_a_head_that_loads_and_encodes(tmp_path):
    from training.config import REPO, load_recipe_config
    from training.recipes.style_encoder import StyleEncoderConfig, StyleEncoderRecipe

    cfg = load_recipe_config(StyleEncoderConfig, REPO / "training/configs/style_encoder.yaml", [
        "data.writers=[austen, reuters, perl_docs]", "data.sentences_per_writer=40",
        "data.eval_sentences_per_writer=20", "train.max_steps=30", "train.batch_size=16",
        f"output.dir={tmp_path / 'assets' / 'style_encoder'}", f"output.manifest_root={tmp_path / 'assets'}",
        f"output.run_dir={tmp_path / 'run'}", "output.register=false",
    ])
    metrics = StyleEncoderRecipe(cfg).run()
    assert metrics["loss_last"] < metrics["loss_first"]
    assert set(metrics["heldout_writers"]).isdisjoint(cfg.data.writers)
    encoder = StyleEncoder.from_folder(tmp_path / "run" / "head")
    vectors = encoder.encode(["It was a dark and stormy night.", "The function returns a list."])
    assert vectors.shape == (2, 128) and np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
