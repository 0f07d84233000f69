"""DictationSession on a plain-text document: style, commands and offsets after manual edits."""

from engine.audio.dictation import DictationSession, DocState


def run(session, state, *utterances):
    for u in utterances:
        state = session.handle(u, state).state
    return state


def test_dictation_capitalizes_after_sentence_end_and_spaces_words():
    s = DictationSession()
    st = run(s, DocState("", 0), "it was a bright cold day.", "The clocks were striking.")
    assert st.text == "It was a bright cold day. The clocks were striking."


def test_dictation_continues_a_sentence_in_lowercase_without_final_period():
    s = DictationSession()
    st = DocState("He opened the door and  the room was dark.", 23)
    st = s.handle("Looked inside.", st).state
    assert st.text == "He opened the door and looked inside the room was dark."


def test_dictation_keeps_names_the_document_capitalizes():
    s = DictationSession()
    st = DocState("Yesterday I met Winston at the door, and", 40)
    assert s.handle("Winston smiled.", st).state.text.endswith("and Winston smiled.")


def test_new_paragraph_then_capital():
    s = DictationSession()
    st = run(s, DocState("", 0), "First part.", "New paragraph.", "second part.")
    assert st.text == "First part.\n\nSecond part."


def test_scratch_that_removes_last_utterance_even_after_edit_before_it():
    s = DictationSession()
    st = run(s, DocState("", 0), "One sentence here.", "Two sentence here.")
    # The user types "Title\n" at the start of the document.
    text = "Title\n" + st.text
    s.on_external_edit(0, 0, 6)
    st = s.handle("Scratch that.", DocState(text, 3)).state
    assert st.text == "Title\nOne sentence here."
    st = s.handle("Scratch that.", st).state
    assert st.text == "Title\n"


def test_scratch_that_keeps_manual_correction_inside_the_utterance_as_part_of_it():
    s = DictationSession()
    st = run(s, DocState("Start.", 6), "The cat sat.")
    text = st.text.replace("cat", "dog")
    pos = st.text.index("cat")
    s.on_external_edit(pos, 3, 3)
    st = s.handle("scratch that", DocState(text, len(text))).state
    assert st.text == "Start."


def test_utterance_deleted_by_hand_is_forgotten():
    s = DictationSession()
    st = run(s, DocState("", 0), "Alpha.", "Beta.")
    s.on_external_edit(6, 6, 0)  # the user deletes " Beta."
    st = s.handle("scratch that", DocState("Alpha.", 6)).state
    assert st.text == ""


def test_delete_last_sentence_word_and_paragraph():
    s = DictationSession()
    text = "Para one.\n\nFirst sentence. Second one here."
    st = s.handle("Delete last sentence.", DocState(text, len(text))).state
    assert st.text == "Para one.\n\nFirst sentence."
    st = s.handle("Delete last word.", st).state
    assert st.text == "Para one.\n\nFirst"
    st = s.handle("Delete last paragraph.", st).state
    assert st.text == "Para one."


def test_select_words_selects_nearest_occurrence_before_cursor():
    s = DictationSession()
    text = "The cold day. Another cold day! End."
    st = s.handle("Select cold day.", DocState(text, len(text))).state
    assert st.selection == (22, 30) and text[22:30] == "cold day"


def test_select_of_words_not_in_the_document_is_typed_as_dictation():
    # "Select committees met on Tuesday." is prose when nothing like it is in the text:
    # typing it loses nothing, swallowing it would lose the writer's sentence.
    s = DictationSession()
    text = "The cold day."
    out = s.handle("Select committees met on Tuesday.", DocState(text, len(text)))
    assert out.state.text == "The cold day. Select committees met on Tuesday."


def test_capitalize_and_lowercase_that_apply_to_selection_or_last_utterance():
    s = DictationSession()
    st = run(s, DocState("", 0), "Hello there.", "the end is near.")
    st = s.handle("Capitalize that.", st).state
    assert st.text == "Hello there. The End Is Near."
    st = s.handle("Select hello there.", st).state
    st = s.handle("Lowercase that.", st).state
    assert st.text == "hello there. The End Is Near."


def test_actions_are_returned_for_the_ui():
    s = DictationSession()
    st = run(s, DocState("", 0), "Some words.")
    out = s.handle("Rephrase that.", st)
    assert out.action == "rephrase" and out.target == (0, 11)
    assert s.handle("Undo that.", st).action == "undo"
    assert s.handle("Stop listening.", st).action == "stop_listening"
