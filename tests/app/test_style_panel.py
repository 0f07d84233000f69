"""Style memory from the editor: consent on open (remembered per folder) and the panel's controls.

Real StyleMemory, real MiniLM encoder, real SQLite file under the test's KILLAH_HOME.
"""

from __future__ import annotations

from docfixtures import write_docx

PARAGRAPHS = [
    "It is a truth universally acknowledged that a writer in possession of a good sentence must want another.",
    "The morning was cold and bright, and she walked to the river before anyone else was awake.",
    "He had never liked letters; they arrived when you least wanted them and said too much or too little.",
]
INDEX_TIMEOUT_MS = 180_000


def items(panel) -> dict[str, str]:
    return {panel.tree.topLevelItem(i).text(0): panel.tree.topLevelItem(i).text(1)
            for i in range(panel.tree.topLevelItemCount())}


def test_opening_a_document_asks_once_per_folder_and_the_panel_manages_the_memory(
        qtbot, make_window, prompter, tmp_path):
    mine, other = tmp_path / "my-writing", tmp_path / "downloads"
    mine.mkdir()
    other.mkdir()
    write_docx(mine / "story.docx", PARAGRAPHS)
    (mine / "notes.txt").write_text("\n\n".join(PARAGRAPHS[:2]))
    (other / "manual.txt").write_text("Press the red button twice to reset the device to factory settings.")
    window = make_window(None, load_model=False, style_memory=True)
    panel = window.style_panel

    # A folder the user declines is never asked about again.
    prompter.answers.append(False)
    window.documents.open(other / "manual.txt")
    assert len(prompter.texts("question")) == 1
    window.documents.open(other / "manual.txt")
    assert len(prompter.texts("question")) == 1
    assert str(other) in window.settings.style_declined_folders

    # A folder the user allows is indexed in the background; the panel lists it with paragraph counts.
    prompter.answers.append(True)
    window.documents.open(mine / "story.docx")
    assert "Learn your style" in prompter.messages[-1][1] and str(mine) in prompter.messages[-1][2]
    qtbot.waitUntil(lambda: len(items(panel)) == 2, timeout=INDEX_TIMEOUT_MS)
    assert items(panel) == {"story.docx": "3", "notes.txt": "2"}
    assert "5 paragraphs" in panel.summary.text()
    assert panel.isVisible()

    # Pause and resume.
    panel.pause_button.click()
    qtbot.waitUntil(lambda: panel.pause_button.text() == "Resume", timeout=10_000)
    assert panel.paused and "paused" in panel.summary.text()
    panel.pause_button.click()
    qtbot.waitUntil(lambda: panel.pause_button.text() == "Pause", timeout=10_000)

    # Remove one document.
    for i in range(panel.tree.topLevelItemCount()):
        if panel.tree.topLevelItem(i).text(0) == "notes.txt":
            panel.tree.setCurrentItem(panel.tree.topLevelItem(i))
    panel.remove_button.click()
    qtbot.waitUntil(lambda: items(panel) == {"story.docx": "3"}, timeout=10_000)

    # Delete all (after a confirmation).
    prompter.answers.append(True)
    panel.delete_button.click()
    qtbot.waitUntil(lambda: items(panel) == {}, timeout=10_000)
    assert "0 paragraphs" in panel.summary.text()


def test_continue_is_conditioned_on_the_style_memory_when_style_is_on(qtbot, make_window, prompter,
                                                                         engine1, tmp_path):
    """Style is the writer's own indexed paragraphs put before the prompt (retrieval, not soft tokens)."""
    from qt_helpers import type_text, wait_for_ghost

    folder = tmp_path / "my-writing"
    folder.mkdir()
    (folder / "chapter.txt").write_text("\n\n".join(PARAGRAPHS))
    window = make_window(engine1, style_memory=True)
    window.set_persona(True)
    used = []
    window.client.styleUsed.connect(lambda _rid, style: used.append(style))
    prompter.answers.append(True)
    window.documents.open(folder / "chapter.txt")
    qtbot.waitUntil(lambda: items(window.style_panel) == {"chapter.txt": "3"}, timeout=INDEX_TIMEOUT_MS)
    # A new page: the memory's paragraphs are no longer on screen, so they can be exemplars.
    window.editor.setPlainText("A new page.")
    window.editor.moveCursor(window.editor.textCursor().MoveOperation.End)
    type_text(qtbot, window.editor, "\n\nThe morning was cold, and she walked to the river and")
    wait_for_ghost(qtbot, window.editor)  # ghost text takes no style: the label must not say "off"
    qtbot.waitUntil(lambda: bool(used), timeout=10_000)
    assert not used[-1].mode_styled and "off" not in window.persona_label.text()
    window.editor.moveCursor(window.editor.textCursor().MoveOperation.End)
    window.continue_action.trigger()  # Continue is styled
    qtbot.waitUntil(lambda: used[-1].mode_styled, timeout=10_000)
    qtbot.waitUntil(lambda: not window.assist.busy, timeout=120_000)
    assert used[-1].exemplars, f"no exemplar was retrieved from the indexed document: {used[-1]}"
    assert "from chapter.txt" in window.persona_label.text()

    window.persona_action.setChecked(False)  # Tools -> Write in my style: off
    assert not window.client.style_on and window.persona_label.text() == "Style: off"
