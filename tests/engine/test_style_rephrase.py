"""Rephrase in my style on the real Gemma 3 270M, its shipped adapters and a real style memory made of a
HELD-OUT writer's text (training/data/corpora.py HELD_OUT: never trained on)."""

from __future__ import annotations

import pytest

from engine import prompts
from engine.errors import STYLE_MEMORY_NEEDED, StyleError
from engine.modes import Mode
from engine.persona import StyleMemory, StyleRequest

WRITER = "speeches_obama"
MEMORY_PARAGRAPHS = 30


@pytest.fixture(scope="module")
def held_out():
    """(the writer's paragraphs for the memory, a sentence of theirs, the paragraph it comes from)."""
    from training.data.corpora import HELD_OUT, load_corpus
    from training.data.tasks import sentences

    assert WRITER in HELD_OUT
    paragraphs = [p for ps in load_corpus(WRITER).values() for p in ps if len(p.split()) >= 30]
    # A paragraph short enough for the exemplar budget: its stored copy would otherwise be chosen.
    source, selection = next(
        (p, s)
        for p in paragraphs[-40:]
        if len(p.split()) <= 90
        for s in sentences(p)
        if 12 <= len(s.split()) <= 25
    )
    return paragraphs[:MEMORY_PARAGRAPHS], selection, source


def memory_of(tmp_path, paragraphs: list[str]) -> StyleMemory:
    folder = tmp_path / "speeches"
    folder.mkdir()
    (folder / "speeches.txt").write_text("\n\n".join(paragraphs) + "\n")
    memory = StyleMemory(tmp_path / "memory.sqlite3")
    memory.add_folder(folder)
    return memory


@pytest.fixture
def short_takes(engine):
    """Short takes keep the test quick; the code path is the same."""
    saved = engine.mode_params[Mode.REPHRASE_STYLE]
    engine.mode_params[Mode.REPHRASE_STYLE] = saved.with_overrides(max_new_tokens=16)
    yield
    engine.mode_params[Mode.REPHRASE_STYLE] = saved
    engine.attach_style_memory(None)


def test_the_takes_follow_the_prompt_the_style_adapter_was_trained_on(
    engine, held_out, tmp_path, short_takes
):
    shown, selection, source = held_out
    # The writer's saved copy of the selection's paragraph is in the memory too, as in a real document:
    # it is the nearest match, but the source itself, never an exemplar (grpo_style.py never shows it).
    memory = memory_of(tmp_path, [*shown, source])
    engine.attach_style_memory(memory)
    try:
        found = engine.rephrase_in_style_candidates(selection, style=StyleRequest("draft.txt"), n=2, seed=3)
    finally:
        memory.close()
    style = engine.last_style
    # k = 2 of the writer's own paragraphs, before the few-shot rephrase prompt: grpo_style.py's form.
    assert len(style.exemplars) == 2
    normalized = {" ".join(p.split()) for p in shown}
    assert all(" ".join(t.split()) in normalized for t in style.texts)
    assert engine.last_prompt == prompts.with_exemplars(style.texts, prompts.rephrase_prompt(selection))
    # Rephrase's best-of-n path: every take carries the meaning guard's verdict, passing ones first.
    assert found.mode == "rephrase_style" and 1 <= len(found.candidates) <= 2
    assert all(c.verdict is not None for c in found.candidates)
    demoted = [c.demoted for c in found.candidates]
    assert demoted == sorted(demoted)
    # The composition that drew them, said honestly: the RL adapter, or task_rephrase standing in.
    active, _, _ = engine.adapters.plan(Mode.REPHRASE_STYLE)
    assert found.served_by == engine.adapters.status(Mode.REPHRASE_STYLE)
    if "task_rephrase_style" not in engine.adapters.installed:
        assert active == ("task_rephrase",)
        assert "task_rephrase_style not installed yet: task_rephrase serves in its place" in found.served_by
    else:
        assert active == ("task_rephrase_style",)


def test_without_a_usable_style_memory_it_is_refused_and_nothing_is_generated(
    engine, held_out, tmp_path, short_takes
):
    _, selection, _ = held_out
    before = engine.last_stats
    engine.attach_style_memory(None)
    with pytest.raises(StyleError, match="no style memory") as refused:
        engine.rephrase_in_style_candidates(selection, n=2)
    assert str(refused.value).startswith(STYLE_MEMORY_NEEDED)
    empty = StyleMemory(tmp_path / "empty.sqlite3")
    engine.attach_style_memory(empty)
    try:
        with pytest.raises(StyleError, match="style memory empty"):
            engine.rephrase_in_style_candidates(selection, n=2)
        empty.add_files([write(tmp_path / "one.txt", held_out[0][0])])
        empty.pause()
        with pytest.raises(StyleError, match="style memory paused"):
            engine.rephrase_in_style(selection)
    finally:
        empty.close()
    assert engine.last_stats is before  # no generation ran


def write(path, text: str):
    path.write_text(text + "\n")
    return path
