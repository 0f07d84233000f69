"""The offline corpora: real Debian R packages, re-flowed into paragraphs, cached, split deterministically."""

import time

import pytest

from training.data.corpora import load_corpus, paragraphs_from_lines, split, split_by_title


def test_austen_has_six_novels_reflowed_into_paragraphs_without_headings():
    austen = load_corpus("austen")
    assert sorted(austen) == sorted(
        [
            "Emma",
            "Mansfield Park",
            "Northanger Abbey",
            "Persuasion",
            "Pride and Prejudice",
            "Sense and Sensibility",
        ]
    )
    pride = austen["Pride and Prejudice"]
    assert pride[0] == (
        "It is a truth universally acknowledged, that a single man in possession of a good fortune, "
        "must be in want of a wife."
    )
    everything = [p for paras in austen.values() for p in paras]
    assert not [p for p in everything if p.upper().startswith(("CHAPTER ", "VOLUME "))]
    assert not [p for p in everything if "\n" in p or "  " in p]
    assert 650_000 < sum(len(p.split()) for p in everything) < 750_000


def test_moby_dick_starts_at_chapter_one_and_stops_before_the_licence():
    moby = load_corpus("moby_dick")["Moby Dick"]
    assert moby[0].startswith("Call me Ishmael.")
    assert not any("Project Gutenberg" in p for p in moby)
    assert 190_000 < sum(len(p.split()) for p in moby) < 220_000


def test_reuters_articles_are_titled_by_heading_and_drop_the_dateline():
    reuters = load_corpus("reuters")
    assert len(reuters) == 70
    assert any(t.startswith("DIAMOND SHAMROCK") for t in reuters)
    assert not any(p.endswith("Reuter") for paras in reuters.values() for p in paras)


def test_second_load_reads_the_cache_instantly():
    load_corpus("austen")
    started = time.perf_counter()
    load_corpus("austen")
    assert time.perf_counter() - started < 1.0


def test_unknown_corpus_is_refused():
    with pytest.raises(ValueError, match="Unknown corpus"):
        load_corpus("tolstoy")


def test_reflow_joins_wrapped_lines_and_drops_front_matter_and_end():
    lines = [
        "TITLE",
        "",
        "CHAPTER I",
        "",
        "First line",
        "wrapped  here.",
        "",
        "* * *",
        "",
        "Second.",
        "",
        "THE END",
        "",
        "Note",
    ]
    assert paragraphs_from_lines(lines) == ["First line wrapped here.", "Second."]


def test_split_is_deterministic_disjoint_and_sized_by_fractions():
    items = [f"paragraph {i}" for i in range(1000)]
    a = split(items, seed=3, fractions=(0.8, 0.1, 0.1))
    b = split(list(reversed(items)), seed=3, fractions=(0.8, 0.1, 0.1))
    assert a == b  # independent of input order
    assert [len(x) for x in a] == [800, 100, 100]
    assert sorted(sum(a, [])) == sorted(items)
    assert split(items, seed=4)[0] != a[0]
    with pytest.raises(ValueError):
        split(items, fractions=(0.5, 0.6))


def test_split_by_title_keeps_each_books_tail_held_out():
    corpus = {"A": [f"a{i}" for i in range(10)], "B": [f"b{i}" for i in range(20)]}
    train, val, test = split_by_title(corpus, fractions=(0.8, 0.1, 0.1))
    assert train["A"] == corpus["A"][:8] and val["A"] == ["a8"] and test["A"] == ["a9"]
    assert train["B"] + val["B"] + test["B"] == corpus["B"]
