"""Start the editor: ``python -m app [FILE] [--model SPEC] [--no-autocomplete] [--no-model]``.

The window appears at once; the model loads on the engine thread with its
progress in the status bar (the very first run converts the embedded GGUF,
about a minute). Unsaved text from a crashed session is offered right after.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from app.logs import setup_logging
from app.main_window import MainWindow
from app.script_hooks import prompter_from_env, run_test_script


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="killah-app", description="Killah: an offline writing assistant.")
    parser.add_argument("file", nargs="?", help="a document to open (.txt .md .rtf .docx .pdf)")
    parser.add_argument("--model", help="model: 'gemma3-270m' (default), 'smollm2-135m', or a path")
    parser.add_argument(
        "--no-autocomplete", action="store_true", help="start with ghost-text suggestions off"
    )
    parser.add_argument("--no-model", action="store_true", help="a plain editor: do not load a model")
    parser.add_argument("--no-voice", action="store_true", help="no dictation (no microphone is opened)")
    parser.add_argument(
        "--backend",
        choices=("eager", "executorch", "auto"),
        help="inference backend ($KILLAH_BACKEND, else the settings: auto, or eager with fast programs off); "
        "auto builds each mode's ExecuTorch program in the background and switches when it is ready",
    )
    return parser.parse_args(argv)


def attach_voice(window: MainWindow) -> None:
    """DICTATION HOOK (start-up): the voice engineer's controller, if it can be built here.

    Voice problems (no PortAudio, no microphone) are reported by the controller itself as
    disabled actions; anything unexpected only costs the dictation, never the editor.
    """
    try:
        from app.dictation_controller import DictationController

        controller = DictationController(
            window.editor, parent=window, device=window.settings.microphone or None
        )
    except Exception as exc:  # noqa: BLE001 - the editor must start without voice
        logging.getLogger("killah.app").warning("dictation unavailable: %s", exc)
        window.set_mic_state("unavailable")
        return
    window.attach_dictation(controller)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.backend:
        os.environ["KILLAH_BACKEND"] = args.backend  # read by the engine worker thread
    # Frameworks' warnings and C-level prints go to the log file; Killah's own stay on the terminal.
    setup_logging(os.environ.get("KILLAH_LOG", "WARNING"))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the network at run time
    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("Killah")
    app.setOrganizationName("Killah")
    window = MainWindow(
        prompter=prompter_from_env(),
        model=args.model,
        load_model=not args.no_model,
        autocomplete=False if args.no_autocomplete else None,
    )
    window.show()

    def after_show() -> None:
        if not args.no_voice:
            attach_voice(window)
        window.offer_recovery()
        if args.file:
            window.documents.open(args.file)
        run_test_script(window)

    QTimer.singleShot(0, after_show)
    return leave(app.exec())


def leave(code: int) -> int:
    """Return the app's exit code after stopping any ExecuTorch build still running.

    Builds run in child processes (engine/export/build_child.py); a half-built program has no
    sidecar and is rebuilt next time, so stopping it loses nothing and frees the CPU at once.
    """
    from engine.export.build_child import stop_builds

    stopped = stop_builds()
    if stopped:
        logging.getLogger("killah.app").info("stopped %d program build(s); rebuilt next time", stopped)
    return code


if __name__ == "__main__":
    sys.exit(main())
