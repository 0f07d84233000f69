"""Retrieved exemplars: relevant, diverse, never the paragraph being edited, stable per paragraph, gated.

Real StyleMemory (SQLite file under the test's KILLAH_HOME), real MiniLM, real files on disk.
"""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from engine.persona import StyleMemory, StyleRequest
from engine.persona.exemplars import (
    ANY_PARAGRAPH,
    Exemplar,
    StyleContext,
    cosine_scores,
    fit_budget,
    mmr_order,
    paragraph_key,
    search_matrix,
    top_candidates,
)

GARDEN = [
    "The roses along the south wall opened late this year, and I spent the whole of Sunday tying them back "
    "with soft twine, which my mother always said was kinder to the stems than wire.",
    "By the pond the irises have spread so far that the heron now stands among them like a grey post, "
    "watching the water and paying no attention to me or to the dog.",
    "I dug the potato bed over twice before planting, because the clay there holds the rain and the seed "
    "potatoes rot if they sit wet for a week in April.",
]
TAXES = [
    "The quarterly tax return must be filed before the fifteenth of the month following the end of the "
    "quarter, together with the statement of withheld payroll amounts.",
    "Deductions for home office expenses require that the room is used regularly and exclusively for "
    "business, and the square footage must be documented.",
]
RUSSIAN = [
    "Утром в саду было тихо, только пчёлы гудели над липой, и я долго сидела на скамейке у старого пруда.",
    "Осенью мы собирали яблоки в большие корзины и носили их в погреб, где они лежали до самой весны.",
]


def write(folder, name, paragraphs):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("\n\n".join(paragraphs) + "\n")
    return path


def unit(*xs):
    v = np.array(xs, dtype=np.float32)
    return v / np.linalg.norm(v)


# -- the pieces, by hand ---------------------------------------------------------------------------


def test_top_candidates_keeps_the_best_above_the_threshold_in_order():
    scores = np.array([0.1, 0.9, 0.4, 0.05, 0.7], dtype=np.float32)
    assert top_candidates(scores, 3, 0.0).tolist() == [1, 4, 2]
    assert top_candidates(scores, 10, 0.5).tolist() == [1, 4]
    assert top_candidates(scores, 0, 0.0).tolist() == []


def test_mmr_prefers_a_different_paragraph_over_a_near_duplicate():
    vectors = np.stack([unit(1, 0, 0), unit(1, 0.01, 0), unit(0.6, 0.8, 0)])
    scores = np.array([0.9, 0.89, 0.6], dtype=np.float32)
    order = mmr_order(scores, vectors)
    assert order == [0, 2]  # the near-copy of the first is dropped, not just ranked last


def test_the_float16_search_matrix_ranks_as_float32_up_to_near_ties():
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, 384))  # clustered like real paragraphs: many close scores
    vectors = centres[rng.integers(0, 20, 5000)] + 0.5 * rng.standard_normal((5000, 384))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    matrix = search_matrix(vectors)
    assert matrix.dtype == np.float16 and matrix.flags.c_contiguous and matrix.nbytes == vectors.nbytes // 2
    for query in vectors[:5] + 0.3 * rng.standard_normal((5, 384)).astype(np.float32):
        query = query / np.linalg.norm(query)
        exact, fast = vectors @ query, cosine_scores(matrix, query)
        assert fast.dtype == np.float32 and np.abs(fast - exact).max() < 1e-3
        picked, best = top_candidates(fast, 16, -1.0), top_candidates(exact, 16, -1.0)
        # Only near-ties may swap: whatever float16 picks or orders differently is within 2e-3 of float32's.
        assert exact[picked].min() >= exact[best].min() - 2e-3
        assert np.all(np.diff(exact[picked]) <= 2e-3)
        assert len(set(picked) & set(best)) >= 14


def test_fit_budget_keeps_order_skips_what_overflows_and_stops_at_k():
    picks = [Exemplar("a " * 50, "x", 0.9), Exemplar("b " * 200, "x", 0.8), Exemplar("c " * 30, "x", 0.7)]
    count = lambda text: len(text.split())  # noqa: E731
    kept = fit_budget(picks, 2, 100, count)
    assert [e.text[0] for e in kept] == ["a", "c"]
    assert len(fit_budget(picks, 1, 1000, count)) == 1


def test_describe_says_what_conditions_the_text():
    ex = (Exemplar("one", "/home/u/letters.docx", 0.5), Exemplar("two", "/home/u/letters.docx", 0.4))
    assert StyleContext(ex).describe() == "Style: 2 paragraphs from letters.docx"
    assert StyleContext(reason="style memory paused").describe() == "Style: off (style memory paused)"
    assert not StyleContext().active


def test_paragraph_key_is_stable_while_typing_in_a_paragraph_and_changes_with_the_next():
    before = "The first paragraph of the letter, long enough to make a query of its own.\nDear Anne, I"
    assert paragraph_key("doc", before) == paragraph_key("doc", before + " write to you")
    assert paragraph_key("doc", "Dear") != paragraph_key("doc", "Dear Anne, I write to you because the roses")
    assert paragraph_key("doc", before) != paragraph_key("doc", before + " write.\nNew")
    assert paragraph_key("doc", before) != paragraph_key("other", before)


# -- the real memory -------------------------------------------------------------------------------


@pytest.fixture
def filled(memory, tmp_path):
    folder = tmp_path / "writing"
    write(folder, "garden.txt", GARDEN)
    write(folder, "taxes.txt", TAXES)
    memory.add_folder(folder)
    return memory, folder


def test_exemplars_are_the_writers_relevant_paragraphs_with_their_source(filled):
    memory, folder = filled
    found = memory.exemplars("This spring the tulips in the front border came up", k=2)
    assert found.active and len(found.exemplars) == 2
    assert all(t in GARDEN for t in found.texts)
    assert found.sources == [str(folder / "garden.txt")]
    assert found.describe() == "Style: 2 paragraphs from garden.txt"
    scores = [e.score for e in found.exemplars]
    assert all(s >= 0.15 for s in scores)


def test_search_over_the_float16_matrix_picks_what_float32_picks(filled):
    memory, _ = filled
    ids, matrix = memory._memory_vectors()
    assert matrix.dtype == np.float16
    text = "This spring the tulips in the front border came up, and the roses by the pond"
    query = memory.encoder.encode([text])[0]
    fast = memory.search_vector(query, ids, matrix, text, StyleRequest(), 2, 0.15)
    exact = memory.search_vector(query, ids, matrix.astype(np.float32), text, StyleRequest(), 2, 0.15)
    assert [e.text for e in fast] == [e.text for e in exact] and len(fast) >= 2
    assert [e.score for e in fast] == pytest.approx([e.score for e in exact], abs=1e-3)


def test_budget_limits_the_exemplars(filled):
    memory, _ = filled
    found = memory.exemplars("The garden in spring, with roses and the pond", k=3, budget_tokens=60)
    assert len(found.exemplars) == 1  # each garden paragraph is ~45 words: only one fits 60 tokens


def test_the_paragraph_being_edited_is_never_an_exemplar(filled):
    memory, _ = filled
    typed = GARDEN[0][:60]  # the writer is editing the stored paragraph itself
    found = memory.exemplars("Notes from the garden.\n" + typed, StyleRequest("garden.txt"), k=3)
    assert GARDEN[0] not in found.texts and found.active
    # A paragraph the model already sees above the cursor is not repeated either.
    found = memory.exemplars(GARDEN[1] + "\nThe roses", StyleRequest("garden.txt"), k=3)
    assert GARDEN[1] not in found.texts


def test_the_paragraph_holding_a_rephrased_selection_is_never_an_exemplar(filled):
    """Rephrase in my style: the stored paragraph that holds the selection is its source, not a model."""
    memory, _ = filled
    middle = "the heron now stands among them like a grey post"  # not the paragraph's start
    plain = memory.exemplars(middle, StyleRequest("a"), k=3, threshold=0.0)
    assert plain.texts[0] == GARDEN[1]  # the nearest match, without the exclusion
    # (threshold 0: the other paragraphs are unlike this query; what matters here is which are left out)
    rewriting = memory.exemplars(middle, StyleRequest("b", rewriting=middle), k=3, threshold=0.0)
    assert GARDEN[1] not in rewriting.texts and rewriting.active
    # A selection across two paragraphs (the end of one, the start of the next): neither is shown.
    across = GARDEN[0][-60:] + "\n" + GARDEN[1][:40]
    found = memory.exemplars(across, StyleRequest("c", rewriting=across), k=3, threshold=0.0)
    assert GARDEN[0] not in found.texts and GARDEN[1] not in found.texts


def test_choice_is_cached_per_paragraph_and_dropped_when_the_memory_changes(filled, tmp_path):
    memory, folder = filled
    text = "A letter.\nThe heron was back at the pond this morning"
    first = memory.exemplars(text, StyleRequest("letter.txt"))
    assert not memory.last_retrieval.cached
    again = memory.exemplars(text + " and the", StyleRequest("letter.txt"))
    assert memory.last_retrieval.cached and again is first  # same prompt prefix: the KV cache is reused
    memory.exemplars(text + " and the dog.\nNext", StyleRequest("letter.txt"))
    assert not memory.last_retrieval.cached  # a new paragraph chooses again
    write(folder, "more.txt", ["The heron stood in the shallows all afternoon while the ducks kept away."])
    memory.refresh()
    memory.exemplars(text + " and the", StyleRequest("letter.txt"))
    assert not memory.last_retrieval.cached  # the memory changed: the cache was dropped


def test_gate_empty_paused_unrelated_and_other_language(memory, tmp_path):
    assert memory.exemplars("Anything at all").reason == "style memory empty"
    memory.add_folder(write(tmp_path / "ru", "сад.txt", RUSSIAN).parent)
    found = memory.exemplars(
        "The quarterly report shows the revenue of the company went up.", StyleRequest("en")
    )
    assert not found.active and found.reason == "the style memory is in another language"
    assert found.describe().startswith("Style: off (")
    memory.pause()
    assert memory.exemplars("Утром в саду").reason == "style memory paused"
    memory.resume()
    assert memory.exemplars("Утром в саду было тихо и пели птицы", StyleRequest("ru")).active


def test_nothing_relevant_turns_style_off(memory, tmp_path):
    memory.add_folder(write(tmp_path / "w", "taxes.txt", TAXES).parent)
    found = memory.exemplars("Haha lol ok see u", threshold=0.5)
    assert not found.active and found.reason == "nothing in the style memory is like this text"


def test_any_paragraph_serves_another_topic_but_never_another_script(memory, tmp_path):
    """Rephrase in my style's gate: the writer's voice, whatever the topic; never a paragraph in another script."""
    memory.add_folder(write(tmp_path / "w", "taxes.txt", TAXES).parent)
    memory.add_folder(write(tmp_path / "ru", "сад.txt", RUSSIAN).parent)
    text = "Haha lol ok see u"
    assert not memory.exemplars(text, StyleRequest("a")).active  # Continue's threshold: nothing like it
    found = memory.exemplars(text, StyleRequest("b"), threshold=ANY_PARAGRAPH)
    assert found.active and {e.text for e in found.exemplars} <= set(TAXES)
    russian = memory.exemplars("Утром в саду было тихо", StyleRequest("c"), threshold=ANY_PARAGRAPH)
    assert russian.active and {e.text for e in russian.exemplars} <= set(RUSSIAN)


def test_documents_deleted_from_disk_still_serve_until_the_next_rescan(filled):
    """Exemplars come from the store's copies: deleting the files keeps them until a rescan prunes them."""
    memory, folder = filled
    for path in folder.iterdir():
        path.unlink()
    assert memory.exemplars("The roses in the garden", StyleRequest("a")).active
    memory.refresh()
    assert memory.exemplars("The roses in the garden", StyleRequest("a")).reason == "style memory empty"


def test_a_corrupt_memory_file_is_started_afresh_and_the_documents_are_untouched(tmp_path, encoder):
    db = tmp_path / "persona.sqlite3"
    db.write_bytes(b"this is not a database" * 100)
    doc = write(tmp_path / "w", "garden.txt", GARDEN)
    memory = StyleMemory(db, encoder=encoder)
    try:
        assert "could not be read" in memory.store.reset_reason
        assert memory.exemplars("roses").reason == "style memory empty"
        memory.add_folder(doc.parent)
        assert memory.exemplars("The roses by the south wall").active
    finally:
        memory.close()
    assert doc.read_text().startswith(GARDEN[0])


def test_a_memory_file_from_another_version_is_started_afresh(tmp_path, encoder):
    db = tmp_path / "persona.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE paragraphs (id INTEGER PRIMARY KEY, text TEXT)")
    conn.execute("PRAGMA user_version=7")
    conn.commit()
    conn.close()
    memory = StyleMemory(db, encoder=encoder)
    try:
        assert "another version (format 7" in memory.store.reset_reason
        assert memory.paragraph_count() == 0
    finally:
        memory.close()
    again = StyleMemory(db, encoder=encoder)  # the fresh file opens normally next time
    try:
        assert again.store.reset_reason == ""
    finally:
        again.close()
