"""The app's memory: RSS of the real window with the default model, its program and the style memory.

    nice -n 10 .venv/bin/python tests/bench/bench_rss.py [--suggestions 10] [--program-wait-s 0]

Each condition runs in its own process (a clean peak), in the same run:

- ``editor``: the window with no model and no style memory (the reference row);
- ``eager``: the embedded default model on eager PyTorch, the style memory holding 300 Emma
  paragraphs, style on, ``--suggestions`` ghost texts shown;
- ``default``: the app's default settings (INT8 ExecuTorch programs on). A program that is not
  built yet is built in the background by the app itself (minutes, 2.4-3.8 GB while it builds);
  ``--program-wait-s`` says how long to wait for it. The row names the backend that really served.
- ``default_idle``: ``default``, then the app idles past ``engine.api.PARK_EAGER_AFTER_S`` and shows
  one more ghost text: with the program serving, the eager fp32 base weights have left memory
  (engine/backends/parking.py).

RSS is /proc/self/status VmRSS after the flows, and VmHWM (the peak) over the whole process.
Goal (issue 16): app RSS <= 1.5 GB with the default model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "bench")]
CONDITIONS = ("editor", "eager", "default", "default_idle")
TYPED = (
    "She had always believed that the letter would come in the spring, and when it",
    "The house stood at the end of a long lane, and nobody in the village could",
    "It was a truth that he had never quite admitted to himself, that the",
)


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _largest_mappings(count: int = 6) -> list[tuple[str, float]]:
    """(mapping, resident MB) of the process's largest mappings: what the RSS is made of."""
    sizes: dict[str, float] = {}
    name = ""
    for line in Path("/proc/self/smaps").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 5 and "-" in fields[0] and ":" not in fields[0]:
            name = fields[5] if len(fields) > 5 else "[anonymous]"
        elif fields and fields[0] == "Rss:":
            sizes[name] = sizes.get(name, 0.0) + int(fields[1]) / 1024
    return sorted(sizes.items(), key=lambda kv: -kv[1])[:count]


def _wait(app, predicate, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        app.processEvents()
        if predicate():
            return True
        time.sleep(0.005)
    return False


def _show_ghosts(app, window, shown: list[str], count: int) -> None:
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest

    for i in range(count):
        before = len(shown)
        window.editor.setPlainText(TYPED[i % len(TYPED)])
        window.editor.moveCursor(window.editor.textCursor().MoveOperation.End)
        QTest.keyClick(window.editor, " ", Qt.NoModifier)
        _wait(app, lambda b=before: len(shown) > b, 60)


def run_condition(name: str, suggestions: int, program_wait_s: float) -> dict:
    """One condition in this process; returns what it measured."""
    from bench_autocomplete import fill_style_memory
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.prompter import ScriptedPrompter
    from app.settings import Settings

    app = QApplication.instance() or QApplication([])
    with_model = name != "editor"
    window = MainWindow(
        settings=Settings(fast_programs=name.startswith("default")),
        prompter=ScriptedPrompter(),
        load_model=with_model,
        style_memory=with_model,
    )
    window.show()
    shown: list[str] = []
    window.editor.ghostShown.connect(lambda ghost: shown.append(ghost) if ghost.strip() else None)
    backend = "none"
    if with_model:
        if not _wait(app, lambda: window.client.ready, 600):
            raise RuntimeError("the model did not load in 10 minutes")
        fill_style_memory(window)
        window.set_persona(True)
        _show_ghosts(app, window, shown, suggestions)
        engine = window.client.worker.engine
        if name.startswith("default") and program_wait_s > 0:
            _wait(app, lambda: engine.backend.name != "eager", program_wait_s)
        if name == "default_idle":
            _wait(app, lambda: False, engine.park_eager_after_s + 2)  # the writer pauses
            _show_ghosts(app, window, shown, 1)
        backend = engine.backend.name + (" (eager parked)" if engine.eager.weights.parked else "")
    result = {
        "condition": name,
        "backend": backend,
        "ghosts": len(shown),
        "rss_mb": _status_mb("VmRSS"),
        "peak_mb": _status_mb("VmHWM"),
        "anon_mb": _status_mb("RssAnon"),
        "file_mb": _status_mb("RssFile"),
        "largest": _largest_mappings(),
    }
    window.shutdown()
    window.editor.document().setModified(False)
    window.close()
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--suggestions", type=int, default=10)
    parser.add_argument("--program-wait-s", type=float, default=0.0)
    parser.add_argument("--only", choices=CONDITIONS, help="(internal) run one condition, print JSON")
    args = parser.parse_args()
    if args.only:
        from app.main import leave

        print(json.dumps(run_condition(args.only, args.suggestions, args.program_wait_s)), flush=True)
        return leave(0)  # the app's own exit: a program still building must not abort the process

    env = dict(os.environ, QT_QPA_PLATFORM=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    env.setdefault("KILLAH_CACHE_DIR", str(REPO / ".data" / "cache"))  # shared converted models and programs
    rows = []
    for name in CONDITIONS:
        env["KILLAH_HOME"] = tempfile.mkdtemp(prefix=f"killah-rss-{name}-")  # never the user's data
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--only",
                name,
                "--suggestions",
                str(args.suggestions),
                "--program-wait-s",
                str(args.program_wait_s),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
        if out.returncode or not lines:
            print(f"{name}: failed (exit {out.returncode})\n{out.stderr[-2000:]}")
            return 1
        rows.append(json.loads(lines[-1]))

    print(
        f"\n{time.strftime('%Y-%m-%d %H:%M %Z')} | {platform.machine()} | {os.cpu_count()} cpus | "
        f"load {os.getloadavg()[0]:.1f}"
    )
    reference = rows[0]["rss_mb"]
    print(f"{'condition':<14}{'backend':<26}{'ghosts':>7}{'RSS MB':>9}{'peak MB':>9}{'RSS / editor':>14}")
    for r in rows:
        print(
            f"{r['condition']:<14}{r['backend']:<26}{r['ghosts']:>7}{r['rss_mb']:>9.0f}{r['peak_mb']:>9.0f}"
            f"{r['rss_mb'] / reference:>14.2f}"
        )
    print("\nwhat the RSS is made of (anonymous memory / mapped files, and the largest mappings in MB):")
    for r in rows:
        parts = ", ".join(f"{Path(n).name or n} {mb:.0f}" for n, mb in r["largest"])
        print(f"  {r['condition']}: anon {r['anon_mb']:.0f} + files {r['file_mb']:.0f}; {parts}")
    for r in rows:
        if r["condition"].startswith("default"):
            verdict = "met" if r["rss_mb"] <= 1536 else "missed"
            print(
                f"goal: app RSS <= 1536 MB with the default model ({r['condition']}): {verdict} ({r['rss_mb']:.0f} MB)"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
