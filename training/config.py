"""Recipe configs: a YAML file plus ``key.sub=value`` overrides from the command line (torchtune style)."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> dict:
    """Read a YAML config; each override ``a.b=value`` sets cfg['a']['b'] (value parsed as YAML)."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = REPO / path
    cfg = yaml.safe_load(path.read_text()) or {}
    cfg["_config_path"] = (
        str(path.resolve().relative_to(REPO)) if path.resolve().is_relative_to(REPO) else str(path)
    )
    return apply_overrides(cfg, overrides)


def apply_overrides(cfg: dict, overrides: Sequence[str]) -> dict:
    cfg = copy.deepcopy(cfg)
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r} is not key=value")
        key, raw = item.split("=", 1)
        node = cfg
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"override {item!r}: {part!r} is not a section")
        node[leaf] = _parse(raw)
    return cfg


def _parse(raw: str):
    value = yaml.safe_load(raw)
    if isinstance(value, str):  # YAML 1.1 reads "3e-4" as a string; a recipe means the number
        try:
            return float(value)
        except ValueError:
            return value
    return value
