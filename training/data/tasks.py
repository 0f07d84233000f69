"""Task data builders: prompt -> completion pairs in exactly the engine's inference format.

Every prompt is built with ``engine.prompts`` (the functions the engine calls at
inference), so an adapter learns the format it will meet:

| task         | prompt (engine.prompts)                       | completion                           |
|--------------|-----------------------------------------------|--------------------------------------|
| autocomplete | ``autocomplete_prompt(text up to a word end)`` | rest of the sentence (" word word.") |
| continue     | ``continue_prompt(passage + "\\n\\n")``         | next paragraph + "\\n\\n"              |
| rephrase     | ``rephrase_prompt(sentence)``                  | " " + paraphrase + "\\n" (synthetic)   |
| persona      | ``continue_prompt(author's passage)``          | the author's next paragraph          |
| dictation    | ``dictation_prompt(spoken form, text before)`` | " " + the original sentence + "\\n"   |

Held-out examples come from the held-out tail of every book
(``corpora.split_by_title``), so no test passage has a trained neighbour.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

from engine import prompts
from engine.quality.metrics_text import split_sentences
from training.data.corpora import SOURCES, assert_trainable, load_corpus, split_by_title

# Sentence ends: . ! ? followed by optional closing quotes, then space or end.
SPLIT_FRACTIONS = (0.9, 0.05, 0.05)
PART_INDEX = {"train": 0, "val": 1, "test": 2}


@dataclass(frozen=True)
class Example:
    prompt: str
    completion: str
    source: str  # corpus/title, for reporting
    author: str = ""

    def to_json(self) -> dict:
        return asdict(self)


def sentences(paragraph: str) -> list[str]:
    """Split a paragraph into sentences (keeping their final punctuation).

    The one splitter is the metric suite's, so training data and metrics agree on what a sentence is.
    """
    return split_sentences(paragraph)


def sentence_spans(paragraph: str, k: int = 1, min_words: int = 8, max_words: int = 30) -> list[str]:
    """Every run of ``k`` consecutive sentences of ``paragraph`` whose sentences are each
    ``min_words``..``max_words`` words long: the inputs a rewrite is asked for. Runs of k > 1 give
    style reward dropout something to drop (with one sentence, dropping it trips the safeguard)."""
    sents = sentences(paragraph)
    fits = [min_words <= len(s.split()) <= max_words for s in sents]
    return [" ".join(sents[i : i + k]) for i in range(len(sents) - k + 1) if all(fits[i : i + k])]


def corpus_part(names: Iterable[str], part: str) -> dict[str, dict[str, list[str]]]:
    """{corpus: {title: paragraphs}} for the 'train', 'val' or 'test' part of each book.

    Every training example is built from a 'train' part, so this is where held-out
    writers are refused (``corpora.HeldOutError``).
    """
    names = list(names)
    if part == "train":
        assert_trainable(names)
    return {
        name: split_by_title(load_corpus(name), fractions=SPLIT_FRACTIONS)[PART_INDEX[part]] for name in names
    }


AUTHORS = {name: source.author for name, source in SOURCES.items()}


def _usable(paragraph: str, min_words: int = 8) -> bool:
    return len(paragraph.split()) >= min_words and not paragraph.isupper()


# ---------------------------------------------------------------- autocomplete


def autocomplete_examples(
    corpora: Sequence[str],
    part: str,
    n: int,
    seed: int = 0,
    context_paragraphs: int = 2,
    max_rest_words: int = 12,
    rest: str = "sentence",
) -> list[Example]:
    """Writer stopped after a whole word inside a sentence; the ghost text is the rest of the sentence.

    The prompt ends right after a word (no trailing space), as when the user
    pauses after a word; the completion starts with the space.

    rest="paragraph": the completion runs on to the end of the paragraph. The autocomplete prompt
    is the raw text before the cursor, so every later word end in that completion is itself an
    autocomplete query: one example then supervises a few dozen cursor positions instead of a
    handful, for the same prompt cost.

    rest="text": the completion runs on across paragraph breaks (formatted as the prompt formats
    them) until the recipe's token budget, so every example fills that budget with supervised
    cursor positions: the cheapest way to show the adapter a large share of the books.
    """
    rng = random.Random(seed)
    books = corpus_part(corpora, part)
    pool = [
        (c, t, i) for c, bs in books.items() for t, ps in bs.items() for i, p in enumerate(ps) if _usable(p)
    ]
    out: list[Example] = []
    attempts = 0
    while len(out) < n and attempts < n * 20 and pool:
        attempts += 1
        corpus, title, i = rng.choice(pool)
        paras = books[corpus][title]
        sents = sentences(paras[i])
        s_idx = rng.randrange(len(sents))
        words = sents[s_idx].split(" ")
        if len(words) < 4:
            continue
        cut = rng.randrange(2, len(words))  # at least two words typed, at least one left
        ghost = words[cut:]
        if rest in ("paragraph", "text"):
            ghost += " ".join(sents[s_idx + 1 :]).split()  # the recipe truncates it to its token budget
        elif len(ghost) > max_rest_words:
            continue
        before = "\n\n".join(paras[max(0, i - context_paragraphs) : i])
        typed = " ".join([*sents[:s_idx], " ".join(words[:cut])])
        text = f"{before}\n\n{typed}" if before else typed
        completion = " " + " ".join(ghost)
        if rest == "text":
            # ~1,500 characters is more than any token budget used here; the recipe truncates.
            following = paras[i + 1 : i + 8]
            completion = "\n\n".join([completion, *following])[:1500]
        out.append(
            Example(prompts.autocomplete_prompt(text), completion, f"{corpus}/{title}", AUTHORS[corpus])
        )
    return out


# ---------------------------------------------------------------- continue / persona


def continue_examples(
    corpora: Sequence[str], part: str, n: int, seed: int = 0, context_paragraphs: int = 3, min_words: int = 12
) -> list[Example]:
    """Passage (up to ``context_paragraphs`` paragraphs, ending with a paragraph break) -> next paragraph."""
    rng = random.Random(seed)
    books = corpus_part(corpora, part)
    pool = [
        (c, t, i)
        for c, bs in books.items()
        for t, ps in bs.items()
        for i in range(1, len(ps))
        if _usable(ps[i], min_words)
    ]
    rng.shuffle(pool)
    out = []
    for corpus, title, i in pool[:n]:
        paras = books[corpus][title]
        passage = "\n\n".join(paras[max(0, i - context_paragraphs) : i]) + "\n\n"
        out.append(
            Example(prompts.continue_prompt(passage), paras[i] + "\n\n", f"{corpus}/{title}", AUTHORS[corpus])
        )
    return out


def persona_examples(corpora: Sequence[str], part: str, n: int, seed: int = 0) -> list[Example]:
    """Multi-author continuation, balanced across authors: the persona adapter must follow whichever
    author's style is in its conditioning (soft tokens of that author's other text when the persona
    projector is available, else only the author's own passage in the prompt)."""
    per = max(1, n // len(corpora))
    out: list[Example] = []
    for k, corpus in enumerate(corpora):
        out += continue_examples([corpus], part, per, seed=seed + k)
    random.Random(seed).shuffle(out)
    return out


def author_reference_texts(
    corpora: Sequence[str], part: str = "train", max_paragraphs: int = 40, seed: int = 0
) -> dict[str, list[str]]:
    """A few paragraphs per author: the 'user documents' a persona projector is built from."""
    rng = random.Random(seed)
    out = {}
    for corpus, books in corpus_part(corpora, part).items():
        paras = [p for ps in books.values() for p in ps if _usable(p, 20)]
        out[AUTHORS[corpus]] = rng.sample(paras, min(max_paragraphs, len(paras)))
    return out


# ---------------------------------------------------------------- rephrase


def rephrase_sources(
    corpora: Sequence[str], part: str, n: int, seed: int = 0, min_words: int = 8, max_words: int = 30
) -> list[tuple[str, str]]:
    """(sentence, source) pairs to be paraphrased: complete sentences of moderate length."""
    rng = random.Random(seed)
    cands = []
    for corpus, books in corpus_part(corpora, part).items():
        for title, ps in books.items():
            for p in ps:
                for s in sentences(p):
                    w = len(s.split())
                    if min_words <= w <= max_words and s[0].isupper() and s[-1] in ".!?" and '"' not in s:
                        cands.append((s, f"{corpus}/{title}"))
    rng.shuffle(cands)
    return cands[:n]


def rephrase_example(source: str, paraphrase: str, origin: str) -> Example:
    """The training pair for one accepted paraphrase: the engine's few-shot prompt, then the answer line."""
    return Example(prompts.rephrase_prompt(source), " " + paraphrase.strip() + "\n", origin)


# ---------------------------------------------------------------- dictation


def dictation_sentences(
    corpora: Sequence[str], part: str, min_words: int = 5, max_words: int = 30
) -> list[tuple[str, str, str]]:
    """(sentence, text before it in its paragraph, source) for sentences a writer could dictate:
    no quotations, digits or typographic dashes (speech has none of them)."""
    out = []
    for corpus, books in corpus_part(corpora, part).items():
        for title, ps in books.items():
            for p in ps:
                sents = sentences(p)
                for k, s in enumerate(sents):
                    n = len(s.split())
                    if not (min_words <= n <= max_words) or not s[0].isupper() or s[-1] not in ".!?":
                        continue
                    if re.search(r"[\"“”‘_()\[\]0-9]|--|—|(?:^|\s)'", s):
                        continue
                    out.append((s, " ".join(sents[:k]), f"{corpus}/{title}"))
    return out


def dictation_examples(
    corpora: Sequence[str], part: str, n: int, seed: int = 0, context_share: float = 0.5
) -> list[Example]:
    """Spoken form of a real sentence (training.data.spoken: fillers, stutters, false starts, spoken
    or missing punctuation) -> the sentence itself. Half the prompts show the text before it."""
    from training.data.spoken import spoken_form

    rng = random.Random(seed)
    pool = dictation_sentences(corpora, part)
    rng.shuffle(pool)
    out = []
    for sentence, before, source in pool[:n]:
        context = before if rng.random() < context_share else ""
        transcript = spoken_form(sentence, rng)
        out.append(
            Example(
                prompts.dictation_prompt(transcript, context),
                " " + sentence + "\n",
                source,
                AUTHORS[source.split("/")[0]],
            )
        )
    return out
