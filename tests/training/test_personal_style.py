"""Learn my style on a tiny model: style memory -> next-token LoRA recipe -> user manifest -> engine composition."""

import json
import random

import numpy as np
import pytest

from engine.adapters import PERSONAL_STYLE, AdapterRegistry, delete_user_adapter
from engine.manifest import load_manifest
from engine.models import load_model
from engine.persona.store import PersonaStore
from tests.export.tiny_models import save_tiny_llama, save_word_tokenizer
from training.recipes import personal_style
from training.recipes.personal_style import held_out

CONFIG = "training/configs/gemma3-270m/personal_style.yaml"


def writer_paragraph(rng: random.Random, first: int, n_words: int = 20) -> str:
    """A writer with a habit the random model does not have: word w(k) is followed by w(k+1), in a
    band of 30 words starting at ``first`` (wrapping), from a random start."""
    k = rng.randrange(30)
    return " ".join(f"w{first + (k + i) % 30}" for i in range(n_words))


def paragraphs(first: int, n: int, seed: int, heldout: bool | None = None) -> list[str]:
    """``n`` paragraphs of the writer; ``heldout``: only ones the recipe's hash puts in (or out of) the
    held-out slice."""
    rng, out = random.Random(seed), []
    while len(out) < n:
        p = writer_paragraph(rng, first)
        if heldout is None or held_out(p, 0.15) == heldout:
            out.append(p)
    return out


def fill(db, docs: dict[str, list[str]]) -> None:
    store = PersonaStore(db)
    for path, paras in docs.items():
        sha = str(abs(hash(tuple(paras))))
        store.replace_document(path, 0, 0, sha, "txt", paras, np.zeros((len(paras), 384), np.float32))
    store.close()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny")
    save_tiny_llama(folder)
    save_word_tokenizer(folder)
    return folder


def _run(tiny, tmp_path, capsys, *extra) -> tuple[int, list[dict]]:
    """The recipe's command line, as the app runs it (in-process); (exit code, its JSON lines)."""
    code = personal_style.main([
        "--config", CONFIG, f"base={tiny}", f"data.memory={tmp_path / 'persona.sqlite3'}",
        f"output.manifest_root={tmp_path / 'user'}", "data.vocab=full", "data.min_words=4", "data.seq_tokens=24",
        "lora.r=4", "lora.alpha=8", "lora.top_layers=1", "train.lr=0.01", "train.max_steps=30",
        "train.eval_every=5", "train.batch_size=8", *extra,
    ])
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    return code, lines


def test_training_on_the_writers_text_lowers_their_heldout_nll_and_the_engine_composes_it(tiny, tmp_path, capsys):
    fill(tmp_path / "persona.sqlite3", {"/docs/a.txt": paragraphs(100, 40, 0)})
    code, lines = _run(tiny, tmp_path, capsys)
    assert code == 0, lines[-1]
    done = lines[-1]
    assert done["done"] == PERSONAL_STYLE
    assert done["heldout_nll_after"] < done["heldout_nll_before"] - 0.5  # the habit is learned
    assert any(r.get("stage") == "train" and r.get("step") == 1 for r in lines)  # progress lines

    user = tmp_path / "user"
    entry = load_manifest(user)[PERSONAL_STYLE]
    assert entry.extra["documents"] == {"/docs/a.txt": entry.extra["documents"]["/docs/a.txt"]}
    registry = AdapterRegistry(load_model(tiny), user_root=user)
    for mode in ("autocomplete", "continue", "rephrase"):
        assert PERSONAL_STYLE in registry.activate(mode).active
    # The engine's own composition predicts the writer's held-out text better than the base.
    loaded = registry.loaded
    wrapper = personal_style.PrunedLM(loaded.model, None)
    rows = [w for p in paragraphs(100, 8, 1, heldout=True) for w in personal_style.windows(loaded.tokenizer, p, 24)]
    registry.activate("continue")
    with_style = wrapper.mean_nll(rows, 0)
    registry.compose([])
    assert with_style < wrapper.mean_nll(rows, 0) - 0.5

    # Incremental: nothing new -> nothing trained, the adapter stays; a new document -> trained from it.
    code, lines = _run(tiny, tmp_path, capsys)
    assert code == 0 and lines[-1]["up_to_date"] is True
    assert load_manifest(user)[PERSONAL_STYLE].files == entry.files
    fill(tmp_path / "persona.sqlite3", {"/docs/b.txt": paragraphs(100, 16, 2)})
    code, lines = _run(tiny, tmp_path, capsys)
    assert code == 0, lines[-1]
    assert lines[-1]["new_paragraphs"] == len([p for p in paragraphs(100, 16, 2) if not held_out(p, 0.15)])
    assert lines[-1]["heldout_nll_before"] == pytest.approx(done["heldout_nll_after"], abs=0.3)
    assert set(load_manifest(user)[PERSONAL_STYLE].extra["documents"]) == {"/docs/a.txt", "/docs/b.txt"}
    assert len(list((user / "adapters").iterdir())) == 1  # the old folder is gone

    delete_user_adapter(PERSONAL_STYLE, user)
    assert PERSONAL_STYLE not in load_manifest(user) and not list((user / "adapters").iterdir())


def greedy_paragraphs(model_folder, n: int) -> list[str]:
    """``n`` held-out paragraphs that the base itself writes (greedy): text it already predicts well."""
    loaded, out = load_model(model_folder), []
    for k in range(4, 500):
        ids = loaded.tokenizer(f"w{k}", return_tensors="pt")["input_ids"]
        row = loaded.model.generate(ids, do_sample=False, max_new_tokens=19, min_new_tokens=19)[0]
        text = loaded.tokenizer.decode(row, skip_special_tokens=True)
        if held_out(text, 0.15):
            out.append(text)
        if len(out) == n:
            return out
    raise AssertionError("too few held-out candidates")


def test_an_update_that_raises_the_heldout_nll_is_refused(tiny, tmp_path, capsys):
    # The held-out slice is text the base already predicts; training is on another band of words, so
    # every step moves the model away from it.
    fill(tmp_path / "persona.sqlite3", {
        "/docs/mine.txt": greedy_paragraphs(tiny, 8),
        "/docs/other.txt": paragraphs(300, 40, 1, heldout=False),
    })
    code, lines = _run(tiny, tmp_path, capsys, "train.eval_every=2", "train.patience=3")
    assert code == 2
    assert lines[-1]["error"].startswith("This update would not predict your own writing better")
    assert max(r.get("heldout_nll", 0) for r in lines) > lines[-1]["heldout_nll_before"]  # it did rise
    assert lines[-1]["heldout_nll_after"] == lines[-1]["heldout_nll_before"]  # the best state: none
    assert not (tmp_path / "user" / "manifest.json").exists()
    assert not list((tmp_path / "user" / "adapters").glob("*"))


def test_too_little_writing_trains_nothing(tiny, tmp_path, capsys):
    fill(tmp_path / "persona.sqlite3", {"/docs/a.txt": paragraphs(100, 10, 0)})
    code, lines = _run(tiny, tmp_path, capsys)
    assert code == 2
    assert lines[-1]["error"].startswith("Not enough of your writing yet: 10 paragraphs (needs 24)")
    assert not (tmp_path / "user").exists() or not list((tmp_path / "user").rglob("*.safetensors"))


def test_a_damaged_or_foreign_style_adapter_is_refused_and_the_modes_run_without_it(tiny, tmp_path, capsys):
    fill(tmp_path / "persona.sqlite3", {"/docs/a.txt": paragraphs(100, 40, 0)})
    code, _ = _run(tiny, tmp_path, capsys, "train.max_steps=5")
    assert code == 0
    user = tmp_path / "user"
    entry = load_manifest(user)[PERSONAL_STYLE]
    weights = entry.file("adapter_model.safetensors")
    weights.write_bytes(weights.read_bytes()[:100])  # a cut write
    registry = AdapterRegistry(load_model(tiny), user_root=user)
    got = registry.activate("continue")
    assert PERSONAL_STYLE not in got.active
    assert "personal_style rejected" in got.status and "altered or is damaged" in got.status

    # Another base: refused with the reason.
    other = tmp_path / "other"
    save_tiny_llama(other, seed=3)
    save_word_tokenizer(other)
    registry = AdapterRegistry(load_model(other), user_root=user)
    assert "trained for the base model" in registry.activate("autocomplete").status

    # The recipe sets the damaged one aside and learns afresh.
    code, lines = _run(tiny, tmp_path, capsys, "train.max_steps=5")
    assert code == 0
    assert any("set aside" in r.get("message", "") for r in lines)
    load_manifest(user)[PERSONAL_STYLE].verify()
