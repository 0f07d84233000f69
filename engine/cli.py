"""`killah`: the command line face of the engine.

    killah continue "It was a dark and stormy night"
    echo "The quick bro" | killah complete --json
    killah rephrase --file paragraph.txt --seed 1
    killah models list | convert [MODEL] | verify [MODEL]

Errors are one line on stderr and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path

from engine.errors import KillahError, PromptError

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130


def _progress_bar():
    """A tqdm bar fed by the engine's (stage, fraction) progress callback."""
    from tqdm import tqdm

    bar = tqdm(total=100, desc="model", unit="%", leave=False, file=sys.stderr, disable=None)

    def update(stage: str, fraction: float) -> None:
        bar.set_description(stage[:40])
        bar.n = int(fraction * 100)
        bar.refresh()
        if fraction >= 1.0 and stage == "ready":
            bar.close()

    return update


def read_input(text: str | None, file: str | None) -> str:
    """The prompt from the argument, a file or stdin, decoded strictly as UTF-8."""
    if text is not None and text != "-":
        return text
    if file:
        try:
            raw = Path(file).read_bytes()
        except OSError as exc:
            raise PromptError(f"Cannot read {file}: {exc.strerror}.") from exc
        origin = file
    else:
        if sys.stdin is None or sys.stdin.isatty():
            raise PromptError("No input: give the text as an argument, with --file, or on stdin.")
        raw = sys.stdin.buffer.read()
        origin = "stdin"
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PromptError(
            f"The input from {origin} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "convert it to UTF-8 first."
        ) from exc


def _add_generation_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("text", nargs="?", help="the input text ('-' or nothing: read stdin)")
    p.add_argument("--file", "-f", help="read the input from this file (UTF-8)")
    p.add_argument("--model", "-m", default=None, help="embedded model name or a path (HF folder or .gguf)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of streaming text")
    p.add_argument("--seed", type=int, default=None, help="fixed seed: the same output for the same input")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--min-p", type=float, default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument(
        "--backend",
        choices=("eager", "executorch", "auto"),
        default=os.environ.get("KILLAH_BACKEND", "eager"),
        help="eager PyTorch (reference), the cached ExecuTorch program, or auto (build it in the background)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="killah", description="Killah's on-device writing engine.")
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("complete", "autocomplete: finish the current sentence"),
        ("continue", "continue the text by up to a paragraph"),
        ("rephrase", "rewrite the text in other words"),
    ):
        _add_generation_args(sub.add_parser(name, help=help_text))

    models = sub.add_parser("models", help="list, convert or verify models")
    models_sub = models.add_subparsers(dest="action", required=True)
    models_sub.add_parser("list", help="the embedded models and their state").add_argument("--json", action="store_true")
    for action in ("convert", "verify"):
        p = models_sub.add_parser(action, help=f"{action} a model (embedded name or path)")
        p.add_argument("model", nargs="?", default=None)
        p.add_argument("--json", action="store_true")

    try:  # the ExecuTorch export command (engine/export), when that package is present
        from engine.export.cli import add_export_parser
    except ImportError:
        pass
    else:
        add_export_parser(sub)
    return parser


def _generate(args: argparse.Namespace) -> int:
    from engine.api import CancelToken, Engine
    from engine.modes import Mode

    text = read_input(args.text, args.file)
    Engine.check_text(text)  # fail on bad input before spending seconds loading the model
    engine = Engine(
        args.model, backend=args.backend, threads=args.threads, progress=None if args.json else _progress_bar()
    )
    # (a fallback to eager is logged as a warning by the engine itself)
    mode = {"complete": Mode.AUTOCOMPLETE, "continue": Mode.CONTINUE, "rephrase": Mode.REPHRASE}[args.command]
    params = engine.mode_params[mode].with_overrides(
        seed=args.seed,
        max_new_tokens=args.max_tokens,
        temperature=args.temperature,
        min_p=args.min_p,
    )
    call = {"complete": engine.complete, "continue": engine.continue_text, "rephrase": engine.rephrase}[args.command]
    cancel = CancelToken()
    pieces: list[str] = []
    try:
        for piece in call(text, params=params, cancel=cancel):
            pieces.append(piece)
            if not args.json:
                sys.stdout.write(piece)
                sys.stdout.flush()
    except KeyboardInterrupt:
        cancel.cancel()
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    stats = engine.last_stats
    if args.json:
        json.dump(
            {
                "mode": mode.value,
                "model": engine.info.name,
                "text": "".join(pieces),
                "seed": args.seed,
                "stats": {
                    "prompt_positions": stats.prompt_positions,
                    "new_tokens": stats.new_tokens,
                    "first_token_seconds": round(stats.first_token_seconds, 4),
                    "decode_tokens_per_second": round(stats.decode_tokens_per_second, 2),
                    "stop_reason": stats.stop_reason,
                },
            },
            sys.stdout,
            ensure_ascii=False,
        )
    print()
    return 0


def _models(args: argparse.Namespace) -> int:
    from engine import models

    if args.action == "list":
        rows = models.list_models()
        if args.json:
            json.dump(rows, sys.stdout, indent=1)
            print()
        else:
            for row in rows:
                state = "converted" if row["converted"] else ("installed" if row["installed"] else "missing")
                print(f"{row['name']:14} {state:10} {row['description']}")
                if row.get("error"):
                    print(f"{'':14} {row['error']}")
        return 0
    source = models.resolve(args.model)
    folder, sha = models.ensure_converted(source, progress=_progress_bar(), verify=args.action == "verify")
    result = {"model": source.name, "folder": str(folder), "sha256": sha, "ok": True}
    if args.json:
        json.dump(result, sys.stdout)
        print()
    else:
        print(f"{source.name}: ok\n  sha256 {sha}\n  folder {folder}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    if not args.verbose:
        # transformers/torchao chatter is not for the user of a CLI
        import warnings

        warnings.filterwarnings("ignore")
        for noisy in ("transformers", "torchao", "torch.utils._pytree", "peft"):
            logging.getLogger(noisy).setLevel(logging.ERROR)
    try:
        if args.command in ("complete", "continue", "rephrase"):
            return _generate(args)
        if args.command == "models":
            return _models(args)
        return args.handler(args)
    except KillahError as exc:
        print(f"killah: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
