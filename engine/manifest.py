"""The one manifest of shipped artifacts: ``assets/manifest.json``.

Every trained thing the engine loads (LoRA adapters, persona/audio projectors)
has an entry naming its files with their sha256 and size, the base model it was
trained on (the base's ``source_sha256`` from ``engine.models``), the recipe and
config that produced it, how its data were built, its metrics and its date.
The engine reads artifacts only through ``artifact(name)``, which re-hashes the
files, so a tampered or truncated file is refused with a message naming it.

    {"version": 1,
     "artifacts": {"task_continue": {"kind": "lora_adapter",
                                     "files": [{"path": "adapters/task_continue/adapter_model.safetensors",
                                                "sha256": "...", "size": 123}],
                                     "base_model": "gemma3-270m", "base_sha256": "a5fd...",
                                     "recipe": "training/recipes/sft_lora.py", "config": "...yaml",
                                     "data": "...", "metrics": {...}, "created": "2026-11-22T17:00:00Z"}}}

File paths are relative to the assets folder (``engine.paths.repo_assets_dir()``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from engine import paths
from engine.errors import ArtifactError
from engine.models import sha256_file  # one hashing helper for models and artifacts

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
KINDS = ("lora_adapter", "persona_projector", "audio_projector", "other")


@dataclass(frozen=True)
class ArtifactFile:
    path: str  # relative to the assets folder, with forward slashes
    sha256: str
    size: int


@dataclass(frozen=True)
class Artifact:
    name: str
    kind: str
    files: tuple[ArtifactFile, ...]
    base_model: str
    base_sha256: str
    recipe: str = ""
    config: str = ""
    data: str = ""
    metrics: dict = field(default_factory=dict)
    created: str = ""
    extra: dict = field(default_factory=dict)  # kind-specific settings (e.g. a projector's k)
    root: Path = field(default_factory=paths.repo_assets_dir)
    # The writers it was trained on, one dict each (training.data.corpora.corpus_sources: corpus,
    # author, kind, language, package with version, licence, held_out).
    sources: tuple[dict, ...] = ()

    @property
    def folder(self) -> Path:
        """The deepest folder holding all the artifact's files (a peft adapter's directory)."""
        parents = [Path(f.path).parent for f in self.files]
        common = Path(os.path.commonpath([str(p) for p in parents])) if parents else Path(".")
        return self.root / common

    def file(self, name: str) -> Path:
        """Absolute path of one of the artifact's files, by its file name or relative path."""
        for f in self.files:
            if f.path == name or Path(f.path).name == name:
                return self.root / f.path
        raise ArtifactError(f"The artifact {self.name!r} has no file named {name!r}.")

    def verify(self) -> None:
        """Re-hash every file; raise ArtifactError naming the first missing or altered one."""
        for f in self.files:
            path = _inside(self.root, f.path, self.name)
            if not path.is_file():
                raise ArtifactError(
                    f"The file {f.path} of the artifact {self.name!r} is missing from {self.root}; "
                    "reinstall Killah or retrain the artifact."
                )
            size = path.stat().st_size
            if size != f.size or sha256_file(path) != f.sha256:
                raise ArtifactError(
                    f"The file {f.path} of the artifact {self.name!r} has been altered or is damaged "
                    f"(its sha256 or size differs from the manifest: {size} bytes vs {f.size}); "
                    "refusing to load it. Reinstall Killah or retrain the artifact."
                )

    def require_base(self, info: object) -> None:
        """Raise ArtifactError unless ``info`` (a ``ModelInfo``) is the base this artifact was trained on."""
        sha = getattr(info, "source_sha256", info)
        if sha != self.base_sha256:
            loaded = getattr(info, "name", "another model")
            raise ArtifactError(
                f"The artifact {self.name!r} was trained for the base model {self.base_model} "
                f"(sha256 {self.base_sha256[:12]}…), but the loaded model is {loaded} "
                f"(sha256 {str(sha)[:12]}…). It cannot be used with this model."
            )

    def to_json(self) -> dict:
        return {
            "kind": self.kind,
            "files": [{"path": f.path, "sha256": f.sha256, "size": f.size} for f in self.files],
            "base_model": self.base_model,
            "base_sha256": self.base_sha256,
            "recipe": self.recipe,
            "config": self.config,
            "data": self.data,
            "metrics": self.metrics,
            "created": self.created,
            "extra": self.extra,
            **({"sources": list(self.sources)} if self.sources else {}),
        }




def _inside(root: Path, rel: str, name: str) -> Path:
    """Resolve a manifest path, refusing one that points outside the assets folder."""
    path = (root / rel).resolve()
    if not path.is_relative_to(root.resolve()):
        raise ArtifactError(f"The artifact {name!r} names a file outside the assets folder: {rel}")
    return path


def manifest_path(root: Path | None = None) -> Path:
    return (root or paths.repo_assets_dir()) / MANIFEST_NAME


def _read_raw(root: Path) -> dict:
    path = manifest_path(root)
    if not path.exists():
        return {"version": MANIFEST_VERSION, "artifacts": {}}
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"The artifact manifest {path} is unreadable or corrupt: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("artifacts"), dict):
        raise ArtifactError(f"The artifact manifest {path} has no 'artifacts' table.")
    return raw


def _from_json(name: str, entry: dict, root: Path) -> Artifact:
    try:
        return Artifact(
            name=name,
            kind=entry["kind"],
            files=tuple(ArtifactFile(f["path"], f["sha256"], int(f["size"])) for f in entry["files"]),
            base_model=entry.get("base_model", ""),
            base_sha256=entry.get("base_sha256", ""),
            recipe=entry.get("recipe", ""),
            config=entry.get("config", ""),
            data=entry.get("data", ""),
            metrics=dict(entry.get("metrics", {})),
            created=entry.get("created", ""),
            extra=dict(entry.get("extra", {})),
            root=root,
            sources=tuple(dict(s) for s in entry.get("sources", [])),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(
            f"The manifest entry for {name!r} is malformed ({type(exc).__name__}: {exc})."
        ) from exc


def load_manifest(root: Path | None = None) -> dict[str, Artifact]:
    """All artifacts listed in the manifest (not verified: ``artifact(name)`` verifies)."""
    root = root or paths.repo_assets_dir()
    return {name: _from_json(name, entry, root) for name, entry in _read_raw(root)["artifacts"].items()}


def artifact(name: str, root: Path | None = None, verify: bool = True) -> Artifact:
    """One artifact by name, with every file's sha256 checked (ArtifactError if missing or altered)."""
    entries = load_manifest(root)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise ArtifactError(f"No artifact named {name!r} is installed (available: {known}).")
    found = entries[name]
    if verify:
        found.verify()
    return found


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    """Serialize read-modify-write of the manifest between processes (several recipes may register at once)."""
    try:
        import fcntl
    except ImportError:  # Windows: registration happens in training only, one process at a time
        yield
        return
    fd = os.open(root, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def register_artifact(
    name: str,
    kind: str,
    files: Iterable[Path | str],
    base_model: str,
    base_sha256: str,
    recipe: str = "",
    config: str = "",
    data: str = "",
    metrics: dict | None = None,
    extra: dict | None = None,
    root: Path | None = None,
    sources: list[dict] | None = None,
) -> Artifact:
    """Add or replace the entry ``name``: hash its files (which must lie under the assets folder) and
    rewrite manifest.json atomically. A folder in ``files`` stands for every file in it."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    root = (root or paths.repo_assets_dir()).resolve()
    root.mkdir(parents=True, exist_ok=True)
    listed: list[Path] = []
    for item in files:
        path = Path(item)
        path = path if path.is_absolute() else root / path
        listed.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    entries: list[ArtifactFile] = []
    for path in listed:
        path = path.resolve()
        if not path.is_relative_to(root):
            raise ValueError(f"{path} is not inside the assets folder {root}")
        if not path.is_file():
            raise FileNotFoundError(path)
        entries.append(
            ArtifactFile(path.relative_to(root).as_posix(), sha256_file(path), path.stat().st_size)
        )
    if not entries:
        raise ValueError(f"No files given for artifact {name!r}")
    created = _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = Artifact(
        name,
        kind,
        tuple(entries),
        base_model,
        base_sha256,
        recipe,
        config,
        data,
        dict(metrics or {}),
        created,
        dict(extra or {}),
        root,
        tuple(sources or ()),
    )
    with _locked(root):
        raw = _read_raw(root)
        raw["version"] = MANIFEST_VERSION
        raw["artifacts"][name] = result.to_json()
        raw["artifacts"] = dict(sorted(raw["artifacts"].items()))
        _write_raw(root, raw)
    return result


def _write_raw(root: Path, raw: dict) -> None:
    """Replace manifest.json atomically (a crash leaves the old one whole)."""
    fd, tmp = tempfile.mkstemp(prefix=".manifest-", suffix=".json", dir=root)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(raw, fh, indent=2, ensure_ascii=False)
            fh.write("\n")
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the manifest ships with the app
        os.replace(tmp, manifest_path(root))
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def record_metrics(name: str, key: str, value, root: Path | None = None) -> None:
    """Set ``metrics[key]`` of the entry ``name``, leaving its files and hashes alone: an evaluation
    made after training, such as the refinements tried against a kept adapter and not shipped."""
    root = (root or paths.repo_assets_dir()).resolve()
    with _locked(root):
        raw = _read_raw(root)
        if name not in raw["artifacts"]:
            raise ArtifactError(f"No artifact named {name!r} is in {manifest_path(root)}.")
        raw["artifacts"][name].setdefault("metrics", {})[key] = value
        _write_raw(root, raw)


def unregister_artifact(name: str, root: Path | None = None) -> None:
    """Drop an entry (its files are left alone)."""
    root = (root or paths.repo_assets_dir()).resolve()
    with _locked(root):
        raw = _read_raw(root)
        if raw["artifacts"].pop(name, None) is None:
            return
        _write_raw(root, raw)
