"""The package text-format parsers, on small documents in each format (no download)."""

from training.data import text_formats as tf


def test_fortune_quotes_reflow_and_drop_the_attribution():
    text = 'First line\nwrapped.\n\t\t-- Somebody, "Book"\n%\nSecond quote.\n%\n\n%\nТретья цитата.\n\t\t-- Автор\n'
    assert tf.fortune_quotes(text) == ["First line wrapped.", "Second quote.", "Третья цитата."]


def _b64(n: int) -> str:
    digits = ""
    while True:
        digits = tf._B64[n % 64] + digits
        n //= 64
        if not n:
            return digits


def test_dictd_entries_follow_the_index_and_keep_prose_only():
    entries = [
        ("00databaseshort", "The Dictionary\n"),
        (
            "hacker",
            "hacker\n n.\n\n    [originally, furniture]\n\n    1. A person who {hacks} for\n    fun.\n\n",
        ),
        ("ABDOMEN", "ABDOMEN, n.  The temple of the god\nStomach.\n\n    A verse line\n    Another ñ line\n"),
    ]
    data, index, offset = "", [], 0
    for word, text in entries:
        index.append(f"{word}\t{_b64(offset)}\t{_b64(len(text.encode()))}")
        data += text
        offset += len(text.encode())
    parsed = tf.dictd_entries("\n".join(index), data)
    assert [w for w, _ in parsed] == ["hacker", "ABDOMEN"]  # metadata entries are not text
    assert tf.dictd_prose(parsed[0][1], drop_indented_from=8) == ["A person who hacks for fun."]
    assert tf.dictd_prose(parsed[1][1], drop_indented_from=4) == [
        "ABDOMEN, n. The temple of the god Stomach."
    ]


def test_pod_paragraphs_resolve_nested_codes_and_skip_code_and_boilerplate():
    pod = "\n\n".join(
        [
            "=head1 NAME",
            "perlx - a page",
            "=head1 DESCRIPTION",
            "Use C<< $a <=> $b >> with B<I<care>> and L<the docs|perlfunc/sort>, E<gt> and S<C<< <FH> >>>.",
            "    my @sorted = sort { $a <=> $b } @list;",
            "=begin html",
            "<p>html only</p>",
            "=end html",
            "Second X<index>paragraph\nwrapped.",
            "=head1 AUTHOR",
            "Larry Wall <larry@wall.org>",
        ]
    )
    assert tf.pod_paragraphs(pod) == [
        "Use $a <=> $b with care and the docs, > and <FH>.",
        "Second paragraph wrapped.",
    ]


def test_html_paragraphs_skip_tables_code_and_navigation():
    markup = """<html><head><title>Chapter 2. <b>Tools</b></title></head><body>
    <div class="toc"><p><b>Table of Contents</b></p></div>
    <p>First &amp; <a href="x">linked</a>
    paragraph.</p>
    <table><tr><td><p>cell</p></td></tr></table>
    <pre>code block</pre>
    <p>Вторая <code>строка</code></p><p></p>
    <div class="navfooter"><p>Next</p></div></body></html>"""
    assert tf.html_title(markup) == "Chapter 2. Tools"
    assert tf.html_paragraphs(markup) == ["First & linked paragraph.", "Вторая строка"]


def test_info_text_chapters_drop_headings_code_menus_and_the_licence():
    text = """Front matter.

1 Design
********

   Prose of the first
chapter.

     code example
     more code

* Menu:

1.1 A section
=============

Section prose.

Appendix A GNU Free Documentation License
*****************************************

Legal text.
"""
    assert tf.info_text_chapters(text) == {"1 Design": ["Prose of the first chapter.", "Section prose."]}


def test_play_speeches_drop_speakers_and_stage_directions():
    play = "# Hamlet\n\n## ACT I\n\n_Enter BERNARDO_\n\n**BERNARDO**  \nWho's there?\n\n**HAMLET**  \nTo be, or not to be:  \nthat is the question: _Aside_ indeed\n\n_Exit_\n"
    assert tf.play_speeches(play) == (
        "Hamlet",
        ["Who's there?", "To be, or not to be: that is the question: Aside indeed"],
    )


def test_numbered_verses_start_after_the_preface_and_drop_verse_numbers():
    text = "Preface 1. Not a verse.\n\n(An Anthology of Verses)\n\n1. The Pairs\n\nMind precedes its\nobjects. 1\n\nAnger ceases in those.\n2\n\n2. Attention\n\nVigilance is the path. 21-22\n"
    assert tf.numbered_verses(text, "(An Anthology of Verses)") == {
        "The Pairs": ["Mind precedes its objects.", "Anger ceases in those."],
        "Attention": ["Vigilance is the path."],
    }


def test_cyrillic_share_tells_russian_from_english():
    assert tf.cyrillic_share("Пакет Debian собирается командой debuild.") > 0.6
    assert tf.cyrillic_share("The package is built with debuild.") == 0.0
    assert tf.cyrillic_share("123 ...") == 0.0


def test_transcript_paragraphs_drop_audience_notes():
    text = "Madam Speaker:\n\nWe acted. [Applause] And we\nwon. [Laughter]\n\n[Applause]\n"
    assert tf.transcript_paragraphs(text) == ["Madam Speaker:", "We acted. And we won."]
