"""Build one ExecuTorch program in a child process (``ProgramCache.build_in_child``).

The parent writes a job file (the model folder, the exact spec, the adapters, the kept output
rows), runs ``python -m engine.export.build_child JOB``, and reads one JSON line per progress
step on the child's stdout: {"stage": str, "fraction": float}, then {"done": path} or
{"error": message}. The spec travels whole, so the child builds the very program the parent
will look up (same key), and the child's memory goes back to the system when it exits.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from engine.errors import ModelError
from engine.export.config import ProgramSpec, QuantConfig

_children: set[subprocess.Popen] = set()
_children_lock = threading.Lock()


def spec_from_dict(d: dict) -> ProgramSpec:
    """Inverse of ``ProgramSpec.as_dict`` (the sidecar and job-file form)."""
    quant = dict(d["quant"])
    quant["keep_fp32"] = tuple(quant.get("keep_fp32", ()))
    return ProgramSpec(
        base_sha256=d["base_sha256"],
        adapters=tuple(tuple(a) for a in d["adapters"]),
        quant=QuantConfig(**quant),
        max_seq=d["max_seq"],
        vocab_keep_sha256=d["vocab_keep_sha256"],
        program_version=d["program_version"],
    )


def run_child(folder, model_name, pte, spec, adapters, keep, progress=None) -> None:
    """Run the build in a child process; raise ModelError with the child's message if it fails."""
    job = {
        "folder": str(folder),
        "model_name": model_name,
        "pte": str(pte),
        "spec": spec.as_dict(),
        "adapters": [str(a) for a in adapters or []],
        "keep": keep,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(job, fh)
    try:
        _run(Path(fh.name), progress)
    finally:
        os.unlink(fh.name)


def _run(job: Path, progress) -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "engine.export.build_child", str(job)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,  # torch's export chatter; errors come back as a JSON line
        text=True,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    with _children_lock:
        _children.add(child)
    error = "the build process ended without a result"
    try:
        for line in child.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue  # a stray print of a library
            if "stage" in msg and progress is not None:
                progress(msg["stage"], msg["fraction"])
            elif "error" in msg:
                error = msg["error"]
            elif "done" in msg:
                error = ""
        code = child.wait()
    finally:
        with _children_lock:
            _children.discard(child)
    if code != 0 or error:
        raise ModelError(f"{error} (build process exit code {code})" if code else error)


@atexit.register
def stop_builds() -> int:
    """Stop every build child (the app is leaving); returns how many were running.

    A half-built program is worthless (it has no sidecar), so nothing is lost.
    """
    with _children_lock:
        running = [child for child in _children if child.poll() is None]
    for child in running:
        child.kill()
        child.wait()
    return len(running)


def main(job_path: str) -> int:
    import torch

    from engine.errors import KillahError
    from engine.export.program_cache import write_program

    torch.set_num_threads(1)  # lowering is single-threaded anyway; the other core stays the writer's
    job = json.loads(Path(job_path).read_text())

    def report(stage: str, fraction: float) -> None:
        print(json.dumps({"stage": stage, "fraction": fraction}), flush=True)

    try:
        pte = write_program(
            Path(job["folder"]),
            job["model_name"],
            Path(job["pte"]),
            spec_from_dict(job["spec"]),
            [Path(a) for a in job["adapters"]],
            job["keep"],
            report,
        )
    except KillahError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return 1
    print(json.dumps({"done": str(pte)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
