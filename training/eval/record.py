"""An evaluation's verdict, written into the manifest entry of the adapter the app keeps.

The refined or RL adapters an eval compares stay in their run folders when they do not pass the ship
rule; the kept adapter's entry carries what was tried against it (rows, settings, each tried adapter's
digest and folder, the outcome), so assets/manifest.json stays the one record of what was trained.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path


def verdict(
    rows: dict, sft_row: str, tried: list[str], passes: Callable[[dict, dict], bool], if_none: str
) -> tuple[list[str], str]:
    """The tried rows that pass the ship rule against ``sft_row``, and the outcome line to record."""
    sft = rows.get(sft_row)
    if sft is None:
        return [], f"not compared: no {sft_row} row"
    winners = [label for label in tried if passes(sft, rows[label])]
    return winners, f"ships: {', '.join(winners)}" if winners else if_none


def tried_adapters(adapters: dict[str, Path]) -> dict[str, dict]:
    """{label: {folder, adapter_sha256}}; a packed Bit-LoRA folder is hashed as the peft folder it unpacks to."""
    from engine.bitlora import peft_folder
    from engine.export.compose import adapter_sha256

    return {
        label: {"folder": str(folder), "adapter_sha256": adapter_sha256(peft_folder(folder))}
        for label, folder in adapters.items()
    }


def measured_rows(paths: list[Path]) -> tuple[dict, str]:
    """Rows of earlier runs' --json files (merged in order) and when the newest was written."""
    rows: dict = {}
    for path in paths:
        rows.update(json.loads(path.read_text()))
    return rows, _utc(max(p.stat().st_mtime for p in paths))


def _utc(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def record_comparison(
    kept: str,
    key: str,
    *,
    eval_script: str,
    rows: dict,
    adapters: dict[str, Path],
    settings: dict,
    rule: str,
    outcome: str,
    root: Path | None = None,
) -> dict:
    """Set ``metrics[key]`` of the manifest entry ``kept``; returns what was written."""
    from engine.manifest import record_metrics

    entry = {
        "eval": eval_script,
        "recorded": _utc(dt.datetime.now(dt.UTC).timestamp()),
        **settings,
        "rows": rows,
        "tried": tried_adapters(adapters),
        "ship_rule": rule,
        "outcome": outcome,
    }
    record_metrics(kept, key, entry, root)
    return entry
