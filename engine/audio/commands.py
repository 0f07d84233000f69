"""Spoken editing commands: the grammar, and command-vs-dictation disambiguation.

Order of decisions for one utterance transcript:
  1. the grammar, matched against the WHOLE utterance after normalization
     (Whisper's casing and punctuation removed: "Scratch that!" == "scratch that");
  2. an utterance that only *starts* like a command ("Delete that paragraph about
     the war") is ambiguous: an optional classifier (a callable transcript ->
     "command" | "dictation", e.g. ``LMCommandClassifier``) decides; without one it
     is dictation, because typing a sentence is recoverable and a wrongly executed
     deletion is worse;
  3. everything else is dictation.

Grammar (Talon dictation mode / Dragon basics):
  new line | new paragraph | scratch that | delete that | undo that | redo that
  delete last [N] word(s)|sentence(s)|paragraph(s) | backspace [N]
  select <words> | correct <words> | insert after <words>  (targets found by sound, engine/audio/targets.py)
  select last word|sentence|paragraph | select that | select all | unselect
  capitalize|cap that, uppercase|all caps that, lowercase|no caps that
  rephrase that | continue | stop listening | read that back | go to end|start
  period | comma | question mark | exclamation mark | colon | semicolon
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass

Classifier = Callable[[str], str]  # transcript -> "command" | "dictation"

UNITS = {"word": "word", "words": "word", "sentence": "sentence", "sentences": "sentence",
         "paragraph": "paragraph", "paragraphs": "paragraph", "line": "paragraph", "lines": "paragraph",
         "character": "char", "characters": "char", "letter": "char", "letters": "char"}
NUMBERS = {"a": 1, "one": 1, "two": 2, "to": 2, "too": 2, "three": 3, "four": 4, "for": 4, "five": 5,
           "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}


@dataclass(frozen=True)
class Command:
    """A parsed command. ``kind`` names the action; ``arg`` carries the unit or the words;
    ``count`` repeats; ``rest`` is dictation that followed a prefix command ("new paragraph It was...")."""

    kind: str
    arg: str = ""
    count: int = 1
    rest: str = ""


@dataclass(frozen=True)
class Parsed:
    command: Command | None  # None: dictation
    text: str  # the transcript as dictated (for dictation)
    source: str  # "grammar" | "classifier" | "default"
    ambiguous: bool = False

    @property
    def is_command(self) -> bool:
        return self.command is not None


# Fixed phrases -> (kind, arg). Alternatives Whisper commonly produces are listed too.
FIXED: dict[str, tuple[str, str]] = {}


def _add(kind: str, arg: str, *phrases: str) -> None:
    for p in phrases:
        FIXED[p] = (kind, arg)


_add("new_line", "", "new line", "newline", "next line", "line break", "new lines")
_add("new_paragraph", "", "new paragraph", "next paragraph", "paragraph break", "new para", "new paragraphs")
_add("scratch_that", "", "scratch that", "strike that", "scratch it", "scratch this", "scratch", "scratched that")
_add("delete_that", "", "delete that", "delete this", "erase that", "remove that", "delete selection")
_add("undo", "", "undo that", "undo", "undo last", "undo this")
_add("redo", "", "redo that", "redo", "redo this")
_add("select_that", "", "select that", "select this", "select last utterance")
_add("select_all", "", "select all", "select everything", "select all text")
_add("unselect", "", "unselect", "deselect", "unselect that", "deselect that", "clear selection")
_add("capitalize", "title", "capitalize that", "cap that", "caps that", "capitalise that", "title case that")
_add("capitalize", "upper", "uppercase that", "upper case that", "all caps that", "caps lock that")
_add("capitalize", "lower", "lowercase that", "lower case that", "no caps that", "uncapitalize that",
     "decapitalize that", "un capitalize that")
_add("rephrase", "", "rephrase that", "rephrase this", "rewrite that", "reword that", "rephrase")
_add("continue", "", "continue", "keep going", "continue writing", "go on", "continue that")
_add("stop_listening", "", "stop listening", "go to sleep", "stop dictation", "stop dictating", "mic off",
     "microphone off")
_add("read_back", "", "read that back", "read that", "read back", "read it back", "read that back to me")
_add("go_end", "", "go to end", "go to the end", "go to bottom", "go to the bottom", "move to end")
_add("go_start", "", "go to start", "go to the start", "go to beginning", "go to the beginning", "go to top",
     "go to the top")
_add("punctuation", ".", "period", "full stop", "dot")
_add("punctuation", ",", "comma")
_add("punctuation", "?", "question mark")
_add("punctuation", "!", "exclamation mark", "exclamation point")
_add("punctuation", ":", "colon")
_add("punctuation", ";", "semicolon", "semi colon")

# Verbs that make an utterance look like a command when it starts with them.
TRIGGERS = ("new line", "new paragraph", "newline", "scratch", "strike that", "delete", "erase", "undo", "redo",
            "select", "capitalize", "capitalise", "cap that", "uppercase", "lowercase", "all caps", "no caps",
            "rephrase", "rewrite", "continue", "keep going", "stop listening", "read that", "go to", "backspace",
            "correct", "insert after")

_RE_DELETE_LAST = re.compile(
    r"^(?:delete|remove|erase|kill|scratch) (?:the )?(?:last|previous|prior) (?:(\w+) )?"
    r"(words?|sentences?|paragraphs?|lines?|characters?|letters?)$"
)
_RE_SELECT_LAST = re.compile(
    r"^select (?:the )?(?:last|previous) (?:(\w+) )?(words?|sentences?|paragraphs?|lines?)$"
)
_RE_BACKSPACE = re.compile(r"^backspace(?: (\w+))?(?: times)?$")
_RE_SELECT = re.compile(r"^select (.+)$")
_RE_CORRECT = re.compile(r"^correct (.+)$")
_RE_INSERT_AFTER = re.compile(r"^insert after (.+)$")
MAX_SELECT_WORDS = 6  # "select" + a long clause is more likely prose: ask the classifier


def normalize(transcript: str) -> str:
    """Lowercase, drop punctuation Whisper adds (keep apostrophes and hyphen-joined words), collapse spaces."""
    text = transcript.lower().replace("’", "'")
    text = re.sub(r"[-‐–—]", " ", text)
    text = re.sub(r"[^\w' ]+", " ", text)
    return re.sub(r"\s+", " ", text).strip()


def _count(word: str | None) -> int | None:
    if word is None:
        return 1
    if word.isdigit():
        return int(word)
    return NUMBERS.get(word)


def match_grammar(transcript: str) -> Command | None:
    """Whole-utterance grammar match, or None."""
    norm = normalize(transcript)
    if not norm:
        return None
    norm_nop = re.sub(r"^(?:please|okay|ok) |(?: please)$", "", norm)
    for candidate in (norm, norm_nop):
        if candidate in FIXED:
            kind, arg = FIXED[candidate]
            return Command(kind, arg)
        if m := _RE_DELETE_LAST.match(candidate):
            n = _count(m.group(1))
            if n is not None:
                return Command("delete_last", UNITS[m.group(2)], n)
        if m := _RE_SELECT_LAST.match(candidate):
            n = _count(m.group(1))
            if n is not None:
                return Command("select_last", UNITS[m.group(2)], n)
        if m := _RE_BACKSPACE.match(candidate):
            n = _count(m.group(1))
            if n is not None:
                return Command("delete_last", "char", n)
    # Whisper's near misses of short fixed phrases ("scratch dat", "new paragraphs.").
    if len(norm) >= 8 and len(norm.split()) <= 4:
        close = difflib.get_close_matches(norm, [p for p in FIXED if len(p) >= 8], n=1, cutoff=0.86)
        if close:
            kind, arg = FIXED[close[0]]
            return Command(kind, arg)
    if command := _match_targeted(norm):
        return command
    return match_by_sound(norm)


def _match_targeted(norm: str) -> Command | None:
    """select / correct / insert after <words>: the words are found in the document by the session."""
    for pattern, kind in ((_RE_SELECT, "select"), (_RE_CORRECT, "correct"), (_RE_INSERT_AFTER, "insert_after")):
        if (m := pattern.match(norm)) and len(m.group(1).split()) <= MAX_SELECT_WORDS:
            return Command(kind, m.group(1))
    return None


# Commands misheard beyond difflib's reach ("crush that", "refres not"): a short utterance is compared
# by sound and spelling (engine/audio/targets.similarity) with the fixed phrases of two or more words.
# Only utterances of the phrase's own length qualify, and the threshold was tuned on the dev list of
# tests/bench/voice_garbled.py so that none of its prose (short sentences included) turns into a command.
# "read that back" is left out: "Read that book." is prose one sound away from it.
SOUND_THRESHOLD = 0.8
_SOUND_KINDS = {"new_line", "new_paragraph", "scratch_that", "undo", "redo", "rephrase",
                "stop_listening", "capitalize", "select_that", "delete_that"}


def match_by_sound(norm: str) -> Command | None:
    from engine.audio.targets import similarity

    words = norm.split()
    if not 2 <= len(words) <= 4:
        return None
    best, best_score = None, 0.0
    for phrase, (kind, arg) in FIXED.items():
        if kind in _SOUND_KINDS and len(phrase.split()) == len(words):
            score = similarity(norm, phrase)
            if score > best_score:
                best, best_score = (kind, arg), score
    if best is not None and best_score >= SOUND_THRESHOLD:
        return Command(*best)
    return None


def looks_like_command(transcript: str) -> bool:
    norm = normalize(transcript)
    return any(norm == t or norm.startswith(t + " ") for t in TRIGGERS)


def parse_prefix_command(transcript: str) -> Command | None:
    """Best command reading of an utterance that starts like one ("new paragraph It was late",
    "delete that paragraph about the war", "select the sentence about Rome")."""
    norm = normalize(transcript)
    for phrase in sorted(FIXED, key=len, reverse=True):
        if norm.startswith(phrase + " "):
            kind, arg = FIXED[phrase]
            if kind in ("new_line", "new_paragraph"):
                rest = _strip_leading_words(transcript, len(phrase.split()))
                return Command(kind, arg, rest=rest)
            break
    words = norm.split()
    if words and words[0] in ("delete", "erase", "remove", "scratch", "select"):
        unit = next((UNITS[w] for w in words[1:4] if w in UNITS), None)
        if words[0] == "select":
            if unit:
                return Command("select_last", unit)
            return Command("select", " ".join(words[1:]))
        return Command("delete_last", unit or "sentence")
    if words and words[0] in ("capitalize", "capitalise"):
        return Command("capitalize", "title")
    return None


def _strip_leading_words(transcript: str, n: int) -> str:
    parts = transcript.strip().split()
    rest = " ".join(parts[n:]).lstrip(",.;: ")
    # "New paragraph. it was late" -> "it was late"; dictation restyles it anyway.
    return rest


def parse(transcript: str, classifier: Classifier | None = None) -> Parsed:
    """Transcript -> command or dictation (see the module docstring for the order)."""
    text = transcript.strip()
    command = match_grammar(text)
    if command is not None:
        return Parsed(command, text, "grammar")
    if not looks_like_command(text):
        return Parsed(None, text, "grammar")
    if classifier is None:
        return Parsed(None, text, "default", ambiguous=True)
    verdict = classifier(text)
    if verdict == "command":
        command = parse_prefix_command(text)
        if command is not None:
            return Parsed(command, text, "classifier", ambiguous=True)
    return Parsed(None, text, "classifier", ambiguous=True)


# ---------------------------------------------------------------- LLM classifier

FEW_SHOT = """Each line is something a writer said to a dictation program. Type is "command" when it tells \
the program to edit the text, "dictation" when it is text to type into the story.

Said: delete the last two sentences
Type: command
Said: Delete those letters before anyone reads them, she told her sister.
Type: dictation
Said: select the word carriage
Type: command
Said: Select committees were formed in every county that spring.
Type: dictation
Said: new paragraph and then she left the house
Type: command
Said: New lines of credit opened across the city.
Type: dictation
Said: scratch the last sentence
Type: command
Said: Undo the damage, he begged, before it is too late.
Type: dictation
Said: capitalize the title please
Type: command
Said: Continue the story where the letter ends, his mother wrote.
Type: dictation
"""


class LMCommandClassifier:
    """Command vs dictation by log-likelihood under the engine's LM (few-shot prompt, no generation).

    Compares log P(" command") and log P(" dictation") as the next word after the prompt,
    calibrated by the same difference for a content-free utterance (contextual calibration,
    Zhao et al. 2021: a small base LM prefers one label whatever the input). ``margin``
    biases toward dictation, since a false command costs more than a false dictation.
    The few-shot prefix is run once and its KV cache reused, so a call costs one short forward.
    Loads ``engine.models.load_model(model)`` lazily unless ``loaded`` (a LoadedModel) is given.
    """

    def __init__(self, loaded=None, model: str = "gemma3-270m", margin: float = -0.1) -> None:
        self._loaded = loaded
        self.model_name = model
        self.margin = margin
        self._cache = None
        self._label_ids: dict[str, int] = {}
        self._baseline = 0.0

    def _lm(self):
        if self._loaded is None:
            from engine.models import load_model

            self._loaded = load_model(self.model_name)
        return self._loaded

    def _prepare(self) -> None:
        import torch

        lm = self._lm()
        tok, model = lm.tokenizer, lm.model
        with torch.no_grad():
            ids = tok(FEW_SHOT, return_tensors="pt").input_ids
            self._cache = model(ids, use_cache=True).past_key_values
        for label in ("command", "dictation"):
            # The first token of each label decides: the two words differ from their first piece.
            self._label_ids[label] = tok(" " + label, add_special_tokens=False).input_ids[0]
        raw = self._raw("N/A")
        self._baseline = raw["command"] - raw["dictation"]

    def _raw(self, transcript: str) -> dict[str, float]:
        import copy

        import torch

        lm = self._lm()
        tok, model = lm.tokenizer, lm.model
        ids = tok(f"Said: {transcript.strip()}\nType:", add_special_tokens=False, return_tensors="pt").input_ids
        with torch.no_grad():
            out = model(ids, past_key_values=copy.deepcopy(self._cache), use_cache=True)
            logp = torch.log_softmax(out.logits[0, -1].float(), dim=-1)
        return {label: float(logp[i]) for label, i in self._label_ids.items()}

    def score(self, transcript: str) -> float:
        """Calibrated log-odds of "command" (> 0 leans command)."""
        if self._cache is None:
            self._prepare()
        raw = self._raw(transcript)
        return raw["command"] - raw["dictation"] - self._baseline

    def __call__(self, transcript: str) -> str:
        return "command" if self.score(transcript) > self.margin else "dictation"
