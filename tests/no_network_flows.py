"""Run Killah's main flows with every network socket blocked and recorded (used by tests/test_no_network.py).

    python tests/no_network_flows.py REPORT.json FLOW [FLOW ...]
    flows: canary  a lookup and a connect, to show that the hook sees and refuses them
           engine  the default model (Gemma 3 270M, eager): complete, continue, rephrase a few tokens
           style   the style memory: index a small folder with MiniLM, condition a request on it
           voice   Whisper tiny.en (faster-whisper) transcribes a short espeak-ng recording
           app     the editor's main window, offscreen, with the engine and the style memory
           program an ExecuTorch program built for a tiny Llama (the real export path)

An audit hook (sys.addaudithook: it cannot be removed, hence a process of its own) is installed before
anything else is imported. It records every socket event and refuses every socket that is not AF_UNIX,
every name lookup and every connect, so an attempt both shows in the report and fails. AF_UNIX sockets
are local IPC (none was seen in these flows; they are recorded with their family all the same).
Child processes (espeak-ng and sox in the voice flow) are outside the hook.
"""

from __future__ import annotations

import json
import socket
import sys

EVENTS: list[dict] = []
_REFUSED = {"socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr",
            "socket.getnameinfo", "socket.sendto", "socket.sendmsg", "socket.bind",
            "urllib.Request", "http.client.connect", "http.client.send", "ftplib.connect", "smtplib.connect"}


def _audit(event: str, args: tuple) -> None:
    if event == "socket.__new__":
        family = int(args[1]) if len(args) > 1 and args[1] not in (None, -1) else int(socket.AF_INET)
        EVENTS.append({"event": event, "family": family, "refused": family != socket.AF_UNIX})
        if family != socket.AF_UNIX:
            raise PermissionError(f"Killah test: network socket refused (family {family})")
    elif event in _REFUSED:
        sock = args[0] if args and isinstance(args[0], socket.socket) else None
        if sock is not None and sock.family == socket.AF_UNIX:
            EVENTS.append({"event": event, "family": int(socket.AF_UNIX), "refused": False})
            return
        EVENTS.append({"event": event, "detail": repr(args)[:200], "refused": True})
        raise PermissionError(f"Killah test: {event} refused")


sys.addaudithook(_audit)

# Only now the rest: nothing imported below may open a socket unseen.
import os  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "engine"))
sys.path.insert(0, str(REPO / "tests" / "export"))

PARAGRAPHS = [
    "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
    "must be in want of a wife.",
    "Call me Ishmael. Some years ago, never mind how long precisely, I thought I would sail about a little.",
    "The sea was grey and the wind was cold, and the ship went on towards the north all night long.",
]


def _tokens(stream) -> str:
    return "".join(stream)


def flow_engine(state: dict) -> str:
    import torch

    from engine.api import Engine
    from engine.modes import GenerationParams

    torch.set_num_threads(1)
    engine = Engine()  # the default model, eager
    state["engine"] = engine
    few = GenerationParams(max_new_tokens=4, seed=0)
    done = [_tokens(engine.complete("It was a bright cold day in April, and the", params=few)),
            _tokens(engine.continue_text("The ship left the harbour at dawn.", params=few)),
            _tokens(engine.rephrase("The ship left the harbour at dawn.", params=few))]
    return f"{engine.info.name}: {done!r}"


def flow_style(state: dict) -> str:
    from docfixtures import write_docx

    from engine.persona import StyleMemory
    from engine.persona.encoder import MiniLMEncoder
    from engine.persona.exemplars import StyleRequest

    folder = Path(tempfile.mkdtemp(prefix="killah-style-"))
    (folder / "notes.txt").write_text("\n\n".join(PARAGRAPHS[:2]))
    write_docx(folder / "story.docx", PARAGRAPHS[2:])
    memory = StyleMemory(folder / "memory.sqlite3", encoder=MiniLMEncoder())
    report = memory.add_folder(folder)
    assert report.status == "done" and len(report.indexed) == 2, report.summary()
    engine = state.get("engine")
    if engine is None:
        return report.summary()
    from engine.modes import GenerationParams

    engine.attach_style_memory(memory)
    text = _tokens(engine.continue_text("The ship went on towards", style=StyleRequest(document="a"),
                                        params=GenerationParams(max_new_tokens=4, seed=0)))
    return f"{report.summary()}; styled continuation {text!r}; style {engine.last_style!r}"[:300]


def flow_voice(state: dict) -> str:
    from engine.audio import synth
    from engine.audio.recognizer import Recognizer

    samples = synth.with_silence(synth.synthesize("The weather is lovely today."))
    recognizer = Recognizer("tiny.en")
    return recognizer.transcribe(samples).text


def flow_app(state: dict) -> str:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QCoreApplication
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow
    from app.prompter import ScriptedPrompter

    app = QApplication.instance() or QApplication(["killah-no-network"])
    window = MainWindow(prompter=ScriptedPrompter(), engine=state.get("engine"), load_model=False,
                        style_memory=True)
    window.show()
    window.editor.setPlainText("It was a bright cold day in April, and")
    end = time.monotonic() + 5
    while time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.05)
    title = window.windowTitle()
    window.shutdown()
    window.close()
    app.processEvents()
    return title


def flow_program(state: dict) -> str:
    import torch
    from tiny_models import save_tiny_llama, save_word_tokenizer

    from engine.export import ProgramCache, preset, spec_for
    from engine.models import load_model

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="killah-program-"))
    folder = save_tiny_llama(root / "tiny-llama")
    save_word_tokenizer(folder)
    loaded = load_model(folder)
    program = ProgramCache(root / "programs").ensure(loaded, spec_for(loaded, preset("fp32"), max_seq=64))
    return str(program)


def flow_canary(state: dict) -> str:
    """The hook's own check: a lookup and a network socket are recorded and refused, AF_UNIX is let by."""
    refused = []
    for attempt in (lambda: socket.getaddrinfo("localhost", 80),
                    lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM)):
        try:
            attempt()
        except PermissionError as exc:
            refused.append(str(exc))
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()
    return "; ".join(refused)


FLOWS = {"canary": flow_canary, "engine": flow_engine, "style": flow_style, "voice": flow_voice, "app": flow_app,
         "program": flow_program}


def main(argv: list[str]) -> int:
    report_path, names = Path(argv[0]), argv[1:]
    state: dict = {}
    results = {}
    for name in names:
        start = time.monotonic()
        try:
            results[name] = {"ok": True, "result": str(FLOWS[name](state))[:300]}
        except BaseException as exc:  # noqa: BLE001 - a refused socket must show in the report
            results[name] = {"ok": False, "result": f"{type(exc).__name__}: {exc}"[:500]}
        results[name]["seconds"] = round(time.monotonic() - start, 1)
    report_path.write_text(json.dumps({"flows": results, "events": EVENTS}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
