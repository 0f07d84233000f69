"""One resumable runner for long training runs: checkpoints, resume, a status line, a niced core.

Built on what the trainers already have, not a format of its own:

- a transformers or TRL ``Trainer`` (``GRPOTrainer``, ``DPOTrainer``, the SFT ``Trainer``) writes its
  own ``checkpoint-<step>`` folders (adapter, optimizer, scheduler, RNG states, ``trainer_state.json``
  with the step and so the data position) and resumes with ``train(resume_from_checkpoint=...)``;
  ``TrainerRun`` decides when it saves (every few minutes) and makes each folder complete and atomic;
- a custom loop (the audio projector) gets accelerate's ``save_state``/``load_state`` (``LoopRun``):
  prepared models, optimizers, schedulers, RNG states and registered objects.

The same folders therefore resume under torchrun or ``accelerate launch``. Layout::

    training/runs/<run>/                   runner.dir (default: training/runs/<output.name>)
        checkpoint-40/                     the trainer's or accelerate's files, and
            killah_run.json                recipe, base, config, git revision, step, and every file's
                                           size and sha256, written last
        checkpoint-48/
        status.json                        the last status line, as data
        .staging/                          where a checkpoint is written before it is renamed

A checkpoint is written into ``.staging/`` and renamed into place only when complete (one
``os.replace`` of the folder), and ``killah_run.json`` lists what it holds: a folder killed mid-write
is never renamed, and one whose files do not match their sizes and digests is skipped with a note
(the previous one is used). Resume refuses a checkpoint of another recipe, base model or config,
naming the first differing field. Only what trains is kept (a peft adapter, its optimizer state),
never the base model, so a checkpoint is small enough to commit.

``runner.*``, ``output.*`` and ``train.time_budget_s`` may change between a run and its resume (they
say how the run is carried out and where its artifact goes, not what it learns); every other key
must be equal.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import torch

from engine.errors import KillahError
from training.config import REPO, option, repo_path

META = "killah_run.json"
STAGING = ".staging"
EXTRA_STATE = "extra_state.pt"
#: keys that may differ between a run and its resume: how the run is carried out, not what it learns
MAY_DIFFER = ("runner.", "output.", "train.time_budget_s", "source")
#: files a Trainer writes into a checkpoint that resume never reads (the tokenizer is ~33 MB for Gemma)
NOT_KEPT = re.compile(
    r"^(tokenizer.*|special_tokens_map\.json|chat_template.*|README\.md|training_args\.bin)$"
)
_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")


class ResumeError(KillahError):
    """A checkpoint cannot be resumed by this run: another recipe, base model or config."""


@dataclass(frozen=True, kw_only=True)
class RunnerConfig:
    """The ``runner`` section of a long recipe's config."""

    resume: bool = option(
        False,
        help="continue from the newest complete checkpoint in runner.dir (none there: start at step 0); "
        "refused if it was written by another recipe, base model or config",
    )
    every_minutes: float = option(
        0.0, help="write a checkpoint every this many minutes of training (0: never by time)"
    )
    every_steps: int = option(0, help="also write one every this many steps (0: never by count)")
    stop_after: int = option(
        0, help="end this process after this many steps in all, with a checkpoint (0: run to train.max_steps)"
    )
    keep: int = option(2, help="complete checkpoints kept, the newest; older ones are deleted")
    dir: str | None = option(None, help="the run's folder, repo-relative (None: training/runs/<output.name>)")
    nice: int = option(
        10, help="niceness the process asks for (os.nice), so the editor and tests keep a core"
    )

    @property
    def active(self) -> bool:
        """Whether the run writes checkpoints at all (a short run or a test leaves the repo alone)."""
        return bool(self.resume or self.every_minutes or self.every_steps or self.stop_after)


class Stateful(Protocol):
    def state_dict(self) -> dict: ...

    def load_state_dict(self, state: dict) -> None: ...


# ---------------------------------------------------------------- cooperative scheduling


def cooperate(nice: int, threads: int) -> None:
    """Niced to at least ``nice`` and ``threads`` torch threads (1 on the shared 2-core machine)."""
    current = os.nice(0)
    if nice > current:
        os.nice(nice - current)
    torch.set_num_threads(threads)


# ---------------------------------------------------------------- metadata and compatibility


def git_revision() -> str:
    """``<commit>`` of the repository, ``+dirty`` when tracked files have changes ('' outside git)."""
    try:
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""
    return rev + ("+dirty" if dirty else "")


def flat_config(cfg: Any) -> dict[str, Any]:
    """The config as ``{"train.lr": 1e-05, ...}`` without the keys that may differ on resume."""
    out: dict[str, Any] = {}

    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                out[prefix + key] = value

    walk(dataclasses.asdict(cfg), "")
    return {k: v for k, v in out.items() if not any(k == p or k.startswith(p) for p in MAY_DIFFER)}


def run_identity(cfg: Any, recipe: str, base_sha256: str | None = None) -> dict:
    """What a checkpoint must share with the run that resumes it."""
    return {"recipe": recipe, "base": cfg.base, "base_sha256": base_sha256, "config": flat_config(cfg)}


def check_compatible(meta: Mapping, identity: Mapping, where: Path) -> None:
    """ResumeError naming the first field where the checkpoint's ``meta`` and this run differ."""

    def refuse(field: str, theirs: Any, ours: Any) -> None:
        raise ResumeError(
            f"cannot resume from {where}: {field} differs (checkpoint: {theirs!r}, this run: {ours!r}); "
            "give this run its own runner.dir, or set runner.resume=false to start over"
        )

    for field in ("recipe", "base"):
        if meta.get(field) != identity[field]:
            refuse(field, meta.get(field), identity[field])
    if meta.get("base_sha256") and identity["base_sha256"] and meta["base_sha256"] != identity["base_sha256"]:
        refuse("base model (sha256)", meta["base_sha256"], identity["base_sha256"])
    theirs, ours = meta.get("config", {}), identity["config"]
    for key in sorted(set(theirs) | set(ours)):
        if _normal(theirs.get(key, "<absent>")) != _normal(ours.get(key, "<absent>")):
            refuse(key, theirs.get(key, "<absent>"), ours.get(key, "<absent>"))


def _normal(value: Any) -> Any:
    return json.loads(json.dumps(value))  # tuples and lists, as the JSON file holds them


# ---------------------------------------------------------------- the folders


def run_dir(cfg: Any) -> Path:
    """``runner.dir``, or ``training/runs/<output.name>``."""
    return repo_path(cfg.runner.dir) if cfg.runner.dir else REPO / "training" / "runs" / cfg.output.name


def checkpoints(folder: Path) -> list[Path]:
    """``checkpoint-<step>`` folders of a run, newest (highest step) first."""
    if not folder.is_dir():
        return []
    found = [
        (int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))
    ]
    return [p for _, p in sorted(found, reverse=True)]


def problem(checkpoint: Path) -> str | None:
    """Why ``checkpoint`` cannot be loaded (None: complete): no metadata, a missing, short or changed file."""
    try:
        meta = json.loads((checkpoint / META).read_text())
        files = meta["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return f"no readable {META}"
    for name, want in files.items():
        path = checkpoint / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != want["size"]:
            return f"{name} is {path.stat().st_size} bytes, {want['size']} expected"
        if _sha256(path) != want["sha256"]:
            return f"{name} does not match its sha256"
    return None


def latest_complete(folder: Path) -> tuple[Path | None, list[str]]:
    """The newest checkpoint that is complete, and a note for each newer one skipped."""
    skipped = []
    for checkpoint in checkpoints(folder):
        why = problem(checkpoint)
        if why is None:
            return checkpoint, skipped
        skipped.append(f"{checkpoint.name} skipped: {why}")
    return None, skipped


def read_meta(checkpoint: Path) -> dict:
    return json.loads((checkpoint / META).read_text())


def commit(staged: Path, folder: Path, meta: dict, keep: int) -> Path:
    """Seal the staged checkpoint (every file's size and sha256 in ``killah_run.json``, written last
    and synced), rename it into ``folder`` in one step, and delete all but the ``keep`` newest."""
    for path in list(staged.iterdir()):
        if path.is_file() and NOT_KEPT.match(path.name):
            path.unlink()
    files = {}
    for path in sorted(p for p in staged.rglob("*") if p.is_file()):
        _fsync(path)
        files[path.relative_to(staged).as_posix()] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    meta_path = staged / META
    meta_path.write_text(json.dumps({**meta, "files": files}, indent=1) + "\n")
    _fsync(meta_path)
    final = folder / staged.name
    if final.exists():  # the same step saved again (a resumed run's first save): replace it whole
        shutil.rmtree(final)
    os.replace(staged, final)
    _fsync_dir(folder)
    for old in checkpoints(folder)[max(keep, 1) :]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync(path: Path) -> None:
    with path.open("rb") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- extra state


class TrainableParameters:
    """The parameters of ``module`` that train (a LoRA, a projector) as a Stateful, for a loop whose
    model accelerate does not hold: only these are saved, never the frozen base."""

    def __init__(self, module: torch.nn.Module) -> None:
        self.module = module

    def state_dict(self) -> dict:
        return {n: p.detach().clone() for n, p in self.module.named_parameters() if p.requires_grad}

    def load_state_dict(self, state: dict) -> None:
        params = dict(self.module.named_parameters())
        with torch.no_grad():
            for name, value in state.items():
                params[name].copy_(value)


class RandomState:
    """A random generator of the recipe's own (``random.Random``, numpy ``Generator``, torch
    ``Generator``) as a Stateful: the Trainers and accelerate restore only the global ones."""

    def __init__(self, generator: Any) -> None:
        self.generator = generator

    def state_dict(self) -> dict:
        g = self.generator
        if isinstance(g, random.Random):
            return {"python": g.getstate()}
        if isinstance(g, torch.Generator):
            return {"torch": g.get_state()}
        return {"numpy": g.bit_generator.state}

    def load_state_dict(self, state: dict) -> None:
        g = self.generator
        if "python" in state:
            version, internal, gauss = state["python"]
            g.setstate((version, tuple(internal), gauss))
        elif "torch" in state:
            g.set_state(state["torch"])
        else:
            g.bit_generator.state = state["numpy"]


class ListState:
    """A list the recipe appends to (its run log's rows) as a Stateful: a resumed run's log goes on
    from the checkpoint's rows instead of starting empty."""

    def __init__(self, rows: list) -> None:
        self.rows = rows

    def state_dict(self) -> dict:
        return {"rows": list(self.rows)}

    def load_state_dict(self, state: dict) -> None:
        self.rows[:] = state["rows"]


# ---------------------------------------------------------------- the status line


class Status:
    """Steps done, loss, last eval and the time left by this process's mean step, as one line
    (``line()``) and in ``status.json`` of the run's folder."""

    def __init__(self, max_steps: int, folder: Path | None, start_step: int = 0) -> None:
        self.max_steps, self.folder = max_steps, folder
        self.start_step = self.step = start_step
        self.started = time.monotonic()
        self.loss: float | None = None
        self.last_eval: dict | None = None

    def update(self, step: int, loss: float | None = None, last_eval: dict | None = None) -> str:
        self.step = step
        if loss is not None:
            self.loss = loss
        if last_eval:
            self.last_eval = last_eval
        done = step - self.start_step
        per_step = (time.monotonic() - self.started) / done if done > 0 else None
        eta = per_step * (self.max_steps - step) if per_step is not None else None
        state = {
            "step": step,
            "max_steps": self.max_steps,
            "loss": self.loss,
            "last_eval": self.last_eval,
            "seconds_per_step": round(per_step, 1) if per_step is not None else None,
            "eta_seconds": round(eta) if eta is not None else None,
            "load": round(os.getloadavg()[0], 2),
            "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        if self.folder is not None:
            self.folder.mkdir(parents=True, exist_ok=True)
            tmp = self.folder / "status.json.tmp"
            tmp.write_text(json.dumps(state) + "\n")
            os.replace(tmp, self.folder / "status.json")
        return self.line(state)

    @staticmethod
    def line(state: Mapping) -> str:
        loss = f"{state['loss']:.4f}" if state["loss"] is not None else "—"
        last_eval = (
            " ".join(
                f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in state["last_eval"].items()
            )
            if state["last_eval"]
            else "—"
        )
        eta = _duration(state["eta_seconds"]) if state["eta_seconds"] is not None else "—"
        per = (
            f"{state['seconds_per_step']:.0f} s/step" if state["seconds_per_step"] is not None else "— s/step"
        )
        return (
            f"step {state['step']}/{state['max_steps']} · loss {loss} · last eval {last_eval} · {per} · "
            f"ETA {eta} · load {state['load']}"
        )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def _say(text: str) -> None:
    from tqdm import tqdm

    tqdm.write(text, file=sys.stderr)  # above the progress bar, which stays


# ---------------------------------------------------------------- the cadence


class Cadence:
    """When to checkpoint: every ``every_minutes``, every ``every_steps``, at ``stop_after`` and at the
    last step, only at steps that are multiples of ``align`` (GRPO: where a batch of rollouts ends,
    since the rollouts reused between steps are not part of the trainer's checkpoint)."""

    def __init__(self, runner: RunnerConfig, max_steps: int, align: int = 1) -> None:
        self.runner, self.max_steps, self.align = runner, max_steps, max(align, 1)
        self.last = time.monotonic()
        self.pending = False

    def due(self, step: int) -> tuple[bool, bool]:
        """(save now, stop after saving) at the end of ``step``."""
        r = self.runner
        if not r.active:
            return False, False
        if (r.every_steps and step % r.every_steps == 0) or (
            r.every_minutes and time.monotonic() - self.last >= r.every_minutes * 60
        ):
            self.pending = True
        stopping = bool(r.stop_after and step >= r.stop_after)
        last = step >= self.max_steps
        if last or ((self.pending or stopping) and step % self.align == 0):
            self.pending = False
            self.last = time.monotonic()
            return True, stopping and not last
        return False, False


# ---------------------------------------------------------------- a Trainer


class TrainerRun:
    """The runner around a transformers/TRL Trainer::

    run = TrainerRun(cfg, RECIPE, base_sha256, align=num_iterations, extra={"reward_rng": ...})
    args = trainer_arguments(GRPOConfig, cfg, **run.trainer_arguments(), ...)
    trainer = GRPOTrainer(..., args=args, callbacks=[*run.callbacks(), ...])
    run.train(trainer)       # trainer.train(resume_from_checkpoint=<the newest complete one>)
    """

    def __init__(
        self,
        cfg: Any,
        recipe: str,
        base_sha256: str | None = None,
        *,
        align: int = 1,
        extra: Mapping[str, Stateful] | None = None,
    ) -> None:
        self.cfg, self.runner = cfg, cfg.runner
        self.folder = run_dir(cfg)
        self.identity = run_identity(cfg, recipe, base_sha256)
        self.align, self.extra = align, dict(extra or {})
        self.resumed_from: Path | None = None
        self.saved: list[Path] = []
        self.stopped_at: int | None = None  # the step where runner.stop_after ended this process
        self.status: Status | None = None

    def trainer_arguments(self) -> dict:
        """Overrides of ``training.recipe.trainer_arguments``: checkpoints go to ``.staging``, and this
        runner (not ``save_strategy``) says when."""
        if not self.runner.active:
            return {}
        return {"output_dir": str(self.folder / STAGING), "save_strategy": "no", "save_only_model": False}

    def callbacks(self) -> list:
        from transformers import TrainerCallback

        run = self

        class Runner(TrainerCallback):
            def on_train_begin(self, args, state, control, **kwargs):
                self.cadence = Cadence(run.runner, state.max_steps, run.align)
                run.status = None

            def on_step_begin(self, args, state, control, **kwargs):
                if run.status is None:  # here, not at train begin: a resumed step count is loaded by now
                    folder = run.folder if run.runner.active else None
                    run.status = Status(state.max_steps, folder, state.global_step)

            def on_step_end(self, args, state, control, **kwargs):
                save, stop = self.cadence.due(state.global_step)
                if torch.distributed.is_available() and torch.distributed.is_initialized():
                    # every rank saves (and meets the barrier in on_save) when any rank's clock says so
                    flags = torch.tensor([save, stop], dtype=torch.int32, device=args.device)
                    torch.distributed.all_reduce(flags, op=torch.distributed.ReduceOp.MAX)
                    save, stop = bool(flags[0]), bool(flags[1])
                if save:
                    control.should_save = True
                if stop:
                    control.should_training_stop = True
                    run.stopped_at = state.global_step

            def on_log(self, args, state, control, logs=None, **kwargs):
                logs = logs or {}
                evals = {k: v for k, v in logs.items() if k.startswith("eval_")}
                loss = logs.get("loss")
                if run.status is not None:
                    _say(run.status.update(state.global_step, loss, evals or None))

            def on_save(self, args, state, control, **kwargs):
                if torch.distributed.is_available() and torch.distributed.is_initialized():
                    torch.distributed.barrier()  # every rank's RNG file is written before rank 0 seals
                staged = run.folder / STAGING / f"checkpoint-{state.global_step}"
                if not staged.is_dir() or not args.should_save:
                    return
                run._seal(staged, state.global_step, state.max_steps)

        return [Runner()]

    def resume_from(self) -> str | None:
        """The checkpoint to resume (None: start at step 0), checked against this run; loads the extra state."""
        if not self.runner.resume:
            return None
        checkpoint = _pick(self.folder, self.identity)
        if checkpoint is not None and self.extra:
            _load_extra(checkpoint, self.extra)
        self.resumed_from = checkpoint
        return str(checkpoint) if checkpoint else None

    def train(self, trainer) -> None:
        shutil.rmtree(self.folder / STAGING, ignore_errors=True)  # what a killed write left
        if self.runner.active:
            _save_only_trainable(trainer)
        trainer.train(resume_from_checkpoint=self.resume_from())

    def _seal(self, staged: Path, step: int, max_steps: int) -> None:
        if self.extra:
            torch.save({name: obj.state_dict() for name, obj in self.extra.items()}, staged / EXTRA_STATE)
        final = commit(staged, self.folder, _meta(self.identity, step, max_steps), self.runner.keep)
        self.saved.append(final)
        _say(f"checkpoint {final.relative_to(REPO) if final.is_relative_to(REPO) else final}")


def _save_only_trainable(trainer) -> None:
    """A Trainer whose model is a plain module around a peft model (sft_lora's CompletionLM, with the
    SFR head) saves the whole state dict, base included (~1 GB at 270M): make it save the parameters
    that train. Its resume loads them with ``load_state_dict(strict=False)``, the base staying as loaded."""
    from peft import PeftModel
    from transformers import PreTrainedModel

    if isinstance(trainer.model, PreTrainedModel | PeftModel):
        return  # peft's save_pretrained already writes the adapter alone
    save = trainer._save

    def save_trainable(output_dir: str | None = None, state_dict: dict | None = None) -> None:
        if state_dict is None:
            state_dict = {
                n: p.detach().contiguous() for n, p in trainer.model.named_parameters() if p.requires_grad
            }
        save(output_dir, state_dict=state_dict)

    trainer._save = save_trainable

    def check_load(load_result) -> None:  # the frozen base is missing from the file by design
        trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
        missing = trainable & set(load_result.missing_keys)
        if missing or load_result.unexpected_keys:
            raise ResumeError(
                f"the checkpoint does not hold this model's trainable parameters: missing {sorted(missing)[:3]}, "
                f"unexpected {sorted(load_result.unexpected_keys)[:3]}"
            )

    trainer._issue_warnings_after_load = check_load


def _meta(identity: Mapping, step: int, max_steps: int) -> dict:
    return {
        **identity,
        "step": step,
        "max_steps": max_steps,
        "git": git_revision(),
        "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _pick(folder: Path, identity: Mapping) -> Path | None:
    checkpoint, skipped = latest_complete(folder)
    for note in skipped:
        _say(f"runner: {note}")
    if checkpoint is None:
        _say(f"runner: no complete checkpoint in {folder}: starting at step 0")
        return None
    check_compatible(read_meta(checkpoint), identity, checkpoint)
    _say(f"runner: resuming from {checkpoint} (step {read_meta(checkpoint)['step']})")
    return checkpoint


def _load_extra(checkpoint: Path, extra: Mapping[str, Stateful]) -> None:
    path = checkpoint / EXTRA_STATE
    if not path.is_file():
        return
    state = torch.load(path, weights_only=False)  # our own file, listed with its sha256 in killah_run.json
    for name, obj in extra.items():
        if name in state:
            obj.load_state_dict(state[name])


# ---------------------------------------------------------------- a custom loop


class LoopRun:
    """The runner around a plain training loop, on accelerate's ``save_state``/``load_state``::

        run = LoopRun(cfg, RECIPE, base_sha256)
        projector, opt, sched = run.prepare(projector, opt, sched)   # accelerate holds and saves them
        run.register(TrainableParameters(lm), RandomState(rng))       # and these (only what trains)
        for step in range(run.start(), max_steps):
            ...
            if run.step_end(step + 1, loss.item()):
                break                                                 # runner.stop_after reached

    Without ``runner`` options it only prints the status line: ``start()`` returns 0 and nothing is saved.
    """

    def __init__(self, cfg: Any, recipe: str, base_sha256: str | None = None) -> None:
        from accelerate import Accelerator

        self.cfg, self.runner = cfg, cfg.runner
        self.folder = run_dir(cfg)
        self.identity = run_identity(cfg, recipe, base_sha256)
        self.accelerator = Accelerator(cpu=not torch.cuda.is_available())
        self.cadence = Cadence(self.runner, cfg.train.max_steps)
        self.status = Status(cfg.train.max_steps, self.folder if self.runner.active else None)
        self.saved: list[Path] = []
        self.resumed_from: Path | None = None

    def prepare(self, *objects):
        return self.accelerator.prepare(*objects)

    def register(self, *objects: Stateful) -> None:
        self.accelerator.register_for_checkpointing(*objects)

    def start(self) -> int:
        """The first step to run: 0, or the step of the checkpoint resumed (its state loaded)."""
        shutil.rmtree(self.folder / STAGING, ignore_errors=True)
        step = 0
        if self.runner.resume:
            checkpoint = _pick(self.folder, self.identity)
            if checkpoint is not None:
                self.accelerator.load_state(str(checkpoint))
                step = read_meta(checkpoint)["step"]
                self.resumed_from = checkpoint
        self.status = Status(self.cfg.train.max_steps, self.status.folder, step)
        return step

    def step_end(self, step: int, loss: float | None = None, last_eval: dict | None = None) -> bool:
        """After ``step`` steps: the status line, a checkpoint when due; True when the process should stop."""
        line = self.status.update(step, loss, last_eval)
        if step % max(self.cfg.train.log_every, 1) == 0:
            _say(line)
        save, stop = self.cadence.due(step)
        if save:
            self.save(step)
        return stop

    def save(self, step: int) -> Path:
        staged = self.folder / STAGING / f"checkpoint-{step}"
        shutil.rmtree(staged, ignore_errors=True)
        self.accelerator.save_state(str(staged))
        final = commit(
            staged, self.folder, _meta(self.identity, step, self.cfg.train.max_steps), self.runner.keep
        )
        self.saved.append(final)
        _say(f"checkpoint {final}")
        return final
