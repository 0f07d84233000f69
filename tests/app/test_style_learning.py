"""Tools > "Learn my style" end to end with real widgets: a real style memory indexed from a folder, the
recipe as a real background process, the running engine reloading the adapter, "Delete all" removing it.

The engine runs a tiny model (tests/export/tiny_models.py) so that the recipe trains in seconds."""

from __future__ import annotations

import json
import random

import pytest
from qt_helpers import GHOST_TIMEOUT_MS

from app.style_learning import MIN_PARAGRAPHS, RECIPE_CONFIG
from engine.adapters import PERSONAL_STYLE, user_artifacts_root
from engine.manifest import load_manifest
from training.config import load_recipe_config
from training.recipes.personal_style import StyleConfig

LEARN_MS = 600_000  # a fresh Python importing torch, transformers and peft: minutes on a loaded machine


@pytest.fixture(scope="module")
def tiny_engine(tmp_path_factory):
    from engine.api import Engine
    from tests.export.tiny_models import save_tiny_llama, save_word_tokenizer

    folder = tmp_path_factory.mktemp("tiny")
    save_tiny_llama(folder)
    save_word_tokenizer(folder)
    return Engine(str(folder)), folder


def write_documents(folder, n: int) -> None:
    """``n`` paragraphs of a writer with a habit (w(k) then w(k+1)), in one .txt document."""
    rng = random.Random(0)
    paragraphs = []
    for _ in range(n):
        k = rng.randrange(30)
        paragraphs.append(" ".join(f"w{100 + (k + i) % 30}" for i in range(20)))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "letters.txt").write_text("\n\n".join(paragraphs) + "\n")


def style_window(qtbot, make_window, tiny_engine, docs):
    engine, model_folder = tiny_engine
    window = make_window(engine, style_memory=True)
    window.settings.model = str(model_folder)
    ui = window.style_learning
    ui.overrides = ["data.vocab=full", "data.min_words=4", "data.seq_tokens=24", "lora.r=4", "lora.alpha=8",
                    "lora.top_layers=1", "train.lr=0.01", "train.max_steps=10", "train.eval_every=5"]
    if docs is not None:
        with qtbot.waitSignal(window.style_service.indexed, timeout=GHOST_TIMEOUT_MS * 4):
            window.style_service.add_folder(docs)  # the app's own path: consent, then indexing (MiniLM)
    return window, ui


def test_the_apps_minimum_is_the_recipes():
    assert load_recipe_config(StyleConfig, RECIPE_CONFIG).data.min_paragraphs == MIN_PARAGRAPHS


def test_learn_my_style_with_too_little_writing_says_so_and_starts_nothing(
    qtbot, make_window, tiny_engine, tmp_path, prompter
):
    write_documents(tmp_path / "docs", 5)
    window, ui = style_window(qtbot, make_window, tiny_engine, tmp_path / "docs")
    ui.learn_action.trigger()
    assert prompter.texts("info")[-1].startswith(f"Not enough of your writing yet: 5 paragraphs (needs {MIN_PARAGRAPHS})")
    assert not ui.learner.running and not ui.bar.isVisible()


def test_learning_when_idle_starts_only_when_asked_and_with_documents_not_learned_yet(
    qtbot, make_window, tiny_engine, tmp_path
):
    write_documents(tmp_path / "docs", 40)
    window, ui = style_window(qtbot, make_window, tiny_engine, tmp_path / "docs")
    window.completion.set_enabled(False)
    window.choices.idle.setInterval(200)  # the quiet period, shortened for the test (10 minutes in the app)
    assert not window.settings.learn_when_idle
    window.editor.insertPlainText("x")
    qtbot.wait(600)
    assert not ui.learner.running  # not asked for
    assert len(ui.new_documents(window.style_service.memory())) == 1  # letters.txt, never learned

    window.choices.idle_action.setChecked(True)
    window.editor.insertPlainText("y")  # typing restarts the quiet period; its end starts the training
    qtbot.waitUntil(lambda: ui.learner.running, timeout=5000)
    assert ui.bar.isVisible()
    with qtbot.waitSignal(ui.learner.finished, timeout=10_000):
        ui.learner.cancel()
    assert not list(user_artifacts_root().rglob("*.safetensors"))


@pytest.mark.slow
def test_learn_my_style_trains_in_the_background_the_engine_composes_it_and_delete_all_removes_it(
    qtbot, make_window, tiny_engine, tmp_path, prompter
):
    write_documents(tmp_path / "docs", 40)
    window, ui = style_window(qtbot, make_window, tiny_engine, tmp_path / "docs")
    steps = []
    ui.learner.progress.connect(lambda step, of: steps.append((step, of)))
    ui.learn_action.trigger()
    assert ui.learner.running and ui.bar.isVisible() and not ui.learn_action.isEnabled()
    with qtbot.waitSignal(ui.requests.done, timeout=LEARN_MS) as reloaded:  # trained, then reloaded
        qtbot.waitUntil(lambda: not ui.learner.running, timeout=LEARN_MS)
    assert ui.last_message.startswith("Learned your style from"), ui.last_message
    assert steps and steps[-1][0] == steps[-1][1]
    assert not ui.bar.isVisible() and ui.learn_action.isEnabled()
    assert "personal_style" in reloaded.args[0]
    entry = load_manifest(user_artifacts_root())[PERSONAL_STYLE]
    assert entry.metrics["heldout_nll_after"] < entry.metrics["heldout_nll_before"]
    assert ui.new_documents(window.style_service.memory()) == []  # learned: "Learn when idle" waits for more
    engine = tiny_engine[0]
    for mode in ("autocomplete", "continue", "rephrase"):
        assert PERSONAL_STYLE in engine.adapters.activate(mode).active
    # The writer types; the suggestion comes from the composition with the style adapter.
    window.editor.setPlainText("w100 w101 w102")
    with qtbot.waitSignal(window.client.finished, timeout=GHOST_TIMEOUT_MS):
        window.client.request("continue", "w100 w101 w102")

    prompter.answers.append(True)  # "Delete the style memory?" -> yes
    with qtbot.waitSignal(ui.requests.done, timeout=GHOST_TIMEOUT_MS) as deleted:
        window.style_panel.delete_all()
    assert "personal_style" not in deleted.args[0]
    assert PERSONAL_STYLE not in load_manifest(user_artifacts_root())
    assert not list((user_artifacts_root() / "adapters").glob(f"{PERSONAL_STYLE}*"))


@pytest.mark.slow
def test_quitting_while_it_learns_leaves_no_adapter(qtbot, make_window, tiny_engine, tmp_path):
    write_documents(tmp_path / "docs", 40)
    window, ui = style_window(qtbot, make_window, tiny_engine, tmp_path / "docs")
    ui.overrides += ["train.max_steps=100000", "train.epochs=1000", "train.patience=100000"]
    steps = []
    ui.learner.progress.connect(lambda step, of: steps.append(step))
    ui.learn_action.trigger()
    qtbot.waitUntil(lambda: any(s > 0 for s in steps), timeout=LEARN_MS)  # training, mid-way
    window.shutdown()  # quitting the app stops the background training
    assert not ui.learner.running
    root = user_artifacts_root()
    assert not (root / "manifest.json").exists() or PERSONAL_STYLE not in load_manifest(root)
    assert not list(root.rglob("*.safetensors"))
    assert json.dumps(ui.learner.result) == "{}"  # it never reported a result
