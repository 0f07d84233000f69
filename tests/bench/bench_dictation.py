"""Dictation benchmark: WER, real-time factor, end-of-utterance latency, command accuracy, false positives.

    .venv/bin/python tests/bench/bench_dictation.py [--n 50] [--live 8] [--no-lm]
    .venv/bin/python tests/bench/bench_dictation.py --compare-only --n 20   # recognizers only


Speech is synthesized with espeak-ng (several voices and speeds) from held-out Austen
sentences (training/data/corpora.py). Every recognizer of engine/audio/recognizer.RECOGNIZERS
(Whisper tiny.en, Whisper base, Moonshine base) decodes the same clips in one run: WER, per-clip
decode latency p50/p90 and real-time factor, against Whisper tiny.en as the reference. Latency is measured live: the clips
go through a private PulseAudio virtual microphone into sounddevice and the real
VoiceListener (VAD + segmentation + Whisper), from the end of speech to the final text.
Prints markdown tables (paste into docs/benchmarks.md, "## Dictation").
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "audio"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("KILLAH_CACHE_DIR", str(REPO / ".data" / "cache"))

from engine.audio.commands import Command, LMCommandClassifier, match_grammar, parse  # noqa: E402
from engine.audio.listener import is_command  # noqa: E402
from engine.audio.recognizer import DEFAULT_RECOGNIZER, RECOGNIZERS, Recognizer, load_recognizer  # noqa: E402
from engine.audio.synth import VOICES, sentences_for_speech, synthesize, with_silence  # noqa: E402
from training.eval.speech import edit_distance, wer, words  # noqa: E402

SPEEDS = [140, 155, 170]

# (spoken, expected command) — the grammar's core vocabulary.
COMMANDS: list[tuple[str, Command]] = [
    ("new line", Command("new_line")),
    ("new paragraph", Command("new_paragraph")),
    ("scratch that", Command("scratch_that")),
    ("undo that", Command("undo")),
    ("delete last word", Command("delete_last", "word")),
    ("delete last sentence", Command("delete_last", "sentence")),
    ("delete last paragraph", Command("delete_last", "paragraph")),
    ("select last sentence", Command("select_last", "sentence")),
    ("capitalize that", Command("capitalize", "title")),
    ("lowercase that", Command("capitalize", "lower")),
    ("rephrase that", Command("rephrase")),
    ("continue", Command("continue")),
    ("stop listening", Command("stop_listening")),
    ("read that back", Command("read_back")),
    ("select the river", Command("select", "the river")),
]

# Prose that contains command words: every one must be typed, not executed.
PROSE_WITH_COMMAND_WORDS = [
    "She drew a new line across the map of the county.",
    "The new paragraph of the will surprised everyone in the room.",
    "He had to scratch that name from the list of guests.",
    "They could not undo that mistake however hard they tried.",
    "Delete the last word of the telegram, the clerk suggested.",
    "Her sister chose to delete the last sentence of her letter.",
    "Select members of the club were invited to dine.",
    "Capitalize on the fine weather and walk to the village.",
    "The lawyer would rephrase that clause before the signing.",
    "Continue along the lane until you reach the old mill.",
    "The soldiers would not stop listening to the music.",
    "Read that back to me slowly, said the old man.",
    "A new line of carriages waited outside the church.",
    "The last paragraph of the sermon was the longest.",
    "Nobody could scratch that itch of curiosity in her.",
    "He wished he could undo that whole unhappy evening.",
    "Select the ripest apples for the pie, said the cook.",
    "Stop listening at doors, her mother told her sharply.",
    "The newspaper printed a new paragraph on the scandal.",
    "The lowercase letters on the sign were hard to read.",
    "They continue to quarrel about the inheritance.",
    "Rephrase your question, the teacher said kindly.",
    "I will read that book again this winter.",
    "The last sentence of the novel made her cry.",
    "She deleted nothing from the diary of that summer.",
    "Every new line of the poem was darker than the last.",
    "The captain told the men to continue rowing.",
    "He tried to capitalize the venture with his savings.",
    "Please select a partner for the next dance.",
    "The printer had to undo that page and set it again.",
    "Her brother would scratch that word out of every letter.",
    "On the new paragraph she wrote the name of the ship.",
    "The last word belonged to the old captain.",
    "Stop listening to gossip and mind your sewing.",
    "The clergyman continued his sermon in a lower voice.",
    "They read that letter back and forth all evening.",
    "A new line was added to the railway that year.",
    "Select guests arrived early for the ball.",
    "She crossed out the last paragraph with a firm hand.",
    "He could not scratch that memory from his mind.",
    "Undo the knot before the rope is wet.",
    "The next sentence in the book was a lie.",
    "Delete that paragraph about the war, she told the editor.",
    "Continue the story, the children begged their aunt.",
    "He would capitalize every word in his angry letters.",
    "The editor liked the new paragraph about the harbour.",
    "Read the letter that came this morning.",
    "Select your words with care when you write to him.",
    "They would not stop listening for the sound of wheels.",
    "The new line of hats was the talk of the town.",
    "Scratch the surface and you will find a kind heart.",
    "She decided to rephrase the apology more warmly.",
]

# Text-only set for the LM classifier on utterances the grammar leaves ambiguous.
AMBIGUOUS = [
    ("Delete that paragraph about the war.", "command"),
    ("delete the sentence about the horses", "command"),
    ("select the word garden", "command"),
    ("New paragraph and then the rain stopped.", "command"),
    ("Capitalize the first word.", "command"),
    ("scratch the last bit", "command"),
    ("Delete the last line please.", "command"),
    ("select the paragraph about Rome", "command"),
    ("delete the word very", "command"),
    ("New line and sign it yours truly.", "command"),
    ("Delete that paragraph about the war, she wrote in the margin.", "dictation"),
    ("Select few were invited to the ball.", "dictation"),
    ("New lines appeared on his face every winter.", "dictation"),
    ("Delete nothing, he told the clerk, until the audit is over.", "dictation"),
    ("Undo the ribbon slowly.", "dictation"),
    ("Continue along the road until you reach the mill.", "dictation"),
    ("Scratch the surface and you will find gold.", "dictation"),
    ("Capitalize on their mistakes, the general said.", "dictation"),
    ("Select committees met every Tuesday in the town hall.", "dictation"),
    ("New paragraphs were added to the treaty in secret.", "dictation"),
]


def held_out_sentences(n: int) -> list[str]:
    from training.data.corpora import load_corpus, split

    paragraphs = [p for ps in load_corpus("austen").values() for p in ps]
    sentences = sentences_for_speech(paragraphs, 6, 16)
    return split(sentences, seed=7, fractions=(0.9, 0.1))[1][:n]


def clip(text: str, i: int) -> np.ndarray:
    return synthesize(text, VOICES[i % len(VOICES)], SPEEDS[i % len(SPEEDS)])


def bench_wer(recognizers: dict[str, Recognizer], sentences: list[str]) -> dict[str, dict]:
    clips = [clip(s, i) for i, s in enumerate(sentences)]
    out = {}
    for name, rec in recognizers.items():
        hyps, per_clip, decode, audio = [], [], 0.0, 0.0
        for c in clips:
            t0 = time.perf_counter()
            t = rec.transcribe(with_silence(c, 0.2, 0.2), is_command=is_command)
            per_clip.append(time.perf_counter() - t0)  # both passes when the command pass runs
            hyps.append(t.text)
            decode += t.seconds
            audio += t.audio_seconds
        out[name] = {"wer": wer(sentences, hyps), "rtf": decode / audio, "hyps": hyps,
                     "p50": float(np.median(per_clip)), "p90": float(np.percentile(per_clip, 90))}
        print(f"{name}: WER {out[name]['wer']:.3f}, p50 {out[name]['p50']:.2f} s (load average "
              f"{os.getloadavg()[0]:.1f})", flush=True)
    return out


def load_all(threads: int) -> dict[str, Recognizer]:
    """Every listed recognizer that loads here; one that does not is reported and left out."""
    loaded = {}
    for key, label in RECOGNIZERS.items():
        name = f"{label} (default)" if key == DEFAULT_RECOGNIZER else label
        try:
            loaded[name] = load_recognizer(key, threads)
        except Exception as exc:  # noqa: BLE001 - a missing optional model is a row, not a crash
            print(f"{label}: not measured ({exc})")
    return loaded


def print_comparison(res: dict[str, dict], n: int) -> None:
    ref = next((r for name, r in res.items() if name.startswith("Whisper tiny.en")), None)
    print(f"| recognizer | WER ({n} clips, {len(VOICES)} voices) | per-clip decode p50 | p90 | RTF | "
          "WER / tiny.en's |")
    print("|---|---|---|---|---|---|")
    for name, r in res.items():
        ratio = f"{r['wer'] / ref['wer']:.2f}" if ref and ref["wer"] else "-"
        print(f"| {name} | {r['wer']:.3f} | {r['p50'] * 1000:.0f} ms | {r['p90'] * 1000:.0f} ms | "
              f"{r['rtf']:.2f} | {ratio} |")


def bench_commands(rec: Recognizer, voices: int = 4) -> tuple[float, list]:
    ok, misses = 0, []
    total = 0
    for i, (spoken, expected) in enumerate(COMMANDS):
        for v in range(voices):
            audio = synthesize(spoken, VOICES[(i + v) % len(VOICES)], SPEEDS[v % len(SPEEDS)])
            text = rec.transcribe(with_silence(audio, 0.2, 0.2), is_command=is_command).text
            got = match_grammar(text)
            total += 1
            if got == expected:
                ok += 1
            else:
                misses.append((spoken, text))
    return ok / total, misses


def executed_in_session(text: str, context: str) -> bool:
    """Would the app run a command? (The session types a "select" whose words are not in the text.)"""
    from engine.audio.dictation import DictationSession, DocState

    out = DictationSession().handle(text, DocState(context, len(context)))
    return out.command is not None and not out.dictated


def bench_false_positives(rec: Recognizer, classifier=None) -> dict:
    text_fp = [s for s in PROSE_WITH_COMMAND_WORDS if parse(s).is_command]
    context = " ".join(PROSE_WITH_COMMAND_WORDS[:10])  # a document of the same kind of prose
    session_fp = [s for s in PROSE_WITH_COMMAND_WORDS if executed_in_session(s, context)]
    audio_fp, audio_fp_lm, audio_fp_session = [], [], []
    for i, s in enumerate(PROSE_WITH_COMMAND_WORDS):
        text = rec.transcribe(with_silence(clip(s, i), 0.2, 0.2), is_command=is_command).text
        if parse(text).is_command:
            audio_fp.append((s, text))
        if executed_in_session(text, context):
            audio_fp_session.append((s, text))
        if classifier is not None and parse(text, classifier).is_command:
            audio_fp_lm.append((s, text))
    return {"n": len(PROSE_WITH_COMMAND_WORDS), "text": text_fp, "text_session": session_fp, "audio": audio_fp,
            "audio_session": audio_fp_session, "audio_lm": audio_fp_lm}


def bench_classifier(classifier) -> tuple[float, float, list]:
    t0 = time.perf_counter()
    wrong = [(t, y) for t, y in AMBIGUOUS if classifier(t) != y]
    return 1 - len(wrong) / len(AMBIGUOUS), (time.perf_counter() - t0) / len(AMBIGUOUS), wrong


def bench_live_latency(rec: Recognizer, sentences: list[str]) -> dict:
    """Through PulseAudio -> sounddevice -> VoiceListener: end of speech -> final text."""
    from pulse_mic import VirtualMic, missing_binaries

    if missing_binaries():
        return {}
    mic = VirtualMic().start()
    try:
        import threading

        from engine.audio.listener import VoiceListener

        finals, got = [], threading.Event()

        def on_event(e):
            if e.kind in ("final", "rejected"):
                finals.append(e)
                got.set()

        listener = VoiceListener(on_event, recognizer=rec, partials=True)
        listener.start()
        listener.ready.wait(30)
        refs = []
        for i, s in enumerate(sentences):
            got.clear()
            mic.play(with_silence(clip(s, i), 0.2, 0.3))
            got.wait(30)
            refs.append(s)
            time.sleep(0.3)
        listener.stop()
    finally:
        mic.stop()
    lat = [e.latency for e in finals]
    dec = [e.decode_seconds for e in finals]
    return {
        "n": len(finals),
        "latency_median": float(np.median(lat)) if lat else float("nan"),
        "latency_p90": float(np.percentile(lat, 90)) if lat else float("nan"),
        "decode_median": float(np.median(dec)) if dec else float("nan"),
        "live_wer": wer(refs[: len(finals)], [e.text for e in finals]) if finals else float("nan"),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--live", type=int, default=8)
    ap.add_argument("--no-lm", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--compare-only", action="store_true", help="only the recognizer table (WER, latency)")
    args = ap.parse_args()

    sentences = held_out_sentences(args.n)
    t0 = time.time()
    if args.compare_only:
        res = bench_wer(load_all(args.threads), sentences)
        print(f"\n{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.machine()}, {os.cpu_count()} cores, "
              f"threads={args.threads}, load average {os.getloadavg()[0]:.1f}, bench time {time.time() - t0:.0f} s\n")
        print_comparison(res, len(sentences))
        return
    recognizers = {"tiny.en (default)": Recognizer("tiny.en", args.threads), "base": Recognizer("base", args.threads, "en")}
    res = bench_wer(recognizers, sentences)
    default = recognizers["tiny.en (default)"]
    cmd_acc, cmd_miss = bench_commands(default)
    cmd_acc_base, _ = bench_commands(recognizers["base"])
    classifier = None
    clf = None
    if not args.no_lm:
        import torch

        torch.set_num_threads(args.threads)
        classifier = LMCommandClassifier()
        clf = bench_classifier(classifier)
    fp = bench_false_positives(default, classifier)
    live = bench_live_latency(default, sentences[: args.live]) if args.live else {}

    print(f"\n{time.strftime('%Y-%m-%d %H:%M %Z')}, {platform.machine()}, {os.cpu_count()} cores, threads={args.threads}, "
          f"bench time {time.time() - t0:.0f} s\n")
    print(f"| recognizer | WER ({len(sentences)} utterances, {len(VOICES)} voices) | RTF | command accuracy "
          f"({len(COMMANDS)} commands x 4 voices) |")
    print("|---|---|---|---|")
    for name, r in res.items():
        acc = cmd_acc if name.startswith("tiny") else cmd_acc_base
        print(f"| {name} | {r['wer']:.3f} | {r['rtf']:.2f} | {acc:.1%} |")
    if live:
        print(f"\nLive through the virtual microphone (tiny.en, {live['n']} utterances): end of speech -> final text "
              f"median {live['latency_median']:.2f} s, p90 {live['latency_p90']:.2f} s (includes the 0.70 s "
              f"end-of-utterance silence); decode median {live['decode_median']:.2f} s; live WER {live['live_wer']:.3f}")
    print(f"\nFalse commands on {fp['n']} prose sentences with command words: text-only grammar "
          f"{len(fp['text'])}/{fp['n']} (executed by the session: {len(fp['text_session'])}), spoken (tiny.en + "
          f"grammar) {len(fp['audio'])}/{fp['n']} (executed: {len(fp['audio_session'])})"
          + (f", spoken + LM classifier {len(fp['audio_lm'])}/{fp['n']}" if classifier else ""))
    for s, t in fp["audio"] + fp["audio_lm"]:
        print(f"  false command: {s!r} heard as {t!r}")
    if clf:
        print(f"\nLM classifier (Gemma 3 270M, few-shot log-likelihood) on {len(AMBIGUOUS)} ambiguous utterances: "
              f"accuracy {clf[0]:.0%}, {clf[1]:.2f} s per call")
        for t, y in clf[2]:
            print(f"  wrong: {t!r} (is {y})")
    print("\ncommand misses (tiny.en):")
    for spoken, text in cmd_miss:
        print(f"  {spoken!r} heard as {text!r}")
    print("\nworst WER examples (tiny.en):")
    hyps = res["tiny.en (default)"]["hyps"]
    worst = sorted(range(len(sentences)), key=lambda i: -edit_distance(words(sentences[i]), words(hyps[i])))[:5]
    for i in worst:
        print(f"  {sentences[i]!r} -> {hyps[i]!r}")


if __name__ == "__main__":
    main()
