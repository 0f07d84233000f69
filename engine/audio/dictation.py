"""Dictation on a plain-text document model: (text, cursor, selection) -> new state.

``DictationSession.handle(transcript, state)`` parses the transcript (commands.parse)
and returns an ``Outcome``: the new state, the minimal text replacement that gets
there (so a UI applies it as ONE undoable edit), and an ``action`` the session
cannot do itself (undo, redo, rephrase, continue, stop listening, read back).

The session remembers the spans of the utterances it inserted (most recent last) so
that "scratch that" removes the last dictated utterance even after the user typed
elsewhere: the UI reports every edit it did not make through the session with
``on_external_edit(pos, removed, added)`` and the spans shift accordingly.

Style: the inserted text follows the document's conventions: a capital after a
sentence end or at the start of a paragraph and lowercase inside a sentence
(unless the word is "I" or the document capitalizes it elsewhere), spaces
around the insertion, one or two spaces after a full stop as the document does,
curly quotes if the document uses them, and no sentence-final period when
the insertion lands inside a sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from engine.audio.commands import Classifier, Command, Parsed, parse
from engine.audio.targets import TargetMatch, alternatives, find_phrase, find_target, words_of

__all__ = ["DictationSession", "DocState", "Edit", "Outcome", "diff", "find_phrase", "unit_start"]


@dataclass(frozen=True)
class DocState:
    text: str
    cursor: int
    selection: tuple[int, int] | None = None  # (start, end), start < end

    def clamp(self) -> DocState:
        n = len(self.text)
        cur = max(0, min(self.cursor, n))
        sel = self.selection
        if sel is not None:
            a, b = max(0, min(sel[0], n)), max(0, min(sel[1], n))
            sel = (min(a, b), max(a, b)) if a != b else None
        return DocState(self.text, cur, sel)


@dataclass(frozen=True)
class Edit:
    """Replace ``removed`` characters at ``pos`` with ``inserted``."""

    pos: int
    removed: int
    inserted: str


@dataclass
class Outcome:
    state: DocState
    edit: Edit | None = None  # None: the text did not change
    command: Command | None = None
    action: str = ""  # for the UI: "undo" | "redo" | "rephrase" | "continue" | "stop_listening" | "read_back"
    # | "correct"
    target: tuple[int, int] | None = None  # the range an action applies to (rephrase, read back)
    message: str = ""  # status for the user ("Nothing to scratch")
    dictated: str = ""  # the text inserted by dictation
    alternatives: list[str] = field(default_factory=list)  # "correct <words>": replacements to offer


@dataclass
class _Span:
    start: int
    end: int


_SENT_END = re.compile(r"[.!?…][\"'”’)\]]*$")


def diff(old: str, new: str) -> Edit | None:
    """The single replacement that turns ``old`` into ``new`` (common prefix and suffix kept)."""
    if old == new:
        return None
    p = 0
    m = min(len(old), len(new))
    while p < m and old[p] == new[p]:
        p += 1
    s = 0
    while s < m - p and old[len(old) - 1 - s] == new[len(new) - 1 - s]:
        s += 1
    return Edit(p, len(old) - p - s, new[p : len(new) - s])


@dataclass
class DictationSession:
    classifier: Classifier | None = None
    spans: list[_Span] = field(default_factory=list)
    max_spans: int = 50
    vocabulary: list[str] = field(default_factory=list)  # names and rare words offered by "correct"
    _last_transcript: str = ""

    # ------------------------------------------------------------ offsets

    def on_external_edit(self, pos: int, removed: int, added: int) -> None:
        """Shift the remembered utterance spans for an edit the session did not make."""
        end_removed = pos + removed
        delta = added - removed
        kept: list[_Span] = []
        for span in self.spans:
            s, e = span.start, span.end
            if end_removed <= s:  # wholly before (typing at its very start pushes it right)
                s, e = s + delta, e + delta
            elif pos >= e:  # wholly after
                pass
            elif pos <= s and end_removed >= e:
                continue  # its text is gone (deleted, or undone)
            elif pos < s:  # cut its beginning: what is left starts after the new text
                s, e = pos + added, e + delta
            elif end_removed > e:  # cut its end
                e = pos
            else:  # a correction inside it: still one utterance
                e = e + delta
            if e > s:
                kept.append(_Span(s, e))
        self.spans = kept

    def record_utterance(self, start: int, length: int) -> None:
        """Remember text inserted on the user's behalf (a rephrase result) as the latest utterance."""
        self._record(start, length)

    def _record(self, start: int, length: int) -> None:
        self.spans.append(_Span(start, start + length))
        del self.spans[: -self.max_spans]

    def last_utterance(self) -> tuple[int, int] | None:
        return (self.spans[-1].start, self.spans[-1].end) if self.spans else None

    # ------------------------------------------------------------ entry point

    def handle(self, transcript: str, state: DocState) -> Outcome:
        return self.handle_parsed(parse(transcript, self.classifier), state)

    def handle_parsed(self, parsed: Parsed, state: DocState) -> Outcome:
        """Like ``handle`` for a transcript parsed already (a UI parses on its worker thread,
        since the LM classifier may take a second)."""
        state = state.clamp()
        self._last_transcript = parsed.text
        if parsed.command is None:
            return self.dictate(parsed.text, state)
        out = self.apply_command(parsed.command, state)
        if parsed.command.rest:
            more = self.dictate(parsed.command.rest, out.state)
            merged = diff(state.text, more.state.text)
            return replace(more, edit=merged, command=parsed.command)
        return out

    # ------------------------------------------------------------ dictation

    def styled(self, words: str, state: DocState) -> tuple[str, int, int]:
        """The text to insert at the selection/cursor, and the replaced range."""
        text = state.text
        start, end = state.selection if state.selection else (state.cursor, state.cursor)
        before, after = text[:start], text[end:]
        words = words.strip()
        if not words:
            return "", start, end
        if "“" in text or "”" in text:
            words = re.sub(r'"(?=\w)', "“", words)
            words = words.replace('"', "”")
        if "’" in text:
            words = words.replace("'", "’")
        prev = before.rstrip(" \t")
        at_sentence_start = not prev or prev.endswith("\n") or bool(_SENT_END.search(prev))
        first = re.match(r"[\"“'(]*(\w[\w'’-]*)", words)
        if first:
            w = first.group(1)
            i = first.start(1)
            if at_sentence_start:
                words = words[:i] + w[0].upper() + words[i + 1 :]
            elif not self._keep_capital(w, text):
                words = words[:i] + w[0].lower() + words[i + 1 :]
        # Inside a sentence (text continues in lowercase or with a comma): drop Whisper's final period.
        nxt = after.lstrip(" ")
        if nxt and (nxt[0].islower() or nxt[0] in ",;:") and words.endswith("."):
            words = words[:-1]
        # Spacing: one space (or the document's two after a sentence end) between words.
        if before and not before[-1].isspace() and before[-1] not in "([{“\"'" and words[0] not in ".,;:!?)]}”":
            sep = "  " if (_SENT_END.search(before) and "  " in text and re.search(r"[.!?]  \S", text)) else " "
            words = sep + words
        if after and not after[0].isspace() and after[0] not in ".,;:!?)]}”" and words[-1] not in "([{“":
            words = words + " "
        return words, start, end

    @staticmethod
    def _keep_capital(word: str, text: str) -> bool:
        if word in ("I", "I'm", "I'll", "I've", "I'd", "I’m") or (len(word) > 1 and word.isupper()):
            return True
        # The user's own convention: a word the document writes capitalized mid-sentence is a name.
        return bool(re.search(r"(?<=[a-z,;] )" + re.escape(word) + r"\b", text))

    def dictate(self, words: str, state: DocState) -> Outcome:
        insert, start, end = self.styled(words, state)
        if not insert:
            return Outcome(state, message="Nothing heard")
        return self._replace(state, start, end, insert, record=True, dictated=insert)

    def _replace(self, state: DocState, start: int, end: int, insert: str, record: bool = False,
                 cursor: int | None = None, selection=None, **kw) -> Outcome:
        new_text = state.text[:start] + insert + state.text[end:]
        self.on_external_edit(start, end - start, len(insert))
        if record:
            self._record(start, len(insert))
        new_cursor = start + len(insert) if cursor is None else cursor
        edit = Edit(start, end - start, insert) if (end > start or insert) else None
        return Outcome(DocState(new_text, new_cursor, selection).clamp(), edit, **kw)

    # ------------------------------------------------------------ commands

    def apply_command(self, cmd: Command, state: DocState) -> Outcome:
        handler = getattr(self, f"_cmd_{cmd.kind}", None)
        if handler is None:
            return Outcome(state, command=cmd, action=cmd.kind)
        out = handler(cmd, state)
        out.command = cmd
        return out

    def _target(self, state: DocState) -> tuple[int, int] | None:
        return state.selection or self.last_utterance()

    def _cmd_new_line(self, cmd: Command, state: DocState) -> Outcome:
        start, end = state.selection or (state.cursor, state.cursor)
        while start > 0 and state.text[start - 1] in " \t":
            start -= 1  # no trailing spaces before the break
        return self._replace(state, start, end, "\n", record=True)

    def _cmd_new_paragraph(self, cmd: Command, state: DocState) -> Outcome:
        start, end = state.selection or (state.cursor, state.cursor)
        while start > 0 and state.text[start - 1] in " \t":
            start -= 1
        text = state.text
        # The document's paragraph convention: blank lines between paragraphs, or a single newline.
        single = "\n" in text and "\n\n" not in text
        before = text[:start]
        brk = "\n" if single else "\n\n"
        if before.endswith("\n\n") or not before:
            brk = ""
        elif before.endswith("\n"):
            brk = "" if single else "\n"
        if not brk:
            return Outcome(state, message="Already at a new paragraph")
        return self._replace(state, start, end, brk, record=True)

    def _cmd_scratch_that(self, cmd: Command, state: DocState) -> Outcome:
        if not self.spans:
            return Outcome(state, message="Nothing to scratch")
        span = self.spans.pop()
        out = self._replace(state, span.start, span.end, "", cursor=span.start)
        return out

    def _cmd_delete_that(self, cmd: Command, state: DocState) -> Outcome:
        if state.selection:
            a, b = state.selection
            return self._replace(state, a, b, "", cursor=a)
        return self._cmd_scratch_that(cmd, state)

    def _cmd_select_that(self, cmd: Command, state: DocState) -> Outcome:
        span = self.last_utterance()
        if span is None:
            return Outcome(state, message="Nothing dictated to select")
        a, b = _trim(state.text, *span)
        return Outcome(DocState(state.text, b, (a, b)).clamp())

    def _cmd_select_all(self, cmd: Command, state: DocState) -> Outcome:
        return Outcome(DocState(state.text, len(state.text), (0, len(state.text))).clamp())

    def _cmd_unselect(self, cmd: Command, state: DocState) -> Outcome:
        return Outcome(DocState(state.text, state.cursor, None))

    def _cmd_go_end(self, cmd: Command, state: DocState) -> Outcome:
        return Outcome(DocState(state.text, len(state.text), None))

    def _cmd_go_start(self, cmd: Command, state: DocState) -> Outcome:
        return Outcome(DocState(state.text, 0, None))

    def _cmd_punctuation(self, cmd: Command, state: DocState) -> Outcome:
        start, end = state.selection or (state.cursor, state.cursor)
        while start > 0 and state.text[start - 1] == " ":
            start -= 1
        return self._replace(state, start, end, cmd.arg, record=True)

    def _cmd_delete_last(self, cmd: Command, state: DocState) -> Outcome:
        end = state.selection[0] if state.selection else state.cursor
        start = unit_start(state.text, end, cmd.arg, cmd.count)
        if start == end:
            return Outcome(state, message=f"No {cmd.arg} before the cursor")
        # Also remove the space that separated the deleted unit from the text before it.
        if cmd.arg != "char":
            while start > 0 and state.text[start - 1] in " \t":
                start -= 1
            if cmd.arg == "paragraph":
                while start > 0 and state.text[start - 1] == "\n":
                    start -= 1
        return self._replace(state, start, end, "", cursor=start)

    def _cmd_select_last(self, cmd: Command, state: DocState) -> Outcome:
        end = state.cursor
        while end > 0 and state.text[end - 1].isspace():
            end -= 1
        start = unit_start(state.text, end, cmd.arg, cmd.count)
        if start == end:
            return Outcome(state, message=f"No {cmd.arg} to select")
        return Outcome(DocState(state.text, end, (start, end)))

    def _cmd_select(self, cmd: Command, state: DocState) -> Outcome:
        found = self._find_or_type(cmd, state, "Select")
        if isinstance(found, Outcome):
            return found
        return Outcome(DocState(state.text, found.end, (found.start, found.end)), message=_found_note(found))

    def _cmd_correct(self, cmd: Command, state: DocState) -> Outcome:
        """Dragon's "correct <words>": select the phrase and offer replacements (``Outcome.alternatives``)."""
        if cmd.arg in ("that", "this"):
            target = self._target(state)
            if target is None:
                return Outcome(state, message="Nothing to correct")
            a, b = _trim(state.text, *target)
            found = TargetMatch(a, b, 1.0, state.text[a:b])
        else:
            found = self._find_or_type(cmd, state, "Correct")
            if isinstance(found, Outcome):
                return found
        vocabulary = words_of(state.text) + list(self.vocabulary)
        heard = cmd.arg if cmd.arg not in ("that", "this") else ""
        return Outcome(DocState(state.text, found.end, (found.start, found.end)), action="correct",
                       target=(found.start, found.end), message=_found_note(found),
                       alternatives=alternatives(found.text, heard, vocabulary))

    def _cmd_insert_after(self, cmd: Command, state: DocState) -> Outcome:
        found = self._find_or_type(cmd, state, "Insert after")
        if isinstance(found, Outcome):
            return found
        return Outcome(DocState(state.text, found.end, None), message=_found_note(found))

    def _find_or_type(self, cmd: Command, state: DocState, verb: str) -> TargetMatch | Outcome:
        """The named words in the document (exact, else by sound and spelling: targets.find_target).
        Not there: probably prose that starts like a command ("Select committees met..."). Typing it loses
        nothing; swallowing it would lose the sentence, so it is typed unless the classifier says command."""
        found = find_target(state.text, cmd.arg, state.cursor)
        if found is not None:
            return found
        said = self._last_transcript or f"{verb} {cmd.arg}"
        if self.classifier is not None and self.classifier(said) == "command":
            return Outcome(state, message=f"“{cmd.arg}” is not in the document")
        out = self.dictate(said, state)
        out.message = f"“{cmd.arg}” is not in the document: typed it as text"
        return out

    def _cmd_capitalize(self, cmd: Command, state: DocState) -> Outcome:
        target = self._target(state)
        if target is None:
            return Outcome(state, message="Nothing to change")
        a, b = _trim(state.text, *target)
        chunk = state.text[a:b]
        if cmd.arg == "upper":
            new = chunk.upper()
        elif cmd.arg == "lower":
            new = chunk.lower()
        else:
            new = re.sub(r"\b([a-z])", lambda m: m.group(1).upper(), chunk)
        sel = (a, b) if state.selection else None
        # Same length: the utterance spans stay valid.
        return self._replace(state, a, b, new, cursor=b if sel else state.cursor, selection=sel)

    def _action_with_target(self, cmd: Command, state: DocState) -> Outcome:
        target = self._target(state)
        if target is None:
            return Outcome(state, message="Nothing to act on", action=cmd.kind)
        return Outcome(state, action=cmd.kind, target=_trim(state.text, *target))

    _cmd_rephrase = _action_with_target
    _cmd_read_back = _action_with_target


def _found_note(found: TargetMatch) -> str:
    """A status line when the words were found by sound rather than spelled as said."""
    return "" if found.score >= 1.0 else f"Found “{found.text}” (closest match)"


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def unit_start(text: str, end: int, unit: str, count: int = 1) -> int:
    """Start of the ``count`` last words/sentences/paragraphs/characters ending at ``end``."""
    pos = end
    for _ in range(max(1, count)):
        if pos <= 0:
            return 0
        if unit == "char":
            pos -= 1
            continue
        # Skip whitespace between units.
        while pos > 0 and text[pos - 1].isspace():
            pos -= 1
        if unit == "word":
            while pos > 0 and not text[pos - 1].isspace():
                pos -= 1
        elif unit == "sentence":
            # Back to just after the previous sentence end (., !, ? followed by space) or line start.
            i = pos - 1
            while i > 0:
                ch = text[i - 1]
                if ch == "\n":
                    break
                if text[i].isspace() and ch in ".!?…\"”')" and re.search(r"[.!?…][\"”')]*$", text[:i]):
                    break
                i -= 1
            pos = i
            while pos < end and text[pos].isspace():
                pos += 1
        elif unit == "paragraph":
            i = text.rfind("\n", 0, pos)
            pos = i + 1 if i >= 0 else 0
    return pos
