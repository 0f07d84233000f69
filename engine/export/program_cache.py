"""The cache of exported programs: one .pte per ProgramSpec, with a JSON sidecar saying what it is.

    cache_dir()/programs/<model>-<label>-<key>.pte
    cache_dir()/programs/<model>-<label>-<key>.json   {spec, bytes, sha256, mtime_ns, facts[, keep_ids]}

A program with a pruned output layer (``QuantConfig.vocab``) scores only some
tokens; the sidecar holds their ids (``keep_ids``), and ExecuTorchBackend reads
them from there, so such a program is used like any other.

A program is trusted only if its sidecar matches the spec asked for (base
sha256, adapters, quantization, program version) and the file is whole (size,
ExecuTorch magic, and sha256 when its mtime changed). Anything else raises a
ModelError whose message says what is wrong; the engine then stays on eager.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from engine import paths
from engine.errors import KillahError, ModelError
from engine.export import vocab as vocab_rules
from engine.export.compose import adapter_sha256
from engine.export.config import ProgramSpec, QuantConfig
from engine.models import LoadedModel, sha256_file

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]
PTE_MAGIC = b"ET"  # flatbuffer file identifier "ET12"-style at bytes 4..8


def programs_dir() -> Path:
    path = paths.cache_dir() / "programs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def spec_for(
    loaded: LoadedModel,
    quant: QuantConfig,
    adapters: list[Path] | None = None,
    max_seq: int = 1024,
) -> ProgramSpec:
    named = tuple((Path(a).name, adapter_sha256(Path(a))) for a in adapters or [])
    limit = getattr(loaded.model.config.get_text_config(), "max_position_embeddings", None)
    max_seq = min(max_seq, int(limit)) if limit else max_seq
    return ProgramSpec(
        base_sha256=loaded.info.source_sha256,
        adapters=named,
        quant=quant,
        max_seq=max_seq,
        vocab_keep_sha256=vocab_rules.rule_digest(quant.vocab),
    )


def _stem(spec: ProgramSpec, model_name: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in Path(model_name).name)[:40]
    return f"{safe}-{spec.quant.label}-{spec.key}"


def read_sidecar(pte: Path) -> dict:
    try:
        return json.loads(pte.with_suffix(".json").read_text())
    except FileNotFoundError as exc:
        raise ModelError(
            f"{pte} has no sidecar {pte.with_suffix('.json').name}: cannot tell what it was built from."
        ) from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(
            f"The sidecar of {pte} is unreadable ({exc}); delete both files to rebuild."
        ) from exc


def check_program(pte: Path, spec: ProgramSpec) -> dict:
    """Return the sidecar if ``pte`` is a whole program built for ``spec``; else raise ModelError saying why."""
    pte = Path(pte)
    if not pte.exists():
        raise ModelError(f"No ExecuTorch program at {pte}.")
    side = read_sidecar(pte)
    built = side.get("spec", {})
    if built.get("base_sha256") != spec.base_sha256:
        raise ModelError(
            f"{pte.name} was built for another base model (sha256 {str(built.get('base_sha256'))[:12]}…, "
            f"this model is {spec.base_sha256[:12]}…)."
        )
    if built != spec.as_dict():
        differs = sorted(k for k in spec.as_dict() if built.get(k) != spec.as_dict()[k])
        raise ModelError(
            f"{pte.name} was built with other settings ({', '.join(differs)}); it must be rebuilt."
        )
    size = pte.stat().st_size
    if size != side.get("bytes"):
        raise ModelError(
            f"{pte.name} is truncated or damaged: {size:,} bytes on disk, {side.get('bytes', 0):,} when written."
        )
    with open(pte, "rb") as fh:
        head = fh.read(8)
    if head[4:6] != PTE_MAGIC:
        raise ModelError(f"{pte.name} is not an ExecuTorch program (bad magic bytes).")
    if pte.stat().st_mtime_ns != side.get("mtime_ns"):
        # Touched since it was written: check the content, not just the size.
        if sha256_file(pte) != side.get("sha256"):
            raise ModelError(f"{pte.name} does not match the digest recorded when it was built (corrupt).")
    check_keep_ids(pte, side)
    return side


def check_keep_ids(pte: Path, side: dict) -> list[int] | None:
    """The kept token ids recorded for a pruned program (None for a full one); ModelError if they do not fit it."""
    facts = side.get("facts", {})
    keep = side.get("keep_ids")
    output_size, vocab_size = facts.get("output_size"), facts.get("vocab_size")
    if keep is None:
        if output_size is not None and output_size != vocab_size:
            raise ModelError(
                f"{Path(pte).name} scores {output_size} tokens but its sidecar lists none of them."
            )
        return None
    if len(keep) != output_size or side.get("keep_ids_sha256") != vocab_rules.ids_digest(
        keep, side.get("vocab_rule", "")
    ):
        raise ModelError(
            f"The kept token ids in the sidecar of {Path(pte).name} do not match the program (corrupt)."
        )
    return keep


def kept_ids(loaded: LoadedModel, spec: ProgramSpec) -> list[int] | None:
    """The output rows a pruned program scores (None = all); needs the tokenizer, so the parent computes it."""
    if spec.quant.vocab == "full":
        return None
    return vocab_rules.kept_token_ids(loaded.tokenizer, spec.quant.vocab)


def write_program(
    folder: Path,
    model_name: str,
    pte: Path,
    spec: ProgramSpec,
    adapters: list[Path] | None,
    keep: list[int] | None,
    progress: ProgressFn | None = None,
) -> Path:
    """Export the model in ``folder`` as ``spec`` says into ``pte``, then write its sidecar (last)."""
    import torch

    from engine.export.pipeline import export_program

    started = time.monotonic()
    try:
        facts = export_program(
            folder,
            pte,
            spec.quant,
            adapters=adapters,
            max_seq=spec.max_seq,
            keep_ids=None if keep is None else torch.tensor(keep, dtype=torch.long),
            progress=progress,
        )
    except KillahError:
        raise
    except Exception as exc:  # noqa: BLE001 - export fails in many ways; the user needs one sentence
        raise ModelError(f"Building the ExecuTorch program failed: {type(exc).__name__}: {exc}") from exc
    if facts["max_seq"] != spec.max_seq:  # the model's own limit was lower: record what was built
        raise ModelError(f"The model supports only {facts['max_seq']} positions; ask for max_seq ≤ that.")
    side = {
        "spec": spec.as_dict(),
        "key": spec.key,
        "model": model_name,
        "bytes": pte.stat().st_size,
        "sha256": sha256_file(pte),
        "mtime_ns": pte.stat().st_mtime_ns,
        "facts": facts,
        "seconds": round(time.monotonic() - started, 1),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    if keep is not None:
        side["vocab_rule"] = spec.quant.vocab
        side["keep_ids_sha256"] = vocab_rules.ids_digest(keep, spec.quant.vocab)
        side["keep_ids"] = keep  # last: the human-readable part of the sidecar stays on top
    tmp = pte.with_suffix(".json.partial")
    tmp.write_text(json.dumps(side, indent=1))
    tmp.replace(pte.with_suffix(".json"))
    return pte


class ProgramCache:
    """Find, check and build programs for a loaded model."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else programs_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self._building: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    def path_for(self, spec: ProgramSpec, model_name: str) -> Path:
        matches = sorted(self.root.glob(f"*-{spec.key}.pte"))
        return matches[0] if matches else self.root / f"{_stem(spec, model_name)}.pte"

    def lookup(self, loaded: LoadedModel, spec: ProgramSpec) -> Path:
        """The checked program for ``spec``, or ModelError (missing, truncated, mismatched)."""
        pte = self.path_for(spec, loaded.info.name)
        check_program(pte, spec)
        return pte

    def build(
        self,
        loaded: LoadedModel,
        spec: ProgramSpec,
        adapters: list[Path] | None = None,
        progress: ProgressFn | None = None,
    ) -> Path:
        """Build the program in this process (the CLI, tests); the app builds in a child process."""
        pte = self.path_for(spec, loaded.info.name)
        return write_program(
            loaded.info.folder, loaded.info.name, pte, spec, adapters, kept_ids(loaded, spec), progress
        )

    def build_in_child(
        self,
        loaded: LoadedModel,
        spec: ProgramSpec,
        adapters: list[Path] | None = None,
        progress: ProgressFn | None = None,
    ) -> Path:
        """Build the program in a child process (engine/export/build_child.py).

        Why: an export peaks at 2.4-3.8 GB and the allocator keeps most of it after the build
        (bench_rss: 5.5 GB RSS in an app that had built one program), and a build thread inside
        torch's C++ aborts the process if the app quits under it. A child gives it all back.
        """
        from engine.export.build_child import run_child

        pte = self.path_for(spec, loaded.info.name)
        run_child(loaded.info.folder, loaded.info.name, pte, spec, adapters, kept_ids(loaded, spec), progress)
        check_program(pte, spec)
        return pte

    def ensure(
        self,
        loaded: LoadedModel,
        spec: ProgramSpec,
        adapters: list[Path] | None = None,
        progress: ProgressFn | None = None,
    ) -> Path:
        """The program for ``spec``: reused when it checks out, (re)built otherwise."""
        try:
            return self.lookup(loaded, spec)
        except ModelError as exc:
            log.info("building program: %s", exc)
        return self.build(loaded, spec, adapters, progress)

    def ensure_in_background(
        self,
        loaded: LoadedModel,
        spec: ProgramSpec,
        on_ready: Callable[[Path], None],
        *,
        adapters: list[Path] | None = None,
        on_error: Callable[[KillahError], None] | None = None,
        progress: ProgressFn | None = None,
    ) -> threading.Thread:
        """Look up or build (in a child process) on a daemon thread; call on_ready(path) or on_error(exc).

        One build per spec at a time."""

        def run() -> None:
            try:
                try:
                    path = self.lookup(loaded, spec)
                except ModelError as exc:
                    log.info("building program: %s", exc)
                    path = self.build_in_child(loaded, spec, adapters, progress)
            except KillahError as exc:
                log.warning("ExecuTorch program unavailable: %s", exc)
                if on_error is not None:
                    on_error(exc)
                return
            finally:
                with self._lock:
                    self._building.pop(spec.key, None)
            on_ready(path)

        with self._lock:
            running = self._building.get(spec.key)
            if running is not None and running.is_alive():
                return running
            thread = threading.Thread(target=run, name=f"export-{spec.key}", daemon=True)
            self._building[spec.key] = thread
            thread.start()
            return thread
