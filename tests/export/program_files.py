"""Place an already built program in a cache under another spec (tests of the cache and of the engine's choice)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def copy_into(cache, source_pte: Path, spec, model_name: str) -> Path:
    """Place a copy of a built program where ``cache`` looks for ``spec``, with a sidecar claiming that spec."""
    target = cache.path_for(spec, model_name)
    shutil.copyfile(source_pte, target)
    side = json.loads(source_pte.with_suffix(".json").read_text())
    side["spec"] = spec.as_dict()
    side["bytes"] = target.stat().st_size
    side["mtime_ns"] = target.stat().st_mtime_ns
    target.with_suffix(".json").write_text(json.dumps(side))
    return target
