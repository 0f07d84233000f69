"""The Rephrase dialog's takes (best first, word diff, alternatives one click away) and Continue's
"another take": real widgets, the real engine for the end-to-end ones."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QDialog
from qt_helpers import GHOST_TIMEOUT_MS

from app.assist import REPHRASE_TAKES, RephraseDialog
from app.word_diff import DELETED, INSERTED, word_ops
from engine.modes import Mode
from engine.quality.best_of_n import Candidate, CandidateSet
from engine.quality.guard import GuardVerdict

SOURCE = "She refused to leave the house."


def takes(score_meaningful: bool = True) -> CandidateSet:
    flipped = GuardVerdict(False, ("a negation was added or removed: “leave” is now affirmed",), ("negation",))
    return CandidateSet(
        SOURCE, "rephrase",
        (
            Candidate("She would not go out of the house.", 0.15, 1, 1.0, GuardVerdict(True), 0.91),
            Candidate("She did not refuse to leave the house.", 0.3, 2, 1.0, flipped, 0.97),
        ),
        "WQRM", score_meaningful, 2.0,
    )


def test_the_best_take_is_shown_first_with_its_word_diff(qtbot):
    dialog = RephraseDialog(SOURCE)
    qtbot.addWidget(dialog)
    dialog.show_candidates(takes())
    dialog.done_streaming()
    assert dialog.rewrite_text() == "She would not go out of the house."
    assert dialog.take_label.text() == "Take 1 of 2 (best)"
    html = dialog.diff_view.toHtml()
    assert "line-through" in html and "underline" in html  # deletions and insertions are marked
    assert "refused" in dialog.diff_view.toPlainText() and "would not go out of" in dialog.diff_view.toPlainText()
    assert dialog.reasons_label.text() == ""
    assert dialog.score_label.text() == "WQRM: 0.91"
    assert dialog.accept_button.isEnabled() and not dialog.previous_button.isEnabled()


def test_a_passage_shows_which_sentence_is_being_rewritten(qtbot):
    dialog = RephraseDialog(SOURCE)
    qtbot.addWidget(dialog)
    dialog.show()
    assert not dialog.progress.isVisible()  # one sentence: no bar
    dialog.show_progress(2, 5)
    assert dialog.progress.isVisible() and dialog.progress.text() == "Sentence 2 of 5"
    dialog.restart()
    assert not dialog.progress.isVisible()


def test_the_next_take_is_one_click_away_and_a_demoted_one_says_why(qtbot):
    dialog = RephraseDialog(SOURCE)
    qtbot.addWidget(dialog)
    dialog.show_candidates(takes())
    dialog.next_button.click()
    assert dialog.rewrite_text() == "She did not refuse to leave the house."
    assert dialog.take_label.text() == "Take 2 of 2"
    assert "“leave” is now affirmed" in dialog.reasons_label.text()
    assert not dialog.next_button.isEnabled()
    dialog.previous_button.click()
    assert dialog.rewrite_text() == "She would not go out of the house."


def test_the_score_is_hidden_where_it_means_nothing(qtbot):
    dialog = RephraseDialog(SOURCE)
    qtbot.addWidget(dialog)
    dialog.show_candidates(takes(score_meaningful=False))
    assert dialog.score_label.text() == ""


def test_word_ops_mark_only_the_changed_words():
    assert word_ops("a b c d", "a x c d") == [("same", "a"), ("del", "b"), ("ins", "x"), ("same", "c d")]
    assert DELETED != INSERTED


def select_all_and_rephrase(qtbot, window, text):
    editor = window.editor
    editor.setPlainText(text)
    editor.selectAll()
    window.rephrase_action.trigger()
    dialog = window.assist.rephrase_dialog
    # Three takes, the guard and the ranking: minutes on a loaded 2-core machine.
    qtbot.waitUntil(lambda: dialog.finished_streaming, timeout=GHOST_TIMEOUT_MS * 6)
    return dialog


@pytest.fixture
def short_rephrase(engine):
    """Shorter takes keep the suite quick; the code path is the same."""
    saved = engine.mode_params[Mode.REPHRASE]
    engine.mode_params[Mode.REPHRASE] = saved.with_overrides(max_new_tokens=24)
    yield
    engine.mode_params[Mode.REPHRASE] = saved


def test_rephrase_offers_guarded_takes_best_first_and_replaces_with_the_one_shown(qtbot, window, short_rephrase):
    source = "The rain had not stopped for three days."
    dialog = select_all_and_rephrase(qtbot, window, source)
    assert 1 <= len(dialog.candidates) <= REPHRASE_TAKES  # adaptive: it stops at the first passing take
    shown = dialog.candidates[0]
    assert dialog.rewrite_text() == shown.text
    demoted = [c.demoted for c in dialog.candidates]
    assert demoted == sorted(demoted)  # every take the guard passed comes before any it demoted
    if len(dialog.candidates) > 1:
        dialog.next_button.click()
        assert dialog.rewrite_text() == dialog.candidates[1].text
        if dialog.candidates[1].demoted:
            assert dialog.reasons_label.text().startswith("May change the meaning")
    dialog.accept_button.click()
    assert window.editor.toPlainText() == dialog.rewrite_text()
    window.editor.undo()
    assert window.editor.toPlainText() == source


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        ("def area(r):\n    return 3.14 * r * r\n", "looks like code"),
        ("| year | sales |\n|------|-------|\n| 2024 | 12 |\n", "looks like a table"),
        ("Der Hund lief schnell über die Straße, weil es draußen regnete und sehr kalt war.", "English or Russian"),
    ],
)
def test_rephrase_of_code_a_table_or_another_language_says_why_and_keeps_the_text(
    qtbot, window, selection, message
):
    dialog = select_all_and_rephrase(qtbot, window, selection)
    assert message in dialog.status.text()
    assert not dialog.accept_button.isEnabled()
    dialog.reject_button.click()
    assert dialog.result() == QDialog.Rejected
    assert window.editor.toPlainText() == selection


@pytest.fixture
def short_continue(engine):
    saved = engine.mode_params[Mode.CONTINUE]
    engine.mode_params[Mode.CONTINUE] = saved.with_overrides(max_new_tokens=16)
    yield
    engine.mode_params[Mode.CONTINUE] = saved


def test_another_take_replaces_the_continuation_and_undo_brings_the_first_back(qtbot, window, short_continue):
    opening = "It was a bright cold day in April, and the clocks were striking thirteen."
    editor = window.editor
    editor.setPlainText(opening)
    editor.moveCursor(editor.textCursor().MoveOperation.End)
    window.continue_action.trigger()
    qtbot.waitUntil(lambda: not window.assist.busy, timeout=GHOST_TIMEOUT_MS * 3)
    first = editor.toPlainText()
    assert first.startswith(opening) and len(first) > len(opening)
    window.another_take_action.trigger()
    assert window.assist.busy
    qtbot.waitUntil(lambda: not window.assist.busy, timeout=GHOST_TIMEOUT_MS * 3)
    second = editor.toPlainText()
    assert second.startswith(opening) and len(second) > len(opening)
    assert window.assist.last_continue[3] == 1  # take 1: the next min-p setting
    editor.undo()  # the second take goes
    assert editor.toPlainText() == opening
    editor.undo()  # and the first comes back
    assert editor.toPlainText() == first
