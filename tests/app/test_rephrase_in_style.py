"""Rephrase in my style through the real menus and the real Rephrase dialog: the real engine, a real
style memory indexed from a HELD-OUT writer's text (training/data/corpora.py HELD_OUT), real widgets."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QTextCursor
from qt_helpers import GHOST_TIMEOUT_MS
from test_assist import menu_action, open_context_menu

from app.assist import REPHRASE_TAKES
from app.style_rephrase import PAUSED, TITLE
from engine import prompts
from engine.errors import STYLE_MEMORY_NEEDED
from engine.modes import Mode

WRITER = "speeches_obama"
BEFORE, AFTER = "A note to myself before the speech.\n", "\nThat is the draft so far."


@pytest.fixture(scope="module")
def held_out():
    """(the writer's paragraphs to index, a sentence of theirs from a paragraph not indexed)."""
    from training.data.corpora import HELD_OUT, load_corpus
    from training.data.tasks import sentences

    assert WRITER in HELD_OUT
    paragraphs = [p for ps in load_corpus(WRITER).values() for p in ps if len(p.split()) >= 30]
    selection = next(s for p in paragraphs[-20:] for s in sentences(p) if 12 <= len(s.split()) <= 25)
    return paragraphs[:30], selection


@pytest.fixture
def short_takes(engine):
    saved = engine.mode_params[Mode.REPHRASE_STYLE], engine.mode_params[Mode.REPHRASE]
    engine.mode_params[Mode.REPHRASE_STYLE] = saved[0].with_overrides(max_new_tokens=24)
    engine.mode_params[Mode.REPHRASE] = saved[1].with_overrides(max_new_tokens=24)
    yield
    engine.mode_params[Mode.REPHRASE_STYLE], engine.mode_params[Mode.REPHRASE] = saved
    engine.attach_style_memory(None)


def select(editor, text: str, part: str) -> None:
    editor.setPlainText(text)
    cursor = editor.textCursor()
    start = text.index(part)
    cursor.setPosition(start)
    cursor.setPosition(start + len(part), QTextCursor.KeepAnchor)
    editor.setTextCursor(cursor)


def indexed_window(qtbot, make_window, engine, folder):
    window = make_window(engine, style_memory=True)
    action = window.style_rephrase.action
    window.style_service.add_folder(folder)  # the app's own path: indexed, then the list comes back
    qtbot.waitUntil(action.isEnabled, timeout=GHOST_TIMEOUT_MS)
    return window, action


def test_without_a_style_memory_the_menu_entry_and_the_dialog_toggle_say_why(
    qtbot, make_window, engine1, prompter
):
    window = make_window(engine1)  # no style memory at all
    action = window.style_rephrase.action
    select(window.editor, "She refused to leave the house.", "She refused to leave the house.")
    menu = open_context_menu(qtbot, window.editor)
    entry = menu_action(menu, TITLE)
    assert entry is action and not entry.isEnabled()
    assert menu.toolTipsVisible() and entry.toolTip() == STYLE_MEMORY_NEEDED == entry.statusTip()
    menu.close()
    window.assist.rephrase_in_style()  # asked anyway (a script): refused with the reason, nothing runs
    assert prompter.texts("info")[-1] == STYLE_MEMORY_NEEDED
    assert not window.client.busy and window.assist.rephrase_dialog is None
    window.rephrase_action.trigger()  # the plain Rephrase dialog: its style box is off and says why
    dialog = window.assist.rephrase_dialog
    assert not dialog.style_box.isEnabled() and not dialog.in_style
    assert dialog.style_box.toolTip() == STYLE_MEMORY_NEEDED == dialog.style_note.text()
    dialog.reject_button.click()
    qtbot.waitUntil(lambda: not window.client.busy, timeout=GHOST_TIMEOUT_MS)
    assert window.editor.toPlainText() == "She refused to leave the house."


def test_an_empty_or_paused_style_memory_keeps_the_entry_off_with_the_reason(
    qtbot, make_window, engine1, tmp_path
):
    window = make_window(engine1, style_memory=True)
    action = window.style_rephrase.action
    qtbot.waitUntil(
        lambda: window.style_panel.summary.text().startswith("0 documents"), timeout=GHOST_TIMEOUT_MS
    )
    assert not action.isEnabled() and action.toolTip() == STYLE_MEMORY_NEEDED
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "notes.txt").write_text(
        "I wrote this paragraph myself, about the garden and the long dry summer we had.\n"
    )
    window.style_service.add_folder(folder)
    qtbot.waitUntil(action.isEnabled, timeout=GHOST_TIMEOUT_MS)
    window.style_service.set_paused(True)
    qtbot.waitUntil(lambda: not action.isEnabled(), timeout=GHOST_TIMEOUT_MS)
    assert action.toolTip() == PAUSED


def test_the_menu_entry_opens_the_dialog_in_my_style(
    qtbot, make_window, engine1, held_out, tmp_path, short_takes
):
    folder = tmp_path / "speeches"
    folder.mkdir()
    (folder / "speeches.txt").write_text("\n\n".join(held_out[0]) + "\n")
    window, action = indexed_window(qtbot, make_window, engine1, folder)
    select(window.editor, BEFORE + held_out[1] + AFTER, held_out[1])
    menu = open_context_menu(qtbot, window.editor)
    menu_action(menu, TITLE).trigger()
    menu.close()
    dialog = window.assist.rephrase_dialog
    assert dialog.in_style and dialog.style_box.isEnabled() and window.assist.in_style
    assert window.mode_label.text() == "Rephrase in my style…" and not action.isEnabled()  # busy
    dialog.reject_button.click()  # stops the takes; the text stays
    qtbot.waitUntil(lambda: not window.client.busy, timeout=GHOST_TIMEOUT_MS)
    assert window.editor.toPlainText() == BEFORE + held_out[1] + AFTER


def test_in_my_style_takes_carry_the_writers_paragraphs_and_replace_the_selection(
    qtbot, make_window, engine1, held_out, tmp_path, short_takes
):
    shown, selection = held_out
    folder = tmp_path / "speeches"
    folder.mkdir()
    (folder / "speeches.txt").write_text("\n\n".join(shown) + "\n")
    window, _ = indexed_window(qtbot, make_window, engine1, folder)
    text = BEFORE + selection + AFTER
    select(window.editor, text, selection)
    window.rephrase_action.trigger()  # the plain Rephrase starts...
    dialog = window.assist.rephrase_dialog
    assert not dialog.in_style
    dialog.style_box.setChecked(True)  # ...and the writer switches to their style: the takes start over
    qtbot.waitUntil(lambda: dialog.finished_streaming, timeout=GHOST_TIMEOUT_MS * 4)

    style = engine1.last_style
    assert len(style.exemplars) == 2 and style.sources == [str(folder / "speeches.txt")]
    normalized = {" ".join(p.split()) for p in shown}
    assert all(" ".join(t.split()) in normalized for t in style.texts)
    assert engine1.last_prompt == prompts.with_exemplars(style.texts, prompts.rephrase_prompt(selection))
    assert dialog.style_note.text().startswith("Your style from: 2 paragraphs from speeches.txt")
    assert f"Adapters: {engine1.adapters.status(Mode.REPHRASE_STYLE)}" in dialog.style_note.text()
    # Adaptive best-of-n: up to REPHRASE_TAKES, fewer when a take passes the guard early.
    assert 1 <= len(dialog.candidates) <= REPHRASE_TAKES and all(c.verdict is not None for c in dialog.candidates)
    demoted = [c.demoted for c in dialog.candidates]
    assert demoted == sorted(demoted)  # the guard's verdicts rank them, as in Rephrase
    if dialog.candidates[0].demoted:
        assert dialog.reasons_label.text().startswith("May change the meaning")
    shown_take = dialog.rewrite_text()
    assert shown_take == dialog.candidates[0].text
    dialog.accept_button.click()
    assert window.editor.toPlainText() == BEFORE + shown_take + AFTER  # only the selection changed
    window.editor.undo()
    assert window.editor.toPlainText() == text
