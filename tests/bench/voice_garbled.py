"""Garbled spoken commands and prose with command words, as a recognizer writes them down.

Written by hand after the mishearings measured in issue 17 (Whisper tiny.en on espeak-ng speech:
"undo that" -> "I do not", "rephrase that" -> "Refres not", "new line" -> "your line", "scratch that"
-> "Crush that", "select the piano playing cat" -> "the handle playing card" / "the bi-oplating cut")
and the same kinds of error: a consonant voiced or unvoiced, a vowel changed, a word split or merged,
a short function word lost or added.

DEV is for tuning thresholds (engine/audio/targets.DEFAULT_THRESHOLD, commands.SOUND_THRESHOLD);
HELD_OUT is only reported on (tests/bench/bench_garbled_commands.py). Each item is
(heard, expected): expected None = prose, it must be typed and never executed; ("kind", "arg") = a
fixed command; ("select" | "correct" | "insert_after", "<the words in the document>") = a targeted
command, right only if the session lands on exactly those words.
"""

from __future__ import annotations

DOCUMENT = (
    "The morning was grey over the harbour. Then the piano playing cat jumped onto the stool, and Mrs. "
    "Bennet dropped her teacup. Elizabeth laughed at the silver carriage waiting by the gate. The old "
    "captain told a story about the northern lights, while the children watched the burning candles. "
    "Nobody noticed the letter from Pemberley on the mantelpiece. Her sister folded the yellow ribbon "
    "and hid it in the wooden box. At noon the baker brought fresh bread and a jar of honey. The "
    "lawyer read the final clause of the will twice. A quiet wind moved the curtains in the library."
)

Expected = tuple[str, str] | None

DEV: list[tuple[str, Expected]] = [
    # fixed commands, misheard
    ("Crush that.", ("scratch_that", "")),
    ("Scratched at.", ("scratch_that", "")),
    ("Refres not.", ("rephrase", "")),
    ("Rephrase dat.", ("rephrase", "")),
    ("New lime.", ("new_line", "")),
    ("New paragraphs.", ("new_paragraph", "")),
    ("Undo dad.", ("undo", "")),
    ("Read that bag.", ("read_back", "")),
    ("Stop listing.", ("stop_listening", "")),
    ("Capitalized that.", ("capitalize", "title")),
    # targeted commands, misheard
    ("Select the handle playing card.", ("select", "the piano playing cat")),
    ("Select the bi-oplating cut.", ("select", "the piano playing cat")),
    ("Select the silver marriage.", ("select", "the silver carriage")),
    ("Select the northern lies.", ("select", "the northern lights")),
    ("Correct the yellow rib in.", ("correct", "the yellow ribbon")),
    ("Correct the burning handles.", ("correct", "the burning candles")),
    ("Insert after the wooden bucks.", ("insert_after", "the wooden box")),
    ("Insert after fresh bred.", ("insert_after", "fresh bread")),
    ("Select the letter from Pemberly.", ("select", "the letter from Pemberley")),
    ("Select Mrs. Bennett.", ("select", "Mrs. Bennet")),
    # prose with command words, and short prose
    ("Crush the garlic.", None),
    ("Your line is busy.", None),
    ("Select committees met on Tuesday.", None),
    ("Correct me if I am wrong.", None),
    ("Insert after the second hymn a short prayer, the vicar said.", None),
    ("Select the ripest pears for the tart.", None),
    ("New lines of credit opened across the city.", None),
    ("Read that book again.", None),
    ("I do not know.", None),
    ("Stop it.", None),
    ("Undo the knot.", None),
    ("Correct the spelling in your letters, her governess said.", None),
]

HELD_OUT: list[tuple[str, Expected]] = [
    # fixed commands, misheard
    ("Scratch dad.", ("scratch_that", "")),
    ("Scrat that.", ("scratch_that", "")),
    ("Strike dat.", ("scratch_that", "")),
    ("Refrase that.", ("rephrase", "")),
    ("We phrase that.", ("rephrase", "")),
    ("New wine.", ("new_line", "")),
    ("Knew line.", ("new_line", "")),
    ("New para graph.", ("new_paragraph", "")),
    ("Nu paragraph.", ("new_paragraph", "")),
    ("Undo that!", ("undo", "")),
    ("Undue that.", ("undo", "")),
    ("Redo dat.", ("redo", "")),
    ("Read that pack.", ("read_back", "")),
    ("Stop listenin.", ("stop_listening", "")),
    ("Lower case dat.", ("capitalize", "lower")),
    ("Upper case dad.", ("capitalize", "upper")),
    ("Select dad.", ("select_that", "")),
    ("I do not.", ("undo", "")),
    ("Your line.", ("new_line", "")),
    # targeted commands, misheard
    ("Select the piano playing cap.", ("select", "the piano playing cat")),
    ("Select depiano play in cat.", ("select", "the piano playing cat")),
    ("Select the harbor.", ("select", "the harbour")),
    ("Select the silver carriage.", ("select", "the silver carriage")),
    ("Select the old captain.", ("select", "the old captain")),
    ("Select the final cause.", ("select", "the final clause")),
    ("Select a quiet win.", ("select", "A quiet wind")),
    ("Select her tea cup.", ("select", "her teacup")),
    ("Select the mantle piece.", ("select", "the mantelpiece")),
    ("Correct the yellow ribbon.", ("correct", "the yellow ribbon")),
    ("Correct the northern lice.", ("correct", "the northern lights")),
    ("Correct a jar of money.", ("correct", "a jar of honey")),
    ("Correct the baker.", ("correct", "the baker")),
    ("Correct Elizabeth laft.", ("correct", "Elizabeth laughed")),
    ("Insert after the wouldn't box.", ("insert_after", "the wooden box")),
    ("Insert after the curtains.", ("insert_after", "the curtains")),
    ("Insert after the library.", ("insert_after", "the library")),
    ("Insert after the children watched.", ("insert_after", "the children watched")),
    ("Insert after the burning kindles.", ("insert_after", "the burning candles")),
    # prose with command words, and short prose
    ("Scratch the surface and you will find gold.", None),
    ("Crash that car and you pay for it.", None),
    ("New wine in old bottles.", None),
    ("Select members of the club dined together.", None),
    ("Select few were invited.", None),
    ("Correct answers earn a point.", None),
    ("Correct the course, the captain shouted.", None),
    ("Insert after each comma a short pause when you read aloud.", None),
    ("Undo the ribbon slowly.", None),
    ("Read that letter aloud.", None),
    ("Stop listening to gossip.", None),
    ("Your lie was obvious.", None),
    ("A good heart.", None),
    ("New paragraphs were added in secret.", None),
    ("Delete nothing until the audit is over.", None),
    ("Continue along the road until you reach the mill.", None),
    ("Rephrase your question, the teacher said.", None),
    ("Capitalize on their mistakes.", None),
    ("The last word belonged to him.", None),
    ("I do not care.", None),
    ("Go to the market.", None),
]
