"""Garbled commands and prose through the grammar and the dictation session (text only, no audio).

    .venv/bin/python tests/bench/bench_garbled_commands.py [--set dev|held_out|both] [--exact]

For every item of tests/bench/voice_garbled.py the transcript goes through ``DictationSession.handle``
on the fixed document. Reports, per set:
  - command accuracy: commands that ran as the right command (targeted ones on exactly the right words);
  - targets found: targeted commands (select / correct / insert after) that landed on the right words;
  - false commands on prose: prose that ran as a command instead of being typed (goal 0).
``--exact`` compares with the matcher before issue 17 (exact words only, no sound match) in the same run.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from voice_garbled import DEV, DOCUMENT, HELD_OUT  # noqa: E402

from engine.audio import commands, targets  # noqa: E402
from engine.audio.dictation import DictationSession, DocState  # noqa: E402

TARGETED = ("select", "correct", "insert_after")


def outcome_is_right(heard: str, expected, doc: str) -> tuple[bool, bool]:
    """(right, executed): did the session do what was meant, and did it run a command at all?"""
    session = DictationSession()
    # One dictated utterance at the end, so that "scratch that" / "rephrase that" have a target.
    state = session.handle("And then it rained.", DocState(doc, len(doc))).state
    out = session.handle(heard, state)
    executed = out.command is not None and not out.dictated
    if expected is None:
        return not executed, executed
    kind, arg = expected
    if not executed or out.command.kind != kind:
        return False, executed
    if kind not in TARGETED:
        return out.command.arg == arg or not arg, executed
    start = state.text.lower().find(arg.lower())
    landed = out.state.selection if kind != "insert_after" else (out.state.cursor - len(arg), out.state.cursor)
    return landed == (start, start + len(arg)), executed


def score(items) -> dict:
    cmds = [(h, e) for h, e in items if e is not None]
    aimed = [(h, e) for h, e in cmds if e[0] in TARGETED]
    prose = [h for h, e in items if e is None]
    cmd_ok = [h for h, e in cmds if outcome_is_right(h, e, DOCUMENT)[0]]
    aimed_ok = [h for h, e in aimed if outcome_is_right(h, e, DOCUMENT)[0]]
    false = [h for h in prose if outcome_is_right(h, None, DOCUMENT)[1]]
    missed = [h for h, e in cmds if h not in cmd_ok]
    return {"commands": (len(cmd_ok), len(cmds)), "targets": (len(aimed_ok), len(aimed)),
            "false": (len(false), len(prose)), "false_items": false, "missed": missed}


class _ExactOnly:
    """The matcher before issue 17, for the same-run reference: exact target words, no sound match."""

    def __enter__(self):
        self.saved = (targets.DEFAULT_THRESHOLD, commands.SOUND_THRESHOLD)
        targets.DEFAULT_THRESHOLD, commands.SOUND_THRESHOLD = 2.0, 2.0
        return self

    def __exit__(self, *exc):
        targets.DEFAULT_THRESHOLD, commands.SOUND_THRESHOLD = self.saved


def _row(name: str, r: dict) -> str:
    c, t, f = r["commands"], r["targets"], r["false"]
    return (f"| {name} | {c[0]}/{c[1]} ({c[0] / c[1]:.0%}) | {t[0]}/{t[1]} ({t[0] / t[1]:.0%}) | "
            f"{f[0]}/{f[1]} |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--set", choices=("dev", "held_out", "both"), default="both")
    ap.add_argument("--exact", action="store_true", help="also score the exact-words matcher (reference)")
    args = ap.parse_args()
    sets = {"dev": DEV, "held_out": HELD_OUT}
    chosen = sets if args.set == "both" else {args.set: sets[args.set]}
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; target threshold "
          f"{targets.DEFAULT_THRESHOLD}, command sound threshold {commands.SOUND_THRESHOLD}\n")
    print("| set, matcher | command accuracy | targets found | false commands on prose |")
    print("|---|---|---|---|")
    results = {}
    for name, items in chosen.items():
        results[name] = score(items)
        print(_row(f"{name} ({len(items)}), sound + spelling", results[name]))
        if args.exact:
            with _ExactOnly():
                print(_row(f"{name}, exact words only (before)", score(items)))
    for name, r in results.items():
        print(f"\n{name}: missed commands: {r['missed']}\n{name}: false commands on prose: {r['false_items']}")


if __name__ == "__main__":
    main()
