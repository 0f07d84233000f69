"""The SFT-vs-SFR eval (training/eval/sfr.py) end to end on a tiny model with two random adapters."""

import json

import numpy as np
import pytest

from tests.export.tiny_models import save_random_lora, save_tiny_llama, save_word_tokenizer
from training.data.corpora import HELD_OUT
from training.eval import sfr


def test_the_miniLM_classifier_names_the_writer_of_its_own_paragraphs():
    from engine.persona.encoder import default_encoder

    refs = {
        "sea": [
            "The whale rose from the grey sea beside the ship.",
            "Sailors hauled the harpoon line aboard.",
        ],
        "law": [
            "The court held that the contract was void.",
            "The statute requires written notice to the tenant.",
        ],
    }
    classifier = sfr.MiniLMCentroids(refs)
    probes = ["The harpoon struck the whale near the ship.", "The tenant sued under the statute."]
    assert classifier.predict(default_encoder().encode(probes)) == ["sea", "law"]


def test_the_table_compares_every_row_with_the_reference():
    results = {
        "sft": {"nll": 3.0, "collapse_acc": 0.4, "distinct_2": 0.8, "distinct_3": 0.9, "pairwise_dist": 0.5},
        "sfr": {"nll": 2.9, "collapse_acc": 0.2, "distinct_2": 0.8, "distinct_3": 0.9, "pairwise_dist": 0.6},
    }
    rows = sfr.table(results, "sft").splitlines()
    assert rows[2].startswith("| sft | 3.000 | +0.000 | 0.400 | 1.00 |")
    assert rows[3].startswith("| sfr | 2.900 | -0.100 | 0.200 | 0.50 |") and rows[3].endswith(
        "0.600 | 1.20 |"
    )


@pytest.mark.slow  # loads and embeds the five held-out writers (~1-2 min on one core when not cached)
def test_the_eval_scores_two_adapters_on_the_held_out_writers(tmp_path):
    model = tmp_path / "tiny"
    save_tiny_llama(model)
    save_word_tokenizer(model)
    targets = ["q_proj", "v_proj"]
    a = save_random_lora(model, tmp_path / "a", seed=1, targets=targets)
    b = save_random_lora(model, tmp_path / "b", seed=2, targets=targets)
    out = tmp_path / "out.json"
    sfr.main(
        [
            "--base",
            str(model),
            "--adapter",
            f"sft={a}",
            "--adapter",
            f"sfr={b}",
            "--base-nll",
            "--per-writer",
            "1",
            "--prompts",
            "1",
            "--samples",
            "2",
            "--json",
            str(out),
        ]
    )
    result = json.loads(out.read_text())
    assert result["writers"] == list(HELD_OUT) and result["prompts"] == 5 and result["nll_paragraphs"] == 5
    rows = result["results"]
    assert set(rows) == {"sft", "sfr", "base (no adapter)"}
    assert rows["sft"]["nll"] != rows["sfr"]["nll"] != rows["base (no adapter)"]["nll"]
    for name in ("sft", "sfr"):
        assert rows[name]["samples"] == 10 and 0.0 <= rows[name]["collapse_acc"] <= 1.0
        assert set(rows[name]["collapse_acc_per_writer"]) == set(HELD_OUT)
        assert 0.0 <= rows[name]["distinct_2"] <= 1.0 and np.isfinite(rows[name]["pairwise_dist"])
    assert "collapse_acc" not in rows["base (no adapter)"]
