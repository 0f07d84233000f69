"""The status bar and the Style memory panel say what conditions the text (real engine, real memory, real Qt)."""

from __future__ import annotations

from qt_helpers import GHOST_TIMEOUT_MS

GARDEN = [
    "The roses along the south wall opened late this year, and I spent the whole of Sunday tying them back "
    "with soft twine, which my mother always said was kinder to the stems than wire.",
    "By the pond the irises have spread so far that the heron now stands among them like a grey post, "
    "watching the water and paying no attention to me or to the dog.",
    "I dug the potato bed over twice before planting, because the clay there holds the rain and the seed "
    "potatoes rot if they sit wet for a week in April.",
]


def ask(window, text: str) -> None:
    """The writer's text, the cursor at its end, and Continue (the mode that takes style)."""
    window.editor.setPlainText(text)
    cursor = window.editor.textCursor()
    cursor.movePosition(cursor.MoveOperation.End)
    window.editor.setTextCursor(cursor)
    window.continue_action.trigger()


def settle(qtbot, window, text: str) -> None:
    """Stop the Continue once the label is read; the writer's text stays the start of the document."""
    window.assist.cancel()
    qtbot.waitUntil(lambda: not window.assist.busy and not window.client.busy, timeout=GHOST_TIMEOUT_MS)
    assert window.editor.toPlainText().startswith(text)


def test_status_bar_and_panel_show_the_exemplars_and_why_style_is_off(qtbot, make_window, engine1, tmp_path):
    folder = tmp_path / "letters"
    folder.mkdir()
    (folder / "letters.txt").write_text("\n\n".join(GARDEN) + "\n")
    window = make_window(engine1, style_memory=True)
    window.set_persona(True)
    memory = window.style_service.memory()
    assert window.persona_label.text() == "Style: on"

    # Empty memory: style is off and the status bar says why; the text is untouched.
    ask(window, "In the garden this morning the roses")
    qtbot.waitUntil(lambda: "empty" in window.persona_label.text(), timeout=GHOST_TIMEOUT_MS)
    assert window.persona_label.text() == "Style: off (style memory empty)"
    settle(qtbot, window, "In the garden this morning the roses")

    memory.add_folder(folder)
    ask(window, "A note.\nIn the garden this morning the roses by the wall")
    qtbot.waitUntil(lambda: "from letters.txt" in window.persona_label.text(), timeout=GHOST_TIMEOUT_MS)
    assert window.persona_label.text().startswith("Style: ") and "paragraph" in window.persona_label.text()
    panel = window.style_panel
    assert panel.style_label.text() == window.persona_label.text()
    assert 1 <= panel.exemplar_list.count() <= 3
    assert panel.exemplar_list.item(0).text().startswith("letters.txt: ")
    settle(qtbot, window, "A note.\nIn the garden this morning the roses by the wall")

    # Paused: off, with the reason; the document text is as the writer left it.
    memory.pause()
    ask(window, "A note.\nThe heron stood by the pond")  # new text: not served from the suggestion cache
    qtbot.waitUntil(lambda: "paused" in window.persona_label.text(), timeout=GHOST_TIMEOUT_MS)
    assert window.persona_label.text() == "Style: off (style memory paused)"
    settle(qtbot, window, "A note.\nThe heron stood by the pond")

    # Style switched off in the menu: no retrieval at all.
    window.set_persona(False)
    assert window.persona_label.text() == "Style: off"
    assert not window.client.style_on
