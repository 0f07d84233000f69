"""Soak: the real editor driven by scripted use for an hour; RSS sampled, every edit checked.

    nice -n 10 .venv/bin/python tests/bench/soak_editor.py [--minutes 60] [--sample-s 10]
        [--warmup-min 15] [--bound-mb 150] [--backend eager] [--json out.json]

One process holds the real ``MainWindow`` (offscreen Qt) on the real engine and repeats a round:

- open a document (rotating .txt .md .rtf .docx .pdf, built fresh each round);
- type sentences key by key, pause for the ghost text, accept it (Tab) or dismiss it (Esc);
- Continue (stopped with Esc when it runs long) and Rephrase (accepted or rejected);
- dictate a sentence: espeak-ng speech played into a PulseAudio virtual microphone
  (tests/audio/pulse_mic.py), heard by the app's own DictationController;
- save as .txt / .md / .docx (.rtf and .pdf are import-only in Killah) and read the file back;
- every few rounds: index a folder into the style memory, toggle "Write in my style";
- every ``--switch-every-min``: switch the model, gemma3-270m <-> smollm2-135m (the engine
  worker's own load path, the one the app uses at start).

After every action the document must equal what the script typed or accepted (the "lost-text"
check); a save must read back equal; the autosave must catch up with the buffer. RSS comes from
/proc/self/statm every ``--sample-s`` seconds.

The bound: RSS may grow at most ``--bound-mb`` (150 MB) after the warm-up. Growth = the highest
sample after the warm-up minus the highest sample during it; the models alternate, so the highest
samples of both periods are taken with the larger model loaded. The exit code is 1 if the bound is
broken, any text was lost, or the app raised an unhandled exception.

Everything lives in a temporary KILLAH_HOME / HOME / XDG dirs (never the user's files); only the
converted-model cache (KILLAH_CACHE_DIR, default .data/cache) is shared with the tests.
The backend is eager PyTorch by default: the app's own default ("auto") spends its first
minutes building ExecuTorch programs at 2.4-3.8 GB each, which is a different measurement.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "audio"), str(REPO / "tests" / "engine")]

MODELS = ("gemma3-270m", "smollm2-135m")
OPEN_FORMATS = (".txt", ".md", ".rtf", ".docx", ".pdf")
SAVE_FORMATS = (".txt", ".md", ".docx")  # engine.documents.SUPPORTED_SAVE
SENTENCES = (
    "The letter arrived on Monday morning, and she read it twice before breakfast.",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
    "He had walked along the river for an hour without meeting anyone.",
    "The old house at the end of the street had been empty since the war.",
    "Nobody in the village remembered who had planted the orchard.",
    "She closed the notebook and looked out at the grey water of the bay.",
    "By evening the rain had stopped and the road was dry again.",
    "The train was late, so they sat in the small station and talked.",
)
SPOKEN = (
    "She walked along the river.",
    "The road was long and empty.",
    "The letter arrived on Monday morning.",
)
MB = 1024 * 1024


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MB


def peak_rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Tally:
    actions: Counter = field(default_factory=Counter)
    notes: Counter = field(default_factory=Counter)  # not failures: no ghost offered, empty rewrite
    checks: int = 0
    lost: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # unhandled exceptions (app or script)
    messages: Counter = field(default_factory=Counter)  # error dialogs the user would have seen


def make_env(root: Path, backend: str) -> None:
    """Private dirs for everything the app writes, set before Qt, torch or sounddevice load."""
    for sub in ("home", "xdg/config", "xdg/data", "xdg/cache", "killah"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    os.environ.update({
        "HOME": str(root / "home"), "XDG_CONFIG_HOME": str(root / "xdg/config"),
        "XDG_DATA_HOME": str(root / "xdg/data"), "XDG_CACHE_HOME": str(root / "xdg/cache"),
        "KILLAH_HOME": str(root / "killah"), "QT_QPA_PLATFORM": "offscreen", "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1", "KILLAH_BACKEND": backend,
    })
    os.environ.setdefault("KILLAH_CACHE_DIR", str(REPO / ".data" / "cache"))


def start_mic():
    """The virtual microphone, or None (with the reason printed) where PulseAudio/espeak are missing."""
    from pulse_mic import VirtualMic, missing_binaries

    missing = missing_binaries()
    if missing:
        print(f"soak: no dictation (missing {', '.join(missing)})", flush=True)
        return None
    return VirtualMic().start()


def normalized(text: str) -> str:
    return " ".join(text.split())


class Soak:
    def __init__(self, args: argparse.Namespace, root: Path, mic) -> None:
        from PySide6.QtWidgets import QApplication

        from app.main import attach_voice
        from app.main_window import MainWindow
        from app.prompter import ScriptedPrompter

        self.args = args
        self.root = root
        self.mic = mic
        self.rng = random.Random(args.seed)
        self.tally = Tally()
        self.samples: list[tuple[float, float, str, str]] = []  # (t, MB, model, action)
        self.action = "start"
        self.docs = root / "documents"
        self.style_folder = root / "style-folder"
        self.docs.mkdir()
        self.style_folder.mkdir()
        self.app = QApplication.instance() or QApplication(["soak"])
        tally = self.tally

        class SoakPrompter(ScriptedPrompter):
            def question(self, title, message, default_yes=True):
                self.messages.append(("question", title, message))
                # Save a .docx as plain paragraphs: yes. Learn from the documents folder: no (the
                # style folder is added on purpose). Anything else: the safe default.
                return title.startswith("Save as plain") or (default_yes and "Recover" not in title)

            def save_discard_cancel(self, title, message):
                return "discard"  # every buffer was checked (and mostly saved) before it is replaced

            def error(self, title, message):
                super().error(title, message)
                tally.messages[title] += 1
                print(f"soak: error dialog: {title}: {message[:200]}", flush=True)

        self.prompter = SoakPrompter()
        self.window = MainWindow(prompter=self.prompter, model=args.models[0])
        self.model = args.models[0]
        self.window.show()
        self._loaded: list[str] = []
        self.window.client.modelLoaded.connect(self._loaded.append)
        self.window.client.loadFailed.connect(lambda m: self._loaded.append("FAILED: " + m))
        self.dictating = False
        self.late_finals: list[str] = []  # dictation heard after the script stopped waiting for it
        if mic is not None:
            attach_voice(self.window)
            if self.window.dictation is not None:
                self.window.dictation.final_text.connect(self._on_final)
        self.expected = ""
        self.speech = {}
        self.models_seen: set[str] = set()
        self.warm_end: float | None = None  # set once every action and both models have run

    # -- time -----------------------------------------------------------------------------

    def wait(self, ms: int) -> None:
        from PySide6.QtTest import QTest

        end = time.monotonic() + ms / 1000
        while True:
            left = end - time.monotonic()
            if left <= 0:
                break
            QTest.qWait(int(min(left, 0.05) * 1000) + 1)
            self.maybe_sample()

    def wait_until(self, predicate, timeout_s: float, step_ms: int = 50) -> bool:
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if predicate():
                return True
            self.wait(step_ms)
        return bool(predicate())

    def maybe_sample(self, force: bool = False) -> None:
        now = time.monotonic() - self.t0
        if force or not self.samples or now - self.samples[-1][0] >= self.args.sample_s:
            self.samples.append((now, rss_mb(), self.model, self.action))

    # -- checks ---------------------------------------------------------------------------

    @property
    def editor(self):
        return self.window.editor

    @property
    def text(self) -> str:
        return self.editor.toPlainText()

    def _on_final(self, text: str) -> None:
        if not self.dictating:
            self.late_finals.append(text)

    def _late_dictation(self, got: str, want: str) -> bool:
        """The difference is a dictated line that arrived late (inserted at the cursor): nothing was lost."""
        for final in self.late_finals:
            heard = normalized(final).lower()
            if heard and normalized(normalized(got).lower().replace(heard, "", 1)) == normalized(want).lower():
                self.late_finals.remove(final)
                return True
        return False

    def check(self, label: str, expected: str | None = None) -> bool:
        """The lost-text check: the document equals what the script put there."""
        want = self.expected if expected is None else expected
        got = self.text
        self.tally.checks += 1
        if got == want:
            return True
        if self._late_dictation(got, want):
            self.tally.notes["dictation that arrived late (inserted, not lost)"] += 1
            print(f"soak: {label}: a late dictated line was inserted at the cursor", flush=True)
            self.expected = got
            return True
        at = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), min(len(got), len(want)))
        note = f"{label}: document != expected at char {at} (got {got[at:at + 40]!r}, want {want[at:at + 40]!r})"
        self.tally.lost.append(note)
        print("soak: LOST TEXT " + note, flush=True)
        self.expected = got  # go on from what is there, so one fault is counted once
        return False

    def to_end(self) -> None:
        self.editor.moveCursor(self.editor.textCursor().MoveOperation.End)

    # -- actions --------------------------------------------------------------------------

    def key(self, key, modifier=None) -> None:
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        QTest.keyClick(self.editor, key, modifier or Qt.NoModifier)

    def open_document(self, fmt: str, index: int) -> None:
        from docfixtures import write_docx, write_pdf, write_rtf

        paragraphs = [self.rng.choice(SENTENCES) for _ in range(3)]
        paragraphs[0] = f"Round {index}. " + paragraphs[0]
        path = self.docs / f"round{index:03d}{fmt}"
        if fmt in (".txt", ".md"):
            path.write_text("\n".join(paragraphs), encoding="utf-8")
        elif fmt == ".rtf":
            write_rtf(path, paragraphs)
        elif fmt == ".docx":
            write_docx(path, paragraphs)
        else:
            write_pdf(path, [paragraphs])
        self.action = f"open {fmt}"
        document = self.window.documents.open(path)
        self.tally.actions[f"open {fmt}"] += 1
        if document is None:
            self.tally.lost.append(f"open {path.name}: not opened")
            self.expected = self.text
            return
        self.expected = self.text
        if fmt in (".txt", ".md"):
            self.check(f"open {fmt}", "\n".join(paragraphs))
        else:
            self.tally.checks += 1
            missing = [p for p in paragraphs if normalized(p) not in normalized(self.text)]
            if missing:
                self.tally.lost.append(f"open {fmt}: paragraphs missing: {missing}")
        self.to_end()

    def type_sentence(self, sentence: str, accept: bool) -> None:
        from PySide6.QtCore import Qt

        from app.script_hooks import type_keys

        self.action = "type"
        self.to_end()
        self.editor.setFocus()
        if self.expected and not self.expected.endswith((" ", "\n")):
            sentence = " " + sentence
        for ch in sentence:
            type_keys(self.editor, ch)
            self.wait(self.args.key_ms)
        self.expected += sentence
        self.tally.actions["keystrokes"] += len(sentence)
        self.check("typing")
        got_ghost = self.wait_until(
            lambda: bool(self.editor.ghost_text.strip()) and not self.window.client.busy, self.args.ghost_timeout_s
        )
        if not got_ghost or not self.editor.ghost_text.strip():
            self.tally.notes["no ghost offered"] += 1
            return
        ghost = self.editor.ghost_text  # read and key press with no event in between: the same ghost
        if accept:
            self.key(Qt.Key_Tab)
            self.expected += ghost
            self.tally.actions["ghost accepted (Tab)"] += 1
        else:
            self.key(Qt.Key_Escape)
            self.tally.actions["ghost dismissed (Esc)"] += 1
        self.check("ghost accept" if accept else "ghost dismiss")
        if not accept and self.editor.ghost_text:
            self.tally.lost.append("Esc left the ghost on screen")

    def continue_writing(self) -> None:
        from PySide6.QtCore import Qt

        self.action = "continue"
        self.to_end()
        inserted: list[str] = []
        self.window.assist.continueFinished.connect(inserted.append)
        try:
            before = self.text
            self.window.continue_action.trigger()
            if not self.window.assist.busy:
                self.tally.notes["continue refused"] += 1
                return
            self.tally.actions["continue"] += 1
            if not self.wait_until(lambda: not self.window.assist.busy, self.args.continue_s):
                self.key(Qt.Key_Escape)  # stop it: the text written so far stays
                self.tally.actions["continue stopped (Esc)"] += 1
            self.wait_until(lambda: bool(inserted), 30)
            self.wait(300)  # late pieces of a stopped request must not land
            self.expected = before + (inserted[0] if inserted else "")
            self.check("continue")
        finally:
            self.window.assist.continueFinished.disconnect(inserted.append)

    def rephrase(self, accept: bool) -> None:
        from PySide6.QtGui import QTextCursor

        self.action = "rephrase"
        text = self.text
        start = max(text.rfind(". ", 0, len(text) - 2) + 2, len(text) - 160, 0)
        cursor = self.editor.textCursor()
        cursor.setPosition(start)
        cursor.setPosition(len(text), QTextCursor.KeepAnchor)
        self.editor.setTextCursor(cursor)
        ready: list = []
        self.window.assist.rephraseReady.connect(ready.append)
        try:
            self.window.rephrase_action.trigger()
            dialog = self.window.assist.rephrase_dialog
            if not self.window.assist.busy or dialog is None:
                self.tally.notes["rephrase refused"] += 1
                return
            self.tally.actions["rephrase"] += 1
            finished = self.wait_until(lambda: bool(ready), self.args.rephrase_timeout_s)
            rewrite = dialog.rewrite_text() if finished else ""
            if finished and accept and rewrite:
                dialog.accept()
                self.expected = text[:start] + rewrite
                self.tally.actions["rephrase accepted"] += 1
            else:
                dialog.reject()
                self.tally.actions["rephrase rejected"] += 1
                if not finished:
                    self.tally.notes["rephrase timed out"] += 1
                elif not rewrite:
                    self.tally.notes["rephrase empty"] += 1
            self.wait_until(lambda: not self.window.assist.busy, 30)
            self.check("rephrase")
        finally:
            self.window.assist.rephraseReady.disconnect(ready.append)
            self.to_end()

    def dictate(self, sentence: str) -> None:
        from engine.audio.synth import synthesize, with_silence

        controller = self.window.dictation
        if self.mic is None or controller is None:
            return
        self.action = "dictation"
        if sentence not in self.speech:
            self.speech[sentence] = with_silence(synthesize(sentence), 0.2, 0.4)
        self.to_end()
        before = self.text
        finals: list[str] = []
        controller.final_text.connect(finals.append)
        self.dictating = True
        try:
            controller.toggle_action.setChecked(True)  # the menu's "Dictation" toggle
            if not controller.listening or not self.wait_until(controller._listener.ready.is_set, 120):
                self.tally.notes["dictation not ready"] += 1
                return
            self.mic.play(self.speech[sentence], wait=False)
            heard = self.wait_until(lambda: bool(finals), 120)
            self.wait(500)
            self.wait_until(lambda: not self.window.client.busy, 60)  # the model's tidy-up of the line
            self.wait(300)
        finally:
            controller.toggle_action.setChecked(False)
            self.wait_until(lambda: not controller.listening, 30)  # an utterance in flight still lands
            self.wait(300)
            self.dictating = False
            controller.final_text.disconnect(finals.append)
        self.tally.actions["dictation"] += 1
        if not heard:
            self.tally.notes["dictation heard nothing"] += 1
        got = self.text
        self.tally.checks += 1
        if not got.startswith(before):
            self.check("dictation", before)  # the text before the cursor must be untouched
        elif heard and len(got) == len(before):
            self.tally.notes["dictation inserted nothing"] += 1
        self.expected = self.text

    def save_as(self, fmt: str, index: int) -> None:
        from engine.documents import read_document

        self.action = f"save {fmt}"
        path = self.docs / f"saved{index:03d}{fmt}"
        self.prompter.save_paths.append(str(path))
        if not self.window.documents.save_as():
            self.tally.lost.append(f"save as {path.name} failed")
            return
        self.tally.actions[f"save {fmt}"] += 1
        self.tally.checks += 1
        back = read_document(path).text
        if back != self.expected and normalized(back) != normalized(self.expected):
            self.tally.lost.append(f"save {fmt}: file reads back different ({len(back)} vs {len(self.expected)} chars)")
        if self.window.documents.modified:
            self.tally.lost.append(f"save {fmt}: buffer still marked modified")

    def check_autosave(self) -> None:
        """An unsaved buffer reaches the autosave within its interval (plus slack for a loaded machine)."""
        if not self.window.documents.modified:
            return
        self.action = "autosave"
        entry = self.window.autosave.entry_path

        def caught_up() -> bool:
            try:
                return json.loads(entry.read_text(encoding="utf-8"))["text"] == self.text
            except (OSError, ValueError, KeyError):
                return False

        self.tally.checks += 1
        if self.wait_until(caught_up, self.window.settings.autosave_seconds + 5, step_ms=100):
            self.tally.actions["autosave checked"] += 1
        else:
            self.tally.lost.append("the autosave did not catch up with the buffer")

    def index_folder(self, index: int) -> None:
        from docfixtures import write_docx

        service = self.window.style_service
        if service is None:
            return
        self.action = "index"
        name = self.style_folder / f"essay{index:03d}"
        paragraphs = [" ".join(self.rng.sample(SENTENCES, 3)) for _ in range(4)]
        if index % 2:
            write_docx(name.with_suffix(".docx"), paragraphs)
        else:
            name.with_suffix(".txt").write_text("\n\n".join(paragraphs), encoding="utf-8")
        done: list[str] = []

        def on_indexed(summary: str) -> None:
            done.append(summary)

        def on_failed(message: str) -> None:
            done.append("FAILED " + message)

        service.indexed.connect(on_indexed)
        service.failed.connect(on_failed)
        try:
            service.add_folder(self.style_folder)
            if not self.wait_until(lambda: bool(done), self.args.index_timeout_s):
                self.tally.notes["indexing still running at timeout"] += 1
        finally:
            service.indexed.disconnect(on_indexed)
            service.failed.disconnect(on_failed)
        self.tally.actions["index folder"] += 1
        if done and done[0].startswith("FAILED"):
            self.tally.errors.append("indexing: " + done[0])
        self.check("index")

    def switch_model(self) -> None:
        self.action = "switch model"
        spec = self.args.models[1] if self.model == self.args.models[0] else self.args.models[0]
        self._loaded.clear()
        self.window.client.load(spec, backend=self.args.backend)
        if not self.wait_until(lambda: bool(self._loaded), self.args.load_timeout_s):
            self.tally.errors.append(f"model {spec} not loaded in {self.args.load_timeout_s} s")
            return
        if self._loaded[0].startswith("FAILED"):
            self.tally.errors.append(f"model {spec}: {self._loaded[0]}")
            return
        self.model = spec
        self.models_seen.add(spec)
        self.tally.actions[f"model -> {spec}"] += 1
        self.check("switch model")

    def toggle_persona(self) -> None:
        self.action = "toggle style"
        self.window.persona_action.setChecked(not self.window.persona_action.isChecked())
        self.tally.actions["toggle style"] += 1

    # -- the run --------------------------------------------------------------------------

    def wait_for_model(self) -> None:
        self.action = "load model"
        if not self.wait_until(lambda: self.window.client.ready or bool(self._loaded), self.args.load_timeout_s):
            raise SystemExit(f"soak: the model did not load in {self.args.load_timeout_s} s")
        if not self.window.client.ready:
            raise SystemExit(f"soak: {self._loaded}")

    def round(self, index: int) -> None:
        steps = [
            lambda: self.open_document(OPEN_FORMATS[index % len(OPEN_FORMATS)], index),
            *[
                (lambda i=i: self.type_sentence(self.rng.choice(SENTENCES), accept=(index + i) % 2 == 0))
                for i in range(self.args.sentences)
            ],
            self.check_autosave,
            self.continue_writing,
            lambda: self.rephrase(accept=index % 2 == 0),
            lambda: self.dictate(SPOKEN[index % len(SPOKEN)]),
            lambda: self.save_as(SAVE_FORMATS[index % len(SAVE_FORMATS)], index),
        ]
        if index % 3 == 0:
            steps.append(lambda: self.index_folder(index))
        if index % 2 == 1:
            steps.append(self.toggle_persona)
        for step in steps:
            if self.elapsed() >= self.duration:
                return
            started = self.elapsed()
            try:
                step()
            except Exception:  # noqa: BLE001 - count it and go on: the soak is about the whole hour
                self.tally.errors.append("script: " + traceback.format_exc(limit=3))
                print("soak: " + traceback.format_exc(), flush=True)
                self.expected = self.text
            print(f"soak: {started / 60:6.2f} min  round {index:3d}  {self.action:<12} "
                  f"{self.elapsed() - started:5.1f} s  RSS {rss_mb():5.0f} MB", flush=True)
        self.tally.actions["rounds"] += 1

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    def run(self) -> None:
        self.t0 = time.monotonic()
        self.duration = self.args.minutes * 60
        self.wait_for_model()
        self.t0 = time.monotonic()  # the hour of use starts once the model is there
        self.samples.clear()
        self.models_seen.add(self.model)
        self.maybe_sample(force=True)
        last_switch = self.elapsed()
        index = 0
        while self.elapsed() < self.duration:
            if self.elapsed() - last_switch >= self.args.switch_every_min * 60:
                self.switch_model()
                last_switch = self.elapsed()
            self.round(index)
            index += 1
            if self.warm_end is None and len(self.models_seen) == len(set(self.args.models)):
                # Warm-up: at least --warmup-min, and until every action (one full round: the voice
                # and style models load on first use) and both models have run once.
                self.warm_end = max(self.elapsed(), self.args.warmup_min * 60)
            if index % 5 == 0:
                print(f"soak: {self.elapsed() / 60:5.1f} min, round {index}, RSS {rss_mb():.0f} MB, "
                      f"model {self.model}, lost {len(self.tally.lost)}, errors {len(self.tally.errors)}", flush=True)
        self.action = "end"
        self.maybe_sample(force=True)

    def close(self) -> None:
        self.window.shutdown()
        self.window.editor.document().setModified(False)
        self.window.close()


def summarize(soak: Soak, args: argparse.Namespace) -> dict:
    warmup_s = soak.warm_end if soak.warm_end is not None else float("inf")
    warm = [s for s in soak.samples if s[0] < warmup_s]
    after = [s for s in soak.samples if s[0] >= warmup_s]
    warm_max = max((s[1] for s in warm), default=0.0)
    after_max = max((s[1] for s in after), default=warm_max)
    slope = 0.0
    if len(after) >= 3:
        ts, ms = [s[0] / 3600 for s in after], [s[1] for s in after]
        slope = statistics.linear_regression(ts, ms).slope
    per_model = {
        m: {"median_mb": round(statistics.median(v), 1), "max_mb": round(max(v), 1)}
        for m in args.models
        if (v := [s[1] for s in after if s[2] == m])
    }
    load = os.getloadavg()
    from PySide6.QtWidgets import QDialog

    return {
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "loadavg_end": [round(x, 2) for x in load],
        "minutes": round(soak.elapsed() / 60, 1),
        "backend": args.backend,
        "models": list(args.models),
        "warmup_min": round(warmup_s / 60, 1) if after else None,
        "rss_first_mb": round(soak.samples[0][1], 1) if soak.samples else 0.0,
        "rss_warmup_max_mb": round(warm_max, 1),
        "rss_max_after_warmup_mb": round(after_max, 1),
        "rss_final_mb": round(soak.samples[-1][1], 1) if soak.samples else 0.0,
        "rss_peak_hwm_mb": round(peak_rss_mb(), 1),
        "growth_after_warmup_mb": round(after_max - warm_max, 1) if after else 0.0,
        "slope_after_warmup_mb_per_h": round(slope, 1),
        "per_model_after_warmup": per_model,
        "bound_mb": args.bound_mb,
        "samples": len(soak.samples),
        "actions": dict(soak.tally.actions),
        "notes": dict(soak.tally.notes),
        "checks": soak.tally.checks,
        "lost": soak.tally.lost,
        "errors": soak.tally.errors,
        "error_dialogs": dict(soak.tally.messages),
        "live_dialogs": len(soak.window.findChildren(QDialog)),
        "rss_series": [(round(t), round(m, 1), model, a) for t, m, model, a in soak.samples],
    }


def print_table(result: dict) -> None:
    print()
    print(f"Soak of the real editor: {result['minutes']} min, backend {result['backend']}, "
          f"models {' <-> '.join(result['models'])}, {result['date_utc']} UTC, {result['machine']}, "
          f"load average at end {result['loadavg_end']}")
    rows = [
        ("RSS at start (model loaded)", f"{result['rss_first_mb']:.0f} MB"),
        (f"RSS warm-up (max, first {result['warmup_min']} min)", f"{result['rss_warmup_max_mb']:.0f} MB"),
        ("RSS max after warm-up", f"{result['rss_max_after_warmup_mb']:.0f} MB"),
        ("RSS final", f"{result['rss_final_mb']:.0f} MB"),
        ("RSS peak (VmHWM)", f"{result['rss_peak_hwm_mb']:.0f} MB"),
        ("growth after warm-up (bound)", f"{result['growth_after_warmup_mb']:+.0f} MB (<= {result['bound_mb']} MB)"),
        ("slope after warm-up", f"{result['slope_after_warmup_mb_per_h']:+.0f} MB/h"),
    ]
    for model, stats in result["per_model_after_warmup"].items():
        rows.append((f"  {model} after warm-up (median / max)", f"{stats['median_mb']:.0f} / {stats['max_mb']:.0f} MB"))
    rows += [(f"action: {k}", str(v)) for k, v in sorted(result["actions"].items())]
    rows += [(f"note: {k}", str(v)) for k, v in sorted(result["notes"].items())]
    rows += [
        ("lost-text checks", str(result["checks"])),
        ("lost-text failures", str(len(result["lost"]))),
        ("unhandled exceptions", str(len(result["errors"]))),
        ("error dialogs shown", str(sum(result["error_dialogs"].values()))),
        ("dialogs alive at end", str(result["live_dialogs"])),
    ]
    width = max(len(r[0]) for r in rows)
    print(f"| {'what':<{width}} | value |")
    print(f"|{'-' * (width + 2)}|-------|")
    for name, value in rows:
        print(f"| {name:<{width}} | {value} |")
    for line in result["lost"] + result["errors"]:
        print("  " + line.strip().replace("\n", "\n    "))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=60.0, help="length of the scripted use")
    p.add_argument("--warmup-min", type=float, default=None, help="warm-up (default: a quarter of the run)")
    p.add_argument("--sample-s", type=float, default=10.0, help="RSS sampling period")
    p.add_argument("--bound-mb", type=float, default=150.0, help="allowed RSS growth after the warm-up")
    p.add_argument("--switch-every-min", type=float, default=None, help="model switch period (default: run/8)")
    p.add_argument("--models", nargs=2, default=list(MODELS))
    p.add_argument("--backend", default="eager", choices=("eager", "auto", "executorch"))
    p.add_argument("--sentences", type=int, default=3, help="typed sentences per round")
    p.add_argument("--key-ms", type=int, default=40, help="pause between keystrokes")
    p.add_argument("--continue-s", type=float, default=12.0, help="Esc stops a Continue after this long")
    p.add_argument("--ghost-timeout-s", type=float, default=60.0)
    p.add_argument("--rephrase-timeout-s", type=float, default=90.0)
    p.add_argument("--index-timeout-s", type=float, default=180.0)
    p.add_argument("--load-timeout-s", type=float, default=900.0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (the UI gets the other core)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the results (and the RSS series) here")
    p.add_argument("--keep", action="store_true", help="keep the temporary dirs")
    args = p.parse_args(argv)
    args.warmup_min = args.minutes / 4 if args.warmup_min is None else args.warmup_min
    args.switch_every_min = args.minutes / 8 if args.switch_every_min is None else args.switch_every_min
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    root = Path(tempfile.mkdtemp(prefix="killah-soak-"))
    make_env(root, args.backend)
    mic = start_mic()  # before sounddevice is imported: PortAudio scans devices on import
    import torch

    torch.set_num_threads(args.threads)
    app_errors: list[str] = []
    default_hook = sys.excepthook

    def hook(kind, value, tb):  # an exception escaping a Qt slot lands here
        app_errors.append("app: " + "".join(traceback.format_exception(kind, value, tb, limit=4)))
        default_hook(kind, value, tb)

    sys.excepthook = hook
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # a plain kill still stops the mic and cleans up
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    soak = None
    try:
        soak = Soak(args, root, mic)
        soak.run()
        soak.tally.errors += app_errors
        result = summarize(soak, args)
    finally:
        if soak is not None:
            soak.close()
        if mic is not None:
            mic.stop()
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1, ensure_ascii=False))
    if result["warmup_min"] is None:
        print("soak: the warm-up never ended (a round and both models): run longer to measure growth")
    failed = (result["lost"] or result["errors"] or result["warmup_min"] is None
              or result["growth_after_warmup_mb"] > args.bound_mb)
    print(f"soak: {'FAIL' if failed else 'PASS'}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
