"""Style by retrieved exemplars on the real Gemma 3 270M: the writer's own paragraphs help, and the engine
reuses them as a cached prompt prefix while the writer types in one paragraph.

Small on purpose (CI): 40 memory paragraphs per writer, 3 scored paragraphs.
"""

from __future__ import annotations

import pytest

from engine.modes import Mode
from engine.persona import StyleMemory, StyleRequest

MEMORY_PARAGRAPHS = 40
SCORED = 3


def long_paragraphs(corpus: str, title: str | None = None) -> list[str]:
    from training.data.corpora import load_corpus

    books = load_corpus(corpus)
    paras = books[title] if title else [p for ps in books.values() for p in ps]
    return [p for p in paras if len(p.split()) >= 30]


@pytest.fixture(scope="module")
def writers():
    austen = long_paragraphs("austen", "Persuasion")
    reuters = long_paragraphs("reuters")
    return {
        "austen": (austen[:MEMORY_PARAGRAPHS], austen[-SCORED:]),
        "reuters": (reuters[:MEMORY_PARAGRAPHS], reuters[-SCORED:]),
    }


def memory_of(tmp_path, name: str, paragraphs: list[str]) -> StyleMemory:
    folder = tmp_path / name
    folder.mkdir()
    (folder / f"{name}.txt").write_text("\n\n".join(paragraphs) + "\n")
    memory = StyleMemory(tmp_path / f"{name}.sqlite3")
    memory.add_folder(folder)
    return memory


def test_own_exemplars_lower_the_nll_of_the_writers_text_more_than_another_writers(engine, writers, tmp_path):
    from engine import prompts
    from training.eval.style_retrieval import nll, split_prefix

    memories = {name: memory_of(tmp_path, name, history) for name, (history, _) in writers.items()}
    count = engine._count_tokens
    try:
        for own, other in (("austen", "reuters"), ("reuters", "austen")):
            splits = [split_prefix(p) for p in writers[own][1]]
            own_rows, other_rows = [], []
            for i, (prefix, cont) in enumerate(splits):
                for memory, rows in ((memories[own], own_rows), (memories[other], other_rows)):
                    found = memory.exemplars(prefix, StyleRequest(f"t{i}"), count_tokens=count)
                    assert found.active, found.reason
                    rows.append((prompts.with_exemplars(found.texts, prefix), cont))
            own_nll, other_nll = nll(engine.loaded, own_rows), nll(engine.loaded, other_rows)
            assert own_nll < other_nll - 0.05, (own, own_nll, other_nll)
    finally:
        for memory in memories.values():
            memory.close()


def test_engine_puts_exemplars_before_the_text_and_reuses_them_within_a_paragraph(engine, writers, tmp_path):
    memory = memory_of(tmp_path, "austen", writers["austen"][0])
    params = engine.mode_params[Mode.CONTINUE].with_overrides(max_new_tokens=3, seed=0)
    text = "Anne had been sitting quietly in the drawing-room when her sister"
    try:
        engine.attach_style_memory(memory)
        engine.run_to_text(engine.continue_text(text, style=StyleRequest("letter.txt"), params=params))
        style = engine.last_style
        assert style.active and style.describe().startswith("Style: ")
        assert style.sources == [str(tmp_path / "austen" / "austen.txt")]
        prefix_tokens = engine._count_tokens(prompts_prefix(style))
        engine.run_to_text(engine.continue_text(text + " came in", style=StyleRequest("letter.txt"), params=params))
        assert engine.last_style is style  # the same exemplars for the same paragraph
        assert engine.last_stats.reused_positions >= prefix_tokens  # served from the cached keys/values

        engine.run_to_text(engine.continue_text(text, params=params))
        assert engine.last_style is None  # not asked: no style
        memory.pause()
        engine.run_to_text(engine.continue_text(text + " came", style=StyleRequest("x"), params=params))
        assert engine.last_style.reason == "style memory paused"
        memory.resume()
        # Ghost text and Rephrase never take style (measured: docs/persona.md); they say so in a field.
        short = params.with_overrides(max_new_tokens=1)
        engine.run_to_text(engine.complete(text, style=StyleRequest("x"), params=short))
        assert not engine.last_style.mode_styled and not engine.last_style.active
        engine.rephrase("She came in late.", style=StyleRequest("x"), params=short)
        assert engine.last_style.reason == "not used for rephrase" and not engine.last_style.mode_styled
    finally:
        engine.attach_style_memory(None)
        memory.close()


def prompts_prefix(style) -> str:
    from engine import prompts

    return prompts.with_exemplars(style.texts, "")
