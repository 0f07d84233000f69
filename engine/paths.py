"""One place for every on-disk location Killah uses (platformdirs).

Tests and CI may redirect everything with ``KILLAH_HOME``: the data, cache and
config dirs then live under that folder, so a test run never touches the real
user's files.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP_NAME = "killah"


def _root(kind: str) -> Path:
    override = os.environ.get("KILLAH_HOME")
    if override:
        path = Path(override) / kind
    else:
        path = Path(getattr(platformdirs, f"user_{kind}_dir")(APP_NAME, appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """User documents' derived data: the persona index, autosaves."""
    path = _root("data")
    # Private to the user: the index holds the text of their documents.
    os.chmod(path, 0o700)
    return path


def cache_dir() -> Path:
    """Rebuildable things: converted models, exported programs.

    ``KILLAH_CACHE_DIR`` moves it on its own, so test runs can share one cache
    of converted models while each test gets fresh data and config dirs.
    """
    override = os.environ.get("KILLAH_CACHE_DIR")
    if override:
        path = Path(override)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return _root("cache")


def config_dir() -> Path:
    return _root("config")


def models_cache_dir() -> Path:
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_assets_dir() -> Path:
    """The shipped artifacts (adapters, projectors) and their manifest."""
    return Path(__file__).resolve().parent.parent / "assets"
