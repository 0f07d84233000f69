"""Which process this is under torchrun / accelerate (one process: rank 0 of 1)."""

from __future__ import annotations

import os


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Rank 0: the process that alone scores, saves and registers an artifact."""
    return int(os.environ.get("RANK", "0")) == 0
