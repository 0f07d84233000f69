"""The writer's own choices, recorded (with consent) to train a personal adapter by DPO.

One append-only JSON-lines file in the user's data dir (``preferences.jsonl``, mode 0600: it holds
the writer's text). Each line is one record with a schema version ``v``:

    {"v": 1, "kind": "ghost", "t": 1764120000.0, "context": "...", "suggestion": " the sea.",
     "accepted": false, "typed": " a storm."}                      accepted or dismissed ghost text
    {"v": 1, "kind": "rephrase", "t": ..., "source": "...", "chosen": "...", "rejected": ["..."]}
    {"v": 1, "kind": "edit", "t": ..., "context": "...", "accepted": " the sea.", "edited": " the grey sea."}

``pairs()`` turns them into DPO pairs in the engine's own prompt format (``engine.prompts``), so
the personal adapter learns exactly what it meets at inference:

- a dismissed ghost with something typed instead: prompt = autocomplete prompt of the context,
  chosen = what the writer typed, rejected = the suggestion;
- an edit right after accepting: chosen = the edited text, rejected = the accepted text;
- a Rephrase choice: prompt = rephrase prompt of the source, chosen = the applied candidate,
  rejected = each shown candidate not applied (the training format: " " + text + "\\n").

An accepted ghost makes no pair on its own (nothing was rejected); it counts towards the
acceptance rate shown to the writer.

Nothing is recorded while ``recording`` is off (the app's "Record my choices" setting, off until
the writer turns it on). A log with lines that cannot be read (a crash mid-write, another program,
a bad disk) is set aside whole under a timestamped name and its readable lines are kept.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from engine import paths, prompts
from engine.errors import KillahError

LOG_NAME = "preferences.jsonl"
SET_ASIDE_GLOB = "preferences.corrupt-*.jsonl"
SCHEMA_VERSION = 1
KINDS = ("ghost", "rephrase", "edit")
MIN_PAIRS = 16  # fewer than this moves a LoRA by noise more than by the writer's taste
MAX_FIELD_CHARS = 4000  # a context longer than the prompt window is cut: the model never sees more


# The start of the personal-adapter recipe's message when its held-out check refuses an update; the
# app counts such a run as done (the same choices are not trained on again while idle).
WORSE_UPDATE = "This update would make your suggestions worse"


class NotEnoughChoices(KillahError):
    """Too few recorded choices to learn from."""


@dataclass(frozen=True)
class PreferencePair:
    prompt: str  # in the engine's prompt format for the mode
    chosen: str
    rejected: str
    kind: str  # the record kind it came from

    def as_row(self) -> dict[str, str]:
        return {"prompt": self.prompt, "chosen": self.chosen, "rejected": self.rejected}


def default_log_path() -> Path:
    return paths.data_dir() / LOG_NAME


def _open_private_append(path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o600)
    os.chmod(path, 0o600)  # an older file made under a looser umask is tightened too
    return fd


def _ends_mid_line(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"
    except (FileNotFoundError, OSError):  # missing or empty (seek before the start)
        return False


def _context_tail(text: str) -> str:
    # Only the prompt window ever reaches the model: keeping more would store text for nothing.
    return prompts.context_window(text, MAX_FIELD_CHARS)


def _valid(record: object) -> bool:
    """Shape check of a version-1 record (a newer version is kept but not interpreted)."""
    if not isinstance(record, dict) or not isinstance(record.get("v"), int):
        return False
    if record["v"] > SCHEMA_VERSION:
        return True
    fields = {
        "ghost": {"context": str, "suggestion": str, "accepted": bool, "typed": str},
        "rephrase": {"source": str, "chosen": str, "rejected": list},
        "edit": {"context": str, "accepted": str, "edited": str},
    }.get(record.get("kind"))
    if fields is None:
        return False
    ok = all(isinstance(record.get(k), t) for k, t in fields.items())
    return ok and all(isinstance(r, str) for r in record.get("rejected", []))


class PreferenceLog:
    """Append-only log of the writer's choices; thread-safe (the UI thread records, a reader counts)."""

    def __init__(self, path: Path | None = None, recording: bool = False) -> None:
        self.path = Path(path) if path else default_log_path()
        self.recording = recording
        self.set_aside_message = ""  # why a corrupt log was set aside ("" if it was not)
        self._lock = threading.Lock()

    # -- recording --------------------------------------------------------------

    def _append(self, record: dict) -> bool:
        if not self.recording:
            return False
        line = json.dumps({"v": SCHEMA_VERSION, "t": round(time.time(), 3), **record}, ensure_ascii=False)
        with self._lock:
            lead = "\n" if _ends_mid_line(self.path) else ""  # a write cut short must not swallow this one
            fd = _open_private_append(self.path)
            try:
                os.write(fd, (lead + line + "\n").encode("utf-8"))  # one write: no half line from us
            finally:
                os.close(fd)
        return True

    def record_ghost(self, context: str, suggestion: str, accepted: bool, typed: str = "") -> bool:
        """A ghost text the writer took (``accepted``) or dropped, and what they typed instead."""
        if not suggestion.strip():
            return False
        return self._append(
            {"kind": "ghost", "context": _context_tail(context), "suggestion": suggestion,
             "accepted": bool(accepted), "typed": "" if accepted else typed}
        )

    def record_rephrase(self, source: str, chosen: str, rejected: Iterable[str]) -> bool:
        """The Rephrase candidate the writer applied and the shown ones they did not."""
        others = [r for r in rejected if r.strip() and r.strip() != chosen.strip()]
        if not chosen.strip() or not others:
            return False
        return self._append({"kind": "rephrase", "source": source[:MAX_FIELD_CHARS], "chosen": chosen,
                             "rejected": others})

    def record_edit(self, context: str, accepted: str, edited: str) -> bool:
        """The writer changed accepted text right away: ``edited`` is what they kept instead."""
        if accepted == edited or not edited.strip():
            return False
        return self._append({"kind": "edit", "context": _context_tail(context), "accepted": accepted,
                             "edited": edited})

    # -- reading ----------------------------------------------------------------

    def records(self) -> list[dict]:
        """Every readable record, oldest first. A log with bad lines is set aside (see module doc)."""
        with self._lock:
            try:
                raw = self.path.read_bytes()
            except FileNotFoundError:
                return []
            good, bad = [], 0
            for line in raw.split(b"\n"):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    bad += 1
                    continue
                if _valid(record):
                    good.append(record)
                else:
                    bad += 1
            if bad:
                self._set_aside(good, bad)
            return good

    def _set_aside(self, good: list[dict], bad: int) -> None:
        """Keep the damaged file under a timestamped name, rewrite the log with the good lines."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        aside = self.path.with_name(f"preferences.corrupt-{stamp}.jsonl")
        os.replace(self.path, aside)
        tmp = self.path.with_name(f".{LOG_NAME}.tmp")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in good)
        os.replace(tmp, self.path)
        self.set_aside_message = (
            f"{bad} unreadable line{'s' if bad != 1 else ''} in your recorded choices; the file was set "
            f"aside as {aside.name} and its {len(good)} readable choice{'s' if len(good) != 1 else ''} kept."
        )

    def count(self) -> int:
        return len(self.records())

    def last(self, n: int = 5) -> list[dict]:
        return self.records()[-n:]

    def summary(self) -> str:
        """One line for the Style memory panel."""
        records = self.records()
        ghosts = [r for r in records if r.get("kind") == "ghost"]
        taken = sum(1 for r in ghosts if r["accepted"])
        state = "recording" if self.recording else "not recording"
        return (
            f"Choices: {len(records)} recorded ({state}); ghost text taken {taken} of {len(ghosts)}; "
            f"{len(self.pairs(minimum=0))} training pairs"
        )

    def pairs(self, minimum: int = MIN_PAIRS) -> list[PreferencePair]:
        """DPO pairs from the records; NotEnoughChoices when fewer than ``minimum``."""
        out = [p for r in self.records() if r.get("v") == SCHEMA_VERSION for p in record_pairs(r)]
        if len(out) < minimum:
            raise NotEnoughChoices(
                f"Not enough choices yet to learn from ({len(out)} of {minimum} needed). Keep writing with "
                "\"Record my choices\" on: each suggestion you replace with your own words, each Rephrase "
                "you pick and each accepted suggestion you rework counts."
            )
        return out

    # -- deleting ---------------------------------------------------------------

    def delete_all(self) -> int:
        """Remove the log and any set-aside copies (with the style memory's "delete everything")."""
        removed = 0
        with self._lock:
            for path in [self.path, *self.path.parent.glob(SET_ASIDE_GLOB)]:
                try:
                    path.unlink()
                    removed += 1
                except FileNotFoundError:
                    pass
        return removed


def record_pairs(record: dict) -> list[PreferencePair]:
    """The DPO pairs one version-1 record gives (none for an accepted ghost)."""
    kind = record["kind"]
    if kind == "ghost":
        typed, suggestion = record["typed"], record["suggestion"]
        if record["accepted"] or not typed.strip() or typed.strip() == suggestion.strip():
            return []
        return [PreferencePair(prompts.autocomplete_prompt(record["context"]), typed, suggestion, kind)]
    if kind == "edit":
        return [PreferencePair(prompts.autocomplete_prompt(record["context"]), record["edited"],
                               record["accepted"], kind)]
    prompt = prompts.rephrase_prompt(record["source"])

    def answer(text: str) -> str:
        return " " + " ".join(text.split()) + "\n"  # the rephrase adapter's training format

    return [PreferencePair(prompt, answer(record["chosen"]), answer(r), kind) for r in record["rejected"]]
