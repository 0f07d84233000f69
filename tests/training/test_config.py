"""The recipe dialect: one loader (training.config), typed configs with help text, positional overrides."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from engine.manifest import load_manifest
from training.config import (
    REPO,
    ConfigError,
    LoraAdapterConfig,
    OutputConfig,
    RecipeConfig,
    TrainConfig,
    describe_config,
    load_recipe_config,
    option,
    recipe_config_from_argv,
    repo_path,
    section,
)


@dataclass(frozen=True, kw_only=True)
class ToyData:
    corpora: list[str] = option(["austen"], help="corpora")
    split: Literal["train", "test"] = option("train", help="which part")
    pairs: str | None = option(None, help="pairs file")


@dataclass(frozen=True, kw_only=True)
class ToyConfig(RecipeConfig):
    data: ToyData = section(ToyData, "data")
    train: TrainConfig = section(TrainConfig, "train")
    lora: LoraAdapterConfig = section(LoraAdapterConfig, "lora")
    output: OutputConfig = section(OutputConfig, "output")


@pytest.fixture
def toy_yaml(tmp_path: Path) -> Path:
    path = tmp_path / "toy.yaml"
    path.write_text(
        "base: gemma3-270m\n"
        "train:\n  max_steps: 20\n  lr: 5.0e-4\n"
        "output:\n  name: toy\n  dir: assets/adapters/toy\n"
    )
    return path


def recipe_config_classes() -> dict[str, type]:
    """Every recipe module in training/recipes/ and its one config class (a RecipeConfig subclass)."""
    found = {}
    for path in sorted((REPO / "training" / "recipes").glob("*.py")):
        if path.stem == "__init__":
            continue
        module = importlib.import_module(f"training.recipes.{path.stem}")
        classes = [
            c
            for c in vars(module).values()
            if inspect.isclass(c)
            and issubclass(c, RecipeConfig)
            and c is not RecipeConfig
            and c.__module__ == module.__name__
        ]
        assert len(classes) == 1, f"{path.name} must declare one RecipeConfig subclass, has {classes}"
        found[f"training/recipes/{path.name}"] = classes[0]
    return found


def test_yaml_values_fill_the_dataclass_and_the_rest_are_its_defaults(toy_yaml):
    cfg = load_recipe_config(ToyConfig, toy_yaml)
    assert (cfg.base, cfg.train.max_steps, cfg.train.lr) == ("gemma3-270m", 20, 5e-4)
    assert (cfg.train.batch_size, cfg.lora.r, cfg.data.corpora, cfg.output.dtype) == (
        4,
        64,
        ["austen"],
        "float16",
    )
    assert cfg.output.path == REPO / "assets" / "adapters" / "toy"
    assert cfg.output.run_path == REPO / ".data" / "runs" / "toy"
    assert cfg.source == str(toy_yaml)  # outside the repo: the absolute path


def test_positional_overrides_reach_nested_keys_and_parse_as_yaml(toy_yaml):
    cfg = load_recipe_config(
        ToyConfig,
        toy_yaml,
        [
            "train.lr=3e-4",
            "lora.r=8",
            "data.corpora=[austen, reuters]",
            "output.register=false",
            "base=smollm2-135m",
        ],
    )
    assert cfg.train.lr == pytest.approx(3e-4) and isinstance(cfg.train.lr, float)
    assert cfg.lora.r == 8 and cfg.data.corpora == ["austen", "reuters"]
    assert cfg.output.register is False and cfg.base == "smollm2-135m"
    assert cfg.train.max_steps == 20  # untouched keys keep the YAML's value
    # A value with '=' in it stays whole; the last override of a key wins.
    cfg = load_recipe_config(ToyConfig, toy_yaml, ["data.pairs=a=b.jsonl", "lora.r=4", "lora.r=2"])
    assert cfg.data.pairs == "a=b.jsonl" and cfg.lora.r == 2


def test_an_override_without_equals_sign_or_with_broken_yaml_is_refused(toy_yaml):
    with pytest.raises(ConfigError, match="is not key.sub=value"):
        load_recipe_config(ToyConfig, toy_yaml, ["train.max_steps"])
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_recipe_config(ToyConfig, toy_yaml, ["data.corpora=[austen"])


def test_an_unknown_key_names_itself_and_the_allowed_keys(toy_yaml):
    with pytest.raises(ConfigError) as err:
        load_recipe_config(ToyConfig, toy_yaml, ["train.steps=5"])
    message = str(err.value)
    assert "'train.steps'" in message and "max_steps" in message and "threads" in message
    with pytest.raises(ConfigError, match="unknown key 'base_model'.*allowed keys: base, data"):
        load_recipe_config(ToyConfig, toy_yaml, ["base_model=gemma3-270m"])
    toy_yaml.write_text(toy_yaml.read_text() + "num_threads: 1\n")
    with pytest.raises(ConfigError, match="unknown key 'num_threads'"):
        load_recipe_config(ToyConfig, toy_yaml)


def test_a_missing_required_key_is_named(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("base: gemma3-270m\noutput: {name: toy}\n")
    with pytest.raises(ConfigError, match="required key 'output.dir' is missing"):
        load_recipe_config(ToyConfig, path)


def test_values_are_converted_to_the_annotated_types_or_refused(toy_yaml):
    cfg = load_recipe_config(ToyConfig, toy_yaml, ["train.lr=1", "lora.dropout=0", "train.max_steps=3.0"])
    assert (
        type(cfg.train.lr) is float and type(cfg.lora.dropout) is float and type(cfg.train.max_steps) is int
    )
    assert load_recipe_config(
        ToyConfig, toy_yaml, ["lora.target_modules=[q_proj, v_proj]"]
    ).lora.target_modules == [
        "q_proj",
        "v_proj",
    ]
    assert load_recipe_config(ToyConfig, toy_yaml).lora.target_modules == "all-linear"
    assert load_recipe_config(ToyConfig, toy_yaml, ["output.manifest_root=null"]).output.manifest_root is None
    for bad, says in [
        ("train.max_steps=2.5", "not a whole number"),
        ("train.max_steps=many", "not a whole number"),
        ("train.lr=fast", "not a number"),
        ("output.register=maybe", "not true or false"),
        ("data.split=val", "not one of 'train', 'test'"),
        ("data.corpora=austen", "is a list"),
        ("train=5", "train is a section"),
    ]:
        with pytest.raises(ConfigError, match=says):
            load_recipe_config(ToyConfig, toy_yaml, [bad])


def test_a_loaded_config_is_frozen(toy_yaml):
    cfg = load_recipe_config(ToyConfig, toy_yaml)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.train.max_steps = 3  # type: ignore[misc]
    assert dataclasses.replace(cfg.train, max_steps=3).max_steps == 3


def test_config_paths_are_relative_to_the_repo_not_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert repo_path("assets/x") == REPO / "assets" / "x"
    assert repo_path(tmp_path / "y") == tmp_path / "y"
    cfg = load_recipe_config(
        recipe_config_classes()["training/recipes/sft_lora.py"],
        "training/configs/gemma3-270m/task_continue.yaml",
    )
    assert cfg.source == "training/configs/gemma3-270m/task_continue.yaml"
    with pytest.raises(ConfigError, match="does not exist"):
        load_recipe_config(ToyConfig, "training/configs/nowhere.yaml")


def test_help_lists_every_key_with_its_help_text(toy_yaml, capsys):
    with pytest.raises(SystemExit):
        recipe_config_from_argv(ToyConfig, ["--help"], "toy recipe")
    shown = capsys.readouterr().out
    assert "train.max_steps = 50" in shown and "optimizer steps" in shown and "base = (required)" in shown
    cfg = recipe_config_from_argv(ToyConfig, ["--config", str(toy_yaml), "train.max_steps=7"], "toy recipe")
    assert cfg.train.max_steps == 7
    with pytest.raises(SystemExit) as exit_:
        recipe_config_from_argv(ToyConfig, ["--config", str(toy_yaml), "train.steps=7"], "toy recipe")
    assert exit_.value.code == 2 and "unknown key 'train.steps'" in capsys.readouterr().err


def test_every_recipe_has_one_config_class_whose_fields_all_carry_help_text():
    classes = recipe_config_classes()
    assert {"training/recipes/sft_lora.py", "training/recipes/persona_projector.py"} <= set(classes)
    for recipe, cls in classes.items():
        undocumented = [key for key, _, about in describe_config(cls) if not about.strip()]
        assert not undocumented, f"{recipe}: fields without help text: {undocumented}"


def test_every_shipped_artifact_config_loads_and_names_that_artifact_and_its_folder():
    classes = recipe_config_classes()
    shipped = [a for a in load_manifest().values() if a.config]
    if not shipped:
        pytest.skip("no artifact in assets/manifest.json")
    for art in shipped:
        cfg = load_recipe_config(classes[art.recipe], art.config)
        assert cfg.source == art.config
        assert cfg.output.name == art.name and cfg.base == art.base_model, art.name
        folder = repo_path(cfg.output.dir).relative_to(REPO / "assets").as_posix()
        assert all(f.path.startswith(folder + "/") for f in art.files), (art.name, folder)
        if art.kind == "lora_adapter":  # the adapter's recorded shape is the config's
            lora = art.extra["lora"]
            assert (cfg.lora.r, cfg.lora.alpha, cfg.lora.target_modules) == (
                lora["r"],
                lora["alpha"],
                lora["target_modules"],
            ), art.name
            assert cfg.task == art.extra["task"], art.name
