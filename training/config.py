"""The recipe dialect: one typed config dataclass per recipe, one loader, one override syntax.

A recipe declares its config as a dataclass of documented fields; the defaults live in the fields,
never in ``.get(key, default)`` calls. Shared sections (``train``, ``lora``, ``output``) come from
this module so that every recipe spells them the same way::

    @dataclass(frozen=True, kw_only=True)
    class WqrmData:
        pairs: str = option(help="JSONL of scored pairs, repo-relative")
        eval_examples: int = option(64, help="held-out pairs scored after training")

    @dataclass(frozen=True, kw_only=True)
    class WqrmConfig(RecipeConfig):            # adds base (model name) and source (the YAML)
        data: WqrmData = section(WqrmData, "what the reward model is trained on")
        train: TrainConfig = section(TrainConfig, "optimisation")
        output: OutputConfig = section(OutputConfig, "where the artifact goes")

    cfg = load_recipe_config(WqrmConfig, "training/configs/gemma3-270m/wqrm.yaml", ["train.max_steps=5"])
    cfg.train.max_steps                        # 5, an int

The YAML mirrors the dataclass (``train: {max_steps: 200}``). Overrides are positional
``key.sub=value`` arguments (torchtune style), the value parsed as YAML (``lora.stack_on=[persona]``).
The loader rejects unknown keys (naming the allowed ones) and missing required ones, converts values
to the annotated types (``3e-4`` -> float, ``2`` -> 2.0 for a float, a ``Literal`` checks its
choices) and returns the frozen dataclass. ``recipe_config_from_argv`` is the whole command line of
a recipe: ``--config PATH`` plus overrides, and ``--help`` lists every key with its help text.
Paths in configs are repo-relative: ``repo_path`` is the one way to resolve them (``REPO``, ``ASSETS``).
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from collections.abc import Callable, Sequence
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from engine.errors import KillahError

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "assets"  # the same folder as engine.paths.repo_assets_dir(): manifest.json + artifacts

C = TypeVar("C")


class ConfigError(KillahError, ValueError):
    """A recipe config (YAML or override) names an unknown key, lacks a required one or has a bad value."""


def repo_path(path: str | Path) -> Path:
    """A config path: absolute as given, else relative to the repository root (not the working dir)."""
    path = Path(path)
    return path if path.is_absolute() else REPO / path


# ---------------------------------------------------------------- declaring fields


def option(default: Any = MISSING, *, help: str) -> Any:  # "help": peft's LoraConfig metadata key
    """A config field with its help text; list/dict defaults are copied per instance."""
    if isinstance(default, list | dict):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


def section(cls: type, help: str) -> Any:
    """A nested config section (a dataclass) built from its own defaults."""
    return field(default_factory=cls, metadata={"help": help})


# ---------------------------------------------------------------- shared sections


@dataclass(frozen=True, kw_only=True)
class RecipeConfig:
    """Fields every recipe has. Subclass it and add the recipe's sections."""

    base: str = option(
        help="base model name, as engine.models.load_model knows it (gemma3-270m, smollm2-135m)"
    )
    source: str = option(
        "", help="set by the loader: the YAML this config came from, repo-relative; recorded in the manifest"
    )


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Optimisation settings shared by every recipe; a recipe may subclass it to add its own."""

    max_steps: int = option(50, help="optimizer steps")
    batch_size: int = option(4, help="examples per step (per process under torchrun)")
    lr: float = option(2e-4, help="peak learning rate")
    warmup_steps: int = option(0, help="linear warmup steps before the schedule")
    grad_clip: float = option(1.0, help="gradient norm clip")
    log_every: int = option(5, help="log the loss every this many steps")
    threads: int = option(1, help="torch CPU threads per process (the shared 2-core machine: 1)")
    seed: int = option(0, help="seed of torch and of the recipe's own sampling")
    time_budget_s: float = option(
        0.0,
        help="stop after the first step that ends past this many seconds of training (0: none); saved as usual",
    )


@dataclass(frozen=True, kw_only=True)
class LoraAdapterConfig:
    """A LoRA adapter on the frozen base (peft's LoraConfig terms: r, lora_alpha, lora_dropout, target_modules)."""

    r: int = option(64, help="rank of the update B A")
    alpha: int = option(128, help="scale numerator: the update is (alpha / r) B A x")
    dropout: float = option(0.0, help="dropout on the adapter's input")
    target_modules: str | list[str] = option(
        "all-linear", help="'all-linear' or the module names to adapt, e.g. [q_proj, v_proj]"
    )


@dataclass(frozen=True, kw_only=True)
class OutputConfig:
    """Where the artifact goes and how it is recorded in the manifest."""

    name: str = option(help="artifact name in assets/manifest.json (what engine/ asks for)")
    dir: str = option(help="folder of the artifact's files, repo-relative (under assets/ to ship it)")
    dtype: str = option("float16", help="dtype of the saved weights")
    register: bool = option(True, help="add/replace the artifact's entry in the manifest")
    manifest_root: str | None = option(
        None, help="assets folder whose manifest.json is read and written (None: the repo's assets/)"
    )
    run_dir: str | None = option(
        None, help="scratch folder for logs and rejected artifacts (None: .data/runs/<name>)"
    )

    @property
    def path(self) -> Path:
        return repo_path(self.dir)

    @property
    def manifest_path(self) -> Path | None:
        """The ``root`` argument of engine.manifest's functions."""
        return repo_path(self.manifest_root) if self.manifest_root else None

    @property
    def run_path(self) -> Path:
        return repo_path(self.run_dir) if self.run_dir else REPO / ".data" / "runs" / self.name


# ---------------------------------------------------------------- loading


def load_recipe_config(cls: type[C], path: str | Path, overrides: Sequence[str] = ()) -> C:
    """Read the YAML at ``path`` (repo-relative or absolute), apply ``key.sub=value`` overrides, check
    every key against ``cls`` and convert the values to its annotated types."""
    path = repo_path(path) if not Path(path).exists() else Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    raw = _parse_yaml(path.read_text(), str(path)) or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: a config is a mapping of keys, got {type(raw).__name__}")
    resolved = path.resolve()
    raw["source"] = str(resolved.relative_to(REPO)) if resolved.is_relative_to(REPO) else str(resolved)
    return build_config(cls, apply_overrides(raw, overrides), where=str(path))


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """A copy of ``raw`` with each ``a.b=value`` set (value parsed as YAML); sections are created as needed."""
    raw = _copy_tree(raw)
    for item in overrides:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not key.sub=value")
        node = raw
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is a value, not a section")
        node[leaf] = _parse_yaml(text, f"override {item!r}")
    return raw


def _parse_yaml(text: str, where: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML ({str(e).splitlines()[0]})") from None


def build_config(cls: type[C], raw: dict, where: str = "config") -> C:
    """The dataclass ``cls`` from a plain mapping: unknown keys, missing keys and bad types are errors."""
    return _build(cls, raw, prefix="", where=where)


def _build(cls: type, raw: Any, prefix: str, where: str) -> Any:
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where}: {prefix.rstrip('.') or 'the config'} is a section (key: value lines), got {raw!r}"
        )
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {prefix + unknown[0]!r}; allowed keys"
            f"{' under ' + repr(prefix.rstrip('.')) if prefix else ''}: {', '.join(sorted(fields))}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, f in fields.items():
        if name in raw:
            values[name] = _convert(hints[name], raw[name], prefix + name, where)
        elif f.default is MISSING and f.default_factory is MISSING:
            raise ConfigError(
                f"{where}: required key {prefix + name!r} is missing ({f.metadata.get('help', '')})"
            )
    return cls(**values)


def _convert(hint: Any, value: Any, key: str, where: str) -> Any:
    """``value`` as the annotated type ``hint`` (int, float, str, bool, list[...], X | None, Literal, section)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, key + ".", where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arm in (a for a in args if a is not type(None)):
            try:
                return _convert(arm, value, key, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[-1] if len(errors) == 1 else f"{where}: {key}={value!r} fits none of {hint}")
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: {key}={value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: {key} is a list ([a, b]), got {value!r}")
        return [_convert(args[0], v, f"{key}[{i}]", where) for i, v in enumerate(value)] if args else value
    if origin is dict or hint is dict or hint is Any:
        return value
    converter = _SCALARS.get(hint)
    if converter is None:
        raise TypeError(f"{key}: the loader does not know the type {hint!r}")
    try:
        return converter(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {key}={value!r} is not {_KIND[hint]}") from None


def _to_int(value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | str)
        or float(value) != int(float(value))
    ):
        raise ValueError(value)
    return int(float(value))


def _to_float(value: Any) -> float:
    # YAML 1.1 reads "3e-4" (no dot) as a string: a float field means the number.
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(value)
    return float(value)


def _to_str(value: Any) -> str:
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        raise ValueError(value)
    return str(value)  # "tiny.en", a path, or a name YAML read as a number


def _to_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(value)
    return value


_SCALARS: dict[Any, Callable[[Any], Any]] = {int: _to_int, float: _to_float, str: _to_str, bool: _to_bool}
_KIND = {int: "a whole number", float: "a number", str: "a string", bool: "true or false"}


def _copy_tree(raw: Any) -> Any:
    if isinstance(raw, dict):
        return {k: _copy_tree(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_copy_tree(v) for v in raw]
    return raw


# ---------------------------------------------------------------- command line


def describe_config(cls: type, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key, default, help) for every leaf key of ``cls``, sections flattened as ``a.b``."""
    rows = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if dataclasses.is_dataclass(hints[f.name]):
            rows.extend(describe_config(hints[f.name], prefix + f.name + "."))
            continue
        if f.default is not MISSING:
            default = repr(f.default)
        elif f.default_factory is not MISSING:
            default = repr(f.default_factory())
        else:
            default = "(required)"
        rows.append((prefix + f.name, default, f.metadata.get("help", "")))
    return rows


def recipe_config_from_argv(
    cls: type[C], argv: Sequence[str] | None, description: str, default_config: str | None = None
) -> C:
    """A recipe's command line: ``--config PATH`` then positional ``key.sub=value`` overrides."""
    keys = "\n".join(f"  {key} = {default}\n      {about}" for key, default, about in describe_config(cls))
    parser = argparse.ArgumentParser(
        description=description,
        epilog="config keys (override any as key.sub=value):\n" + keys,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", required=default_config is None, default=default_config, help="YAML file")
    parser.add_argument("overrides", nargs="*", help="key.sub=value, value parsed as YAML")
    ns = parser.parse_args(argv)
    try:
        return load_recipe_config(cls, ns.config, ns.overrides)
    except ConfigError as e:  # a typo on the command line: one line and the usage, not a traceback
        parser.error(str(e))
