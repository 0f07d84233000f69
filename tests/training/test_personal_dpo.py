"""The personal adapter on a tiny model: recorded choices -> DPO recipe -> user manifest -> engine composition."""

import copy
import json

import pytest
import torch

from engine.adapters import PERSONAL, AdapterRegistry, delete_user_adapter
from engine.manifest import load_manifest, register_artifact
from engine.models import load_model
from engine.preferences import PreferenceLog
from tests.export.tiny_models import save_tiny_llama, save_word_tokenizer
from training.config import load_recipe_config
from training.recipes import personal_dpo

CONFIG = "training/configs/gemma3-270m/personal_dpo.yaml"
# What the simulated writer wants after each context, and the suggestion they kept dismissing.
CHOICES = [(f"w{i} w{i + 1} w{i + 2}", " w40 w41", " w90 w91") for i in range(1, 13)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny base with a random task_autocomplete registered in a private 'shipped' assets folder."""
    from peft import LoraConfig, get_peft_model

    folder = tmp_path_factory.mktemp("tiny")
    save_tiny_llama(folder)
    save_word_tokenizer(folder)
    shipped = tmp_path_factory.mktemp("shipped")
    loaded = load_model(folder)
    torch.manual_seed(1)
    task = get_peft_model(copy.deepcopy(loaded.model), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    with torch.no_grad():
        for name, p in task.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.05)
    task.save_pretrained(str(shipped / "adapters" / "task_autocomplete"))
    register_artifact("task_autocomplete", "lora_adapter", [shipped / "adapters" / "task_autocomplete"],
                      loaded.info.name, loaded.info.source_sha256, root=shipped)
    return folder, shipped


def _record(log_path, choices=CHOICES):
    log = PreferenceLog(log_path, recording=True)
    for context, typed, suggestion in choices:
        log.record_ghost(context, suggestion, accepted=False, typed=typed)
    return log


def _cfg(tiny, tmp_path, *extra):
    folder, shipped = tiny
    return load_recipe_config(personal_dpo.PersonalConfig, CONFIG, [
        f"base={folder}", f"data.log={tmp_path / 'prefs.jsonl'}", f"lora.shipped_root={shipped}",
        f"output.manifest_root={tmp_path / 'user'}", f"output.run_dir={tmp_path / 'run'}",
        "data.min_pairs=8", "train.max_steps=12", "train.epochs=4", "train.lr=0.02", "train.beta=0.5",
        "lora.r=4", "lora.alpha=8", *extra,
    ])


def _margin(registry, loaded, names):
    """Mean log p(chosen) - log p(rejected) of the recorded pairs under a composition of the registry."""
    registry.compose(names)
    tok, total = loaded.tokenizer, 0.0
    with torch.no_grad():
        for context, chosen, rejected in CHOICES:
            scores = []
            for answer in (chosen, rejected):
                p_ids = tok(context, add_special_tokens=False)["input_ids"]
                ids = torch.tensor([p_ids + tok(answer, add_special_tokens=False)["input_ids"]])
                logps = torch.log_softmax(loaded.model(input_ids=ids).logits[0, :-1].float(), -1)
                picked = logps.gather(-1, ids[0, 1:, None])[:, 0]
                scores.append(picked[len(p_ids) - 1 :].sum().item())
            total += scores[0] - scores[1]
    return total / len(CHOICES)


def test_a_personal_adapter_trained_on_recorded_choices_raises_the_chosen_side(tiny, tmp_path, capsys):
    _record(tmp_path / "prefs.jsonl")
    metrics = personal_dpo.run(_cfg(tiny, tmp_path))
    assert metrics["pair_logp_margin_before"] == pytest.approx(0.0, abs=1e-4)  # starts at the composition below
    assert metrics["pair_logp_margin"] > 0.5 and metrics["pair_accuracy"] == 1.0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    steps = [x for x in lines if x.get("stage") == "train" and x["step"] > 0]
    assert len(steps) == metrics["steps"] == 12 and steps[-1]["of"] == 12
    assert lines[-1]["done"] == PERSONAL

    folder, shipped = tiny
    entry = load_manifest(tmp_path / "user")[PERSONAL]
    loaded = load_model(folder)
    assert entry.base_sha256 == loaded.info.source_sha256 and "task_autocomplete" in entry.extra["stack_on"]
    registry = AdapterRegistry(loaded, root=shipped, user_root=tmp_path / "user")
    got = registry.activate("autocomplete")
    assert got.active == ("task_autocomplete", PERSONAL), got.status
    with_personal = _margin(registry, loaded, ["task_autocomplete", PERSONAL])
    without = _margin(registry, loaded, ["task_autocomplete"])
    assert with_personal > without + 0.5  # through the engine's own composition, not the trainer's
    registry.set_enabled(PERSONAL, False)
    assert registry.activate("autocomplete").active == ("task_autocomplete",)
    assert "personal switched off" in registry.status("autocomplete")
    assert PERSONAL not in registry.activate("continue").active  # only the composition it was trained on

    registry.delete_personal()
    assert PERSONAL not in registry.installed and not (tmp_path / "user" / "adapters" / PERSONAL).exists()
    assert PERSONAL not in load_manifest(tmp_path / "user")
    assert registry.activate("autocomplete").active == ("task_autocomplete",)


def test_a_personal_adapter_for_another_base_or_stack_is_refused(tiny, tmp_path):
    _record(tmp_path / "prefs.jsonl")
    personal_dpo.run(_cfg(tiny, tmp_path, "train.max_steps=1", "lora.top_layers=1"))  # the last layer only
    folder, shipped = tiny
    user = tmp_path / "user"
    entry = load_manifest(user)[PERSONAL]
    assert json.loads((entry.folder / "adapter_config.json").read_text())["layers_to_transform"] == [1]
    register_artifact(PERSONAL, "lora_adapter", [entry.folder], "gemma3-270m", "ab" * 32,
                      extra=entry.extra, root=user)
    registry = AdapterRegistry(load_model(folder), root=shipped, user_root=user)
    assert PERSONAL not in registry.installed
    assert "trained for the base model gemma3-270m" in registry.errors[PERSONAL]
    assert "personal rejected: The artifact 'personal' was trained for the base model" in registry.status(
        "autocomplete")
    # Right base, but trained on top of another task_autocomplete: refused too.
    register_artifact(PERSONAL, "lora_adapter", [entry.folder], entry.base_model, entry.base_sha256,
                      extra={"stack_on": {"task_autocomplete": "0" * 64}}, root=user)
    assert not registry.load_personal()
    assert "another version of 'task_autocomplete'" in registry.errors[PERSONAL]
    assert delete_user_adapter(PERSONAL, user) and not entry.folder.exists()


def test_too_few_choices_exit_with_a_clear_message(tiny, tmp_path, capsys):
    folder, shipped = tiny
    _record(tmp_path / "prefs.jsonl", CHOICES[:3])
    argv = ["--config", CONFIG, f"base={folder}", f"data.log={tmp_path / 'prefs.jsonl'}",
            f"lora.shipped_root={shipped}", f"output.manifest_root={tmp_path / 'user'}"]
    assert personal_dpo.main(argv) == 2
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert last["error"].startswith("Not enough choices yet to learn from (3 of 16 needed)")
    assert not (tmp_path / "user" / "manifest.json").exists()


# -- the held-out check: an update that makes suggestions worse is never switched on ----------------

CHECK = ["data.check_share=0.25", "data.check_min=4"]


def test_the_update_ships_when_the_writers_latest_next_words_come_out_right_more_often(tiny, tmp_path):
    # The writer meets the first contexts again and types the same: a tiny random model learns words
    # per context, not a style that carries to new ones. The SFT term makes " w40" the greedy answer
    # (DPO alone only makes it likelier than " w90").
    _record(tmp_path / "prefs.jsonl", CHOICES + CHOICES[:4])
    metrics = personal_dpo.run(_cfg(tiny, tmp_path, *CHECK, "train.sft_weight=1"))
    assert metrics["checked_suggestions"] == 4 and metrics["pairs"] == 12  # the latest 4 are not trained on
    assert metrics["next_word_before"] == 0.0  # the writer replaced every one of those suggestions
    assert metrics["next_word_after"] == 1.0
    assert PERSONAL in load_manifest(tmp_path / "user")


def test_an_update_that_gets_the_latest_next_words_wrong_more_often_is_not_shipped(tiny, tmp_path, capsys):
    """The latest suggestions were taken (right as they were); the update learnt to say " w40" instead."""
    from engine.prompts import autocomplete_prompt
    from training.eval.adapters import ghost_texts

    folder, shipped = tiny
    loaded = load_model(folder)
    AdapterRegistry(loaded, root=shipped, user_root=tmp_path / "none").compose(["task_autocomplete"])
    contexts = [context for context, _, _ in CHOICES[:4]]
    ghosts = ghost_texts(loaded, [autocomplete_prompt(c) for c in contexts])
    assert all(g.strip() and not g.lstrip().startswith("w40") for g in ghosts)
    log = _record(tmp_path / "prefs.jsonl")
    for context, ghost in zip(contexts, ghosts, strict=True):
        log.record_ghost(context, ghost, accepted=True)
    user = tmp_path / "user"
    argv = ["--config", CONFIG, f"base={folder}", f"data.log={tmp_path / 'prefs.jsonl'}",
            f"lora.shipped_root={shipped}", f"output.manifest_root={user}", f"output.run_dir={tmp_path / 'run'}",
            "data.min_pairs=8", "train.max_steps=12", "train.epochs=4", "train.lr=0.02", "train.beta=0.5",
            "train.sft_weight=1", "lora.r=4", "lora.alpha=8", *CHECK]
    assert personal_dpo.main(argv) == 2
    last = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert last["error"].startswith("This update would make your suggestions worse: on your 4 most recent")
    assert last["next_word_before"] == 1.0 and last["next_word_after"] < 1.0
    assert not (user / "manifest.json").exists() and not (user / "adapters" / PERSONAL).exists()
