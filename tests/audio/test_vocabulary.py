"""Custom vocabulary: names from the style memory and the user's list bias recognition (Whisper's
prompt) or correct it afterwards (Moonshine, and Whisper's leftovers)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.audio.synth import with_silence
from engine.audio.vocabulary import (
    correct_with_vocabulary,
    merge,
    style_memory_vocabulary,
    vocabulary_from_paragraphs,
    whisper_prompt,
)

NAMES = ["Pemberley", "Longbourn", "Darcy", "Bingley", "Netherfield", "Wickham"]


def test_names_and_rare_words_come_from_the_paragraphs():
    paragraphs = ["It is a truth that Mr. Darcy went to Pemberley. Then Elizabeth and Darcy walked to "
                  "Pemberley through the extraordinary garden.", "The extraordinary weather held."]
    vocab = vocabulary_from_paragraphs(paragraphs)
    assert vocab[0] == "Pemberley" and "Darcy" in vocab and "extraordinary" in vocab
    assert "Then" not in vocab and "It" not in vocab and "garden" not in vocab


@pytest.mark.parametrize("heard,fixed", [
    ("She drove to Pemberly with Mr. Darcey.", "She drove to Pemberley with Mr. Darcy."),
    ("They left Long born at noon.", "They left Longbourn at noon."),
    ("Mr. Bingly went to Nether field.", "Mr. Bingley went to Netherfield."),
    ("He rode from Netherfield to Longbourne.", "He rode from Netherfield to Longbourn."),
])
def test_near_misses_are_corrected(heard, fixed):
    assert correct_with_vocabulary(heard, NAMES) == fixed


@pytest.mark.parametrize("prose", ["The number of people in the field was larger.", "He had a wicked cough.",
                                   "Pretty and lovely, the bingo hall was open."])
def test_ordinary_words_are_left_alone(prose):
    assert correct_with_vocabulary(prose, NAMES) == prose


def test_prompt_and_merge():
    assert whisper_prompt([]) is None
    assert whisper_prompt(NAMES) == "Glossary: Pemberley, Longbourn, Darcy, Bingley, Netherfield, Wickham."
    assert len(whisper_prompt([f"Name{i:03d}" for i in range(200)])) < 240
    assert merge(["Darcy", " ", "Darcy"], ["Bingley"]) == ["Darcy", "Bingley"]


def test_style_memory_vocabulary_reads_a_real_store(tmp_path):
    from engine.persona.store import PersonaStore

    db = tmp_path / "memory.sqlite"
    store = PersonaStore(db)
    paragraphs = ["We rode from Meryton to Netherfield, and Jane said Netherfield was grand.",
                  "Mrs. Philips lived in Meryton, where the officers met Lydia."]
    store.replace_document("/docs/a.txt", 1, 10, "0" * 64, "txt", paragraphs, np.zeros((2, 4), np.float32))
    store.close()
    vocab = style_memory_vocabulary(db)
    assert {"Netherfield", "Meryton", "Jane", "Lydia"} <= set(vocab)
    assert style_memory_vocabulary(tmp_path / "none.sqlite") == []


def test_whisper_with_the_vocabulary_writes_the_name(speech):
    from engine.audio.recognizer import Recognizer

    # Its own tiny.en (nothing shared with other tests' listeners), and speech at 130 wpm: at 150 wpm
    # tiny.en reads "They drove to" as "Naderove to", a hair from "Naderow, Temberley" (CI, under load).
    recognizer = Recognizer()
    recognizer.vocabulary = NAMES
    for sentence in ("They drove to Pemberley with Mister Darcy.", "Mister Darcy walked in the park at Pemberley."):
        text = recognizer.transcribe(with_silence(speech(sentence, speed=130), 0.2, 0.2)).text
        assert "Pemberley" in text and "Darcy" in text, text


def test_moonshine_with_the_vocabulary_writes_the_name(speech):
    from engine.audio.moonshine import model_dir
    from engine.audio.recognizer import load_recognizer
    from engine.errors import ModelError

    try:
        model_dir()
    except ModelError as exc:
        pytest.skip(str(exc))
    rec = load_recognizer("moonshine-base")
    audio = with_silence(speech("Mister Bingley rode from Netherfield to Longbourn."), 0.2, 0.2)
    plain = rec.transcribe(audio).text  # Moonshine writes "Longbourne" here (2026-11-26)
    rec.vocabulary = NAMES
    text = rec.transcribe(audio).text
    assert "Longbourn." in text and "to Longbourn" in text and "Netherfield" in text, (plain, text)
