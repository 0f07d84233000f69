"""Runtime composition of LoRA adapters per mode, on one loaded base (no reload on switch).

    autocomplete = base + task_autocomplete
    continue     = base + persona + audio + task_continue
    rephrase     = base + persona + audio + task_rephrase
    dictation    = base + persona + audio + task_dictation
    rephrase_style = base + task_rephrase_style   (stand-in while it is not shipped: task_rephrase)

Every adapter in the manifest that was trained for the loaded base is loaded
once, by sha256-verified file (``engine.manifest``), into one peft model. A mode
switch only changes which adapters are active: peft's
``base_model.set_adapter([...])`` runs every active adapter on each layer and
sums their outputs, which equals adding all their deltas to W (measured: max
logit difference ~5e-5). ``add_weighted_adapter(combination_type="linear")``
does NOT equal that sum, so it is not used.

peft injects the LoRA layers into ``loaded.model`` in place, so a backend that
holds ``loaded.model`` runs the active composition without any change. After an
activation that changed the set (``ActiveAdapters.changed``), the caller must
drop its KV cache: the cached keys/values were computed with the old weights.

Adapters that are not installed (``audio`` until it is trained) are left out and
named in ``ActiveAdapters.status``. One that has a stand-in (``STAND_INS``) is replaced by it when
the stand-in is installed, and the status names both, so the UI says which adapter serves.

The writer's **personal adapter** (trained by training/recipes/personal_dpo.py on their recorded
choices) lives in the user's data dir, with a manifest of the same form there
(``user_artifacts_root()``). It is read after the shipped adapters, joins the compositions of
``PERSONAL_MODES`` on top of them, and is refused, with the reason in the status, when it was
trained for another base model or on top of other versions of the adapters below it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from engine import paths
from engine.errors import ArtifactError

MODE_ADAPTERS: dict[str, tuple[str, ...]] = {
    "autocomplete": ("task_autocomplete",),
    "continue": ("persona", "audio", "task_continue"),
    "rephrase": ("persona", "audio", "task_rephrase"),
    "dictation": ("persona", "audio", "task_dictation"),
    # Rephrase in my style: the RL adapter (training/recipes/grpo_style.py) alone. It was warm-started
    # from task_rephrase and holds its weights, and it was trained and evaluated without persona
    # (training/eval/style_rl.py composes base + one adapter per row).
    "rephrase_style": ("task_rephrase_style",),
}
# An adapter that is not installed (or was rejected) is served by its stand-in when that one is:
# task_rephrase is the RL adapter's warm-up start, the eval's "SFT warm-up" row, so "Rephrase in my
# style" works, and says so, before any RL adapter ships.
STAND_INS: dict[str, str] = {"task_rephrase_style": "task_rephrase"}
ADAPTER_KIND = "lora_adapter"
PERSONAL = "personal"  # the writer's own adapter, in the user's manifest
PERSONAL_MODES = ("autocomplete",)  # the compositions it was trained on top of (its recipe's stack_on)
# The writer's style adapter ("Learn my style", training/recipes/personal_style.py): trained on their own
# paragraphs on the plain base, so every writing mode composes it (docs/persona.md, issue 24).
PERSONAL_STYLE = "personal_style"
USER_ADAPTER_MODES: dict[str, tuple[str, ...]] = {
    PERSONAL: PERSONAL_MODES,
    PERSONAL_STYLE: ("autocomplete", "continue", "rephrase"),
}
USER_ARTIFACTS = "artifacts"


def user_artifacts_root() -> Path:
    """The user's assets folder: manifest.json + adapters/personal (private, under the data dir)."""
    return paths.data_dir() / USER_ARTIFACTS

ProgressFn = Callable[[str, float], None]
Names = tuple[str, ...]


@dataclass(frozen=True)
class ActiveAdapters:
    mode: str
    active: tuple[str, ...]  # what runs now, in composition order
    missing: tuple[str, ...] = ()  # wanted by the mode but not installed (or rejected)
    disabled: tuple[str, ...] = ()  # installed but switched off by the user
    changed: bool = False  # the active set differs from before: drop KV caches
    seconds: float = 0.0  # time the switch took
    status: str = ""
    stand_ins: tuple[tuple[str, str], ...] = ()  # (missing adapter, the installed one serving for it)


@dataclass
class _Loaded:
    name: str
    folder: Path
    metrics: dict = field(default_factory=dict)


def _mode_name(mode) -> str:
    return str(getattr(mode, "value", mode))


class AdapterRegistry:
    """Loads the base's adapters once; ``activate(mode)`` switches compositions in milliseconds."""

    def __init__(
        self,
        loaded,
        root: Path | None = None,
        names: Sequence[str] | None = None,
        strict: bool = False,
        progress: ProgressFn | None = None,
        modes: dict[str, Sequence[str]] | None = None,
        user_root: Path | None = None,
    ) -> None:
        """``loaded``: an ``engine.models.LoadedModel``. ``names``: restrict to these artifacts.
        ``strict``: raise ArtifactError for a tampered / wrong-base adapter instead of skipping it.
        ``user_root``: the user's manifest folder (default ``user_artifacts_root()``)."""
        from engine.manifest import load_manifest

        self.loaded = loaded
        self.modes = {k: tuple(v) for k, v in (modes or MODE_ADAPTERS).items()}
        self.errors: dict[str, str] = {}  # adapter name -> why it was not loaded
        self.adapters: dict[str, _Loaded] = {}
        self.peft_model = None
        self._enabled: dict[str, bool] = {}
        self._active: tuple[str, ...] | None = None
        self._layers_on = True  # peft enables the adapter layers when it loads them
        self._lock = threading.Lock()
        self.strict = strict
        self._user_root = user_root

        entries = {n: a for n, a in load_manifest(root).items() if a.kind == ADAPTER_KIND}
        wanted = [n for n in entries if names is None or n in names]
        for i, name in enumerate(sorted(wanted)):
            if progress:
                progress(f"loading adapter {name}", i / max(1, len(wanted)))
            self._add(entries[name])
        for user_name in USER_ADAPTER_MODES:
            if names is None or user_name in names:
                self.load_personal(user_name)
        if self.peft_model is not None:
            self._apply(())  # start from the plain base
        if progress:
            progress("adapters ready", 1.0)

    # -- loading --------------------------------------------------------------

    @property
    def user_root(self) -> Path:
        """Looked up when used: the data dir may move (KILLAH_HOME) while one engine stays loaded."""
        return self._user_root if self._user_root is not None else user_artifacts_root()

    def _add(self, art) -> bool:
        """Verify and load one manifest entry; a refused one is named in ``errors`` (raised if strict)."""
        try:
            art.verify()
            art.require_base(self.loaded.info)
            self._require_stack(art)
            folder = self._load(art.name, art.folder)
        except ArtifactError as exc:
            if self.strict:
                raise
            self.errors[art.name] = str(exc)
            return False
        self.errors.pop(art.name, None)
        self.adapters[art.name] = _Loaded(art.name, folder, dict(art.metrics))
        self._enabled[art.name] = True
        return True

    def _require_stack(self, art) -> None:
        """An adapter trained on top of others learned what *those versions* did not: refuse it otherwise."""
        from engine.export.compose import adapter_sha256

        if art.name not in USER_ADAPTER_MODES:
            return  # shipped adapters are retrained and shipped together; the check is for the user's own
        for below, sha in dict(art.extra.get("stack_on") or {}).items():
            if below not in self.adapters or adapter_sha256(self.adapters[below].folder) != sha:
                raise ArtifactError(
                    f"The adapter {art.name!r} was trained on top of another version of {below!r} "
                    "(Killah was updated since): use \"Learn from my choices\" again to retrain it."
                )

    def load_personal(self, name: str = PERSONAL) -> bool:
        """(Re)load one of the writer's adapters (``USER_ADAPTER_MODES``) from the user's manifest; True
        if it is loaded now.

        Its compositions get it on top whenever the user's manifest lists it, so a refused one (damaged,
        another base) is named in the status with the reason and the modes run without it.
        """
        from engine.manifest import load_manifest

        self.remove(name)
        try:
            entry = load_manifest(self.user_root).get(name)
        except ArtifactError as exc:
            entry, self.errors[name] = None, str(exc)
        if entry is None or entry.kind != ADAPTER_KIND:
            return False
        for mode in USER_ADAPTER_MODES[name]:
            if name not in self.modes.get(mode, ()):
                self.modes[mode] = (*self.modes.get(mode, ()), name)
        added = self._add(entry)
        if added:
            self._active = None  # peft may have switched to the new adapter: re-apply on the next activate
            self._layers_on = True
        return added

    def remove(self, name: str) -> None:
        """Unload an adapter (the personal one before it is retrained or deleted)."""
        loaded = self.adapters.pop(name, None)
        self._enabled.pop(name, None)
        self.errors.pop(name, None)
        if name in USER_ADAPTER_MODES:  # shipped names stay in their modes: the status says "not installed"
            self.modes = {m: tuple(n for n in names if n != name) for m, names in self.modes.items()}
        if loaded is None or self.peft_model is None:
            return
        with self._lock:
            if len(self.adapters) == 0:
                self.peft_model.base_model.disable_adapter_layers()
            elif name in (self._active or ()):
                self._apply(tuple(n for n in self._active if n != name))
            self.peft_model.base_model.delete_adapter(name)
            self._active = None  # re-applied on the next activate

    def delete_personal(self, name: str = PERSONAL) -> None:
        """Unload one of the writer's adapters and delete its files and its entry in the user's manifest."""
        self.remove(name)
        delete_user_adapter(name, self.user_root)

    def _load(self, name: str, folder: Path) -> Path:
        """Load one adapter; returns the peft folder it came from (a Bit-LoRA one is unpacked first)."""
        from engine.bitlora import peft_folder

        folder = peft_folder(folder)
        try:
            if self.peft_model is None:
                from peft import PeftModel

                self.peft_model = PeftModel.from_pretrained(
                    self.loaded.model, str(folder), adapter_name=name, is_trainable=False
                )
                self.peft_model.eval()
            else:
                self.peft_model.load_adapter(str(folder), adapter_name=name, is_trainable=False)
        except Exception as exc:  # noqa: BLE001 - peft raises many kinds for a bad folder
            raise ArtifactError(
                f"The adapter {name!r} in {folder} could not be loaded: {type(exc).__name__}: {exc}"
            ) from exc
        return folder

    def add_unshipped(self, name: str, folder: Path) -> None:
        """Load an adapter folder that is not in the manifest (evaluating a candidate before shipping it).
        No sha256 or base check: never used by the engine itself."""
        if name in self.adapters:
            raise ArtifactError(f"An adapter named {name!r} is already loaded.")
        self.adapters[name] = _Loaded(name, self._load(name, Path(folder)), {"unshipped": True})
        self._enabled[name] = True
        self._active = None  # peft activates a newly loaded adapter: re-apply on the next call
        self._layers_on = True

    # -- composition ----------------------------------------------------------

    @property
    def installed(self) -> tuple[str, ...]:
        return tuple(sorted(self.adapters))

    @property
    def active(self) -> tuple[str, ...]:
        return self._active or ()

    def folders(self, names: Sequence[str]) -> list[Path]:
        """The adapter folders of ``names`` (what an ExecuTorch program of that composition merges)."""
        return [self.adapters[n].folder for n in names]

    def set_enabled(self, name: str, enabled: bool) -> None:
        """Per-adapter switch for A/B in the settings; takes effect on the next ``activate``."""
        if name not in self.adapters:
            raise ArtifactError(
                f"No adapter named {name!r} is loaded (loaded: {', '.join(self.installed) or 'none'})."
            )
        self._enabled[name] = bool(enabled)

    def is_enabled(self, name: str) -> bool:
        return self._enabled.get(name, False)

    def plan(self, mode) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """(active, missing, disabled) for a mode, without applying it."""
        active, missing, disabled, _ = self._resolve(mode)
        return active, missing, disabled

    def _resolve(self, mode) -> tuple[Names, Names, Names, tuple[tuple[str, str], ...]]:
        """(active, missing, disabled, stand-ins) of a mode's composition."""
        key = _mode_name(mode)
        if key not in self.modes:
            raise ValueError(f"unknown mode {key!r}; known: {', '.join(self.modes)}")
        active: list[str] = []
        missing: list[str] = []
        disabled: list[str] = []
        stood: list[tuple[str, str]] = []
        for name in self.modes[key]:
            if name in self.adapters:
                (active if self._enabled[name] else disabled).append(name)
                continue
            missing.append(name)
            stand_in = STAND_INS.get(name)
            if stand_in in self.adapters and self._enabled[stand_in] and stand_in not in active:
                active.append(stand_in)
                stood.append((name, stand_in))
        return tuple(active), tuple(missing), tuple(disabled), tuple(stood)

    def activate(self, mode) -> ActiveAdapters:
        """Make ``mode``'s composition the active one (the base stays loaded)."""
        active, missing, disabled, stood = self._resolve(mode)
        started = time.perf_counter()
        with self._lock:
            changed = active != self._active
            if changed:
                self._apply(active)
        seconds = time.perf_counter() - started
        return ActiveAdapters(
            _mode_name(mode),
            active,
            missing,
            disabled,
            changed,
            seconds,
            self._status(_mode_name(mode), active, missing, disabled, stood),
            stood,
        )

    def compose(self, names: Sequence[str]) -> bool:
        """Activate an explicit list of loaded adapters (evaluation, A/B). Returns whether it changed."""
        unknown = [n for n in names if n not in self.adapters]
        if unknown:
            raise ArtifactError(f"Adapters not loaded: {', '.join(unknown)}")
        with self._lock:
            changed = tuple(names) != self._active
            if changed:
                self._apply(tuple(names))
        return changed

    def _apply(self, names: tuple[str, ...]) -> None:
        if self.peft_model is None:
            self._active = ()
            return
        tuner = self.peft_model.base_model
        if names:
            if not self._layers_on:  # each call walks every module: only when coming from the plain base
                tuner.enable_adapter_layers()
                self._layers_on = True
            # Several names at once: each LoRA layer adds every active adapter's B A x (the summed deltas).
            tuner.set_adapter(list(names), inference_mode=True)
        else:
            tuner.disable_adapter_layers()
            self._layers_on = False
        self._active = names

    def _status(self, mode: str, active, missing, disabled, stood=()) -> str:
        parts = " + ".join(["base", *active])
        serving = dict(stood)
        notes, replaced = [], []
        for name in missing:
            why = self.errors.get(name)
            note = f"{name} {'rejected: ' + why if why else 'not installed yet'}"
            if name in serving:
                replaced.append(f"{note}: {serving[name]} serves in its place")
            else:
                notes.append(note)
        notes += [f"{n} switched off" for n in disabled]
        if notes:
            notes[-1] += f"; composed without {'it' if len(notes) == 1 else 'them'}"
        said = "; ".join(replaced + notes)
        return f"{mode}: {parts}" + (f" ({said})" if said else "")

    def status(self, mode) -> str:
        active, missing, disabled, stood = self._resolve(mode)
        return self._status(_mode_name(mode), active, missing, disabled, stood)


def delete_user_adapter(name: str = PERSONAL, root: Path | None = None) -> bool:
    """Remove a user adapter's entry and files (the style memory's "delete everything" does this too)."""
    import shutil

    from engine.manifest import load_manifest, unregister_artifact

    root = root or user_artifacts_root()
    try:
        entry = load_manifest(root).get(name)
    except ArtifactError:
        entry = None
    if entry is not None:
        unregister_artifact(name, root)
        if entry.folder.resolve().is_relative_to(root.resolve()) and entry.folder.resolve() != root.resolve():
            shutil.rmtree(entry.folder, ignore_errors=True)
    for stray in (root / "adapters").glob(f"{name}-*"):  # personal_style's folders, a stopped run's too
        shutil.rmtree(stray, ignore_errors=True)
    return entry is not None
