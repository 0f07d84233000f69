"""The app-path eval of Rephrase in my style (training/eval/style_rephrase_app.py): its items and its interval."""

from __future__ import annotations

from training.eval.style_rephrase_app import MEMORY_PARAGRAPHS, paired_gain, writer_items


def test_items_rewrite_another_held_out_writer_towards_the_target_writers_memory():
    from training.data.corpora import HELD_OUT, load_corpus

    items = writer_items(2)
    writers = [w for w, _, _ in items]
    assert len(items) == 8 and len(set(writers)) == 4 and set(writers) <= set(HELD_OUT)
    for writer, memory, source in items:
        assert len(memory) == MEMORY_PARAGRAPHS
        own = " ".join(p for ps in load_corpus(writer).values() for p in ps)
        assert source not in own  # the sentence is another writer's
        assert all(source not in p for p in memory)


def test_paired_gain_is_the_mean_difference_with_an_interval_around_it():
    assert paired_gain([0.0, 0.0, 0.0], [1.0, 1.0, 1.0]) == {"gain": 1.0, "ci95": [1.0, 1.0]}
    spread = paired_gain([0.0] * 4, [0.0, 0.0, 0.0, 4.0])
    assert spread["gain"] == 1.0 and spread["ci95"][0] < 1.0 < spread["ci95"][1]
    assert paired_gain([], []) == {"gain": None, "ci95": None}
