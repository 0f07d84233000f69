"""The editor's settings: one JSON file in ``engine.paths.config_dir()``.

A missing or damaged file gives the defaults (a damaged one is kept aside as
``settings.json.bad`` so nothing the user wrote is silently destroyed).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from app.files import write_json_atomic
from engine import paths

log = logging.getLogger("killah.app")

MAX_RECENT = 10


def _default_min_p() -> dict[str, float]:
    # The engine's own defaults (engine/modes.py); kept here so the dialog can show them.
    return {"autocomplete": 0.2, "continue": 0.1, "rephrase": 0.15}


@dataclass
class Settings:
    model: str = ""  # "" = the embedded default model; else a registry name or a folder/GGUF path
    # Serve each mode from its INT8 ExecuTorch program (8-bit weights, int8 activations) once it is
    # built (minutes, in the background, on first use of the mode; docs/executorch.md); eager
    # PyTorch until then, or always when off.
    fast_programs: bool = True
    autocomplete: bool = True
    debounce_ms: int = 150
    ghost_mid_line: bool = False  # also suggest with text to the right of the cursor
    # Keep the engine's cache current with the text while typing (incremental prefill), so that when
    # the pause comes only decoding remains (docs/benchmarks.md, "Real-typing replay").
    prefill_while_typing: bool = True
    # While a suggestion is shown, prepare the one after it in the background (llama.vim): taken or
    # typed through, the next is there at once (app/completion.py, "speculation"). Off: on the replay
    # bench only 4 of 52 guesses were shown and request -> first piece p95 rose 24 -> 103 ms
    # (docs/benchmarks.md, "Real-typing replay").
    speculate_next: bool = False
    # Show a suggestion only when its mean log-prob per token reaches min_logprob (chosen on the
    # replay bench for a target precision: docs/benchmarks.md, "Confidence gate").
    confidence_gate: bool = False
    min_logprob: float = -1.5
    min_p: dict[str, float] = field(default_factory=_default_min_p)
    persona: bool = True
    # The writer's choices (suggestions taken or replaced, Rephrase picks) are recorded for "Learn from
    # my choices" only with their consent: off until they turn it on (app/choices.py).
    record_choices: bool = False
    personal_adapter: bool = True  # the personal adapter, once learned, joins autocomplete
    # Learn from my choices by itself after a while without typing, when enough new choices were
    # recorded (app/choices.py IDLE_*): off until the writer turns it on.
    learn_when_idle: bool = False
    learned_pairs: int = 0  # training pairs in the log when the last update was trained
    microphone: str = ""  # "" = the system default input device
    # Dictation recognizer (engine/audio/recognizer.RECOGNIZERS); "" = the default the benchmark chose.
    recognizer: str = ""
    # Names and rare words dictation should favour (with those of the style memory's documents).
    dictation_vocabulary: list[str] = field(default_factory=list)
    # Dictation clean-up (fillers, stutters, spoken punctuation): the rules are instant; the model's
    # version follows when the task_dictation adapter is installed (it beat the rules in the eval,
    # docs/adapters.md "task_dictation"; without the adapter the engine returns the rules' text).
    tidy_dictation: bool = True
    tidy_dictation_model: bool = True
    autosave_seconds: int = 5
    font_size: int = 12
    recent_files: list[str] = field(default_factory=list)
    # Folders whose documents the user declined to add to the style memory (asked once per folder).
    style_declined_folders: list[str] = field(default_factory=list)

    @property
    def tidy_mode(self) -> str:
        """For DictationController.set_tidy: "off" | "rules" | "model"."""
        if not self.tidy_dictation:
            return "off"
        return "model" if self.tidy_dictation_model else "rules"

    def add_recent(self, path: str | os.PathLike) -> None:
        path = str(Path(path).absolute())
        self.recent_files = [path, *[p for p in self.recent_files if p != path]][:MAX_RECENT]


def settings_path() -> Path:
    return paths.config_dir() / "settings.json"


def load_settings(path: Path | None = None) -> Settings:
    path = path or settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(raw, dict):
            raise ValueError("not an object")
    except FileNotFoundError:
        return Settings()
    except (OSError, ValueError) as exc:
        log.warning("settings: %s is unreadable (%s); using defaults", path, exc)
        try:
            path.replace(path.with_name(path.name + ".bad"))
        except OSError:
            pass
        return Settings()
    defaults = Settings()
    known = {f.name for f in fields(Settings)}
    values = {}
    for key, value in raw.items():
        # A value of the wrong type (hand-edited file) falls back to the default for that key only.
        if key in known and type(value) is type(getattr(defaults, key)):
            values[key] = value
    settings = Settings(**values)
    settings.min_p = {**_default_min_p(), **{k: float(v) for k, v in settings.min_p.items()}}
    return settings


def save_settings(settings: Settings, path: Path | None = None) -> None:
    """Atomic write: a crash mid-save leaves the previous file."""
    path = path or settings_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, asdict(settings), indent=2)
