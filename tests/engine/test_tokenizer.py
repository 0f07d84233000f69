"""engine.models.load_tokenizer: the light tokenizer is AutoTokenizer's tokenizer, token for token.

Gemma's class rebuilds the backend from Python copies of the vocabulary and merges (+~160 MB of RSS);
load_tokenizer loads tokenizer.json's backend directly when that rebuild is the same pipeline. Both
embedded models, real converted folders, a few hundred varied strings.
"""

from __future__ import annotations

import random

import pytest

from engine import models
from training.data.corpora import load_corpus

EMBEDDED = ("gemma3-270m", "smollm2-135m")

HANDMADE = [
    "",
    " ",
    "  ",
    "\n",
    "\n\n\n",
    "\t\tindented\twith tabs",
    "trailing spaces   ",
    "   leading spaces",
    "a  b   c    d",
    "Line one.\r\nLine two.\rLine three.",
    "It was a truth universally acknowledged",
    "Привет, мир! Как дела?",
    "Ёжик в тумане — «ёлки-палки».",
    "Смешанный text на двух языках.",
    "emoji 😀🎉👍🏽 and a family 👨‍👩‍👧‍👦",
    "中文字符和日本語のテキスト",
    "العربية עברית हिन्दी",
    "accents: café naïve résumé Ångström",
    "math: ∑ x² ≤ √π ≠ ∞",
    "zero\u200bwidth\u00a0nbsp\u2028sep",
    "<eos>",
    "<bos>",
    "<pad><unk><mask>",
    "text <eos> more text <bos>",
    "<|im_start|>user\nhi<|im_end|>",
    "<|endoftext|>",
    "<start_of_turn>user\nHello<end_of_turn>",
    "<eos",
    "eos>",
    "< eos >",
    "&lt;eos&gt; &amp; html",
    "def f(x):\n    return x ** 2  # code",
    "https://example.org/path?q=1&r=2",
    "12345678901234567890 3.14159 1,000,000",
    "ALL CAPS SHOUTING!!!",
    "'quotes' \"double\" `backticks` “curly” ‘single’",
    "\x00\x01 control",
    "ÿþ bytes-ish \ufffd",
]


def _strings() -> list[str]:
    rng = random.Random(16)
    prose = [p for paras in load_corpus("austen").values() for p in paras]
    russian = [p for paras in load_corpus("ru_debian_faq").values() for p in paras]
    picked = rng.sample(prose, 150) + rng.sample(russian, 80)
    # Pieces cut at random characters: partial words, a leading space, a trailing newline.
    cuts = []
    for text in rng.sample(prose + russian, 60):
        a = rng.randrange(len(text))
        cuts.append(text[a : a + rng.randrange(1, 80)])
    return HANDMADE + picked + cuts


STRINGS = _strings()


@pytest.fixture(scope="module", params=EMBEDDED)
def tokenizers(request):
    from transformers import AutoTokenizer

    folder, _ = models.ensure_converted(models.resolve(request.param))
    return request.param, AutoTokenizer.from_pretrained(folder), models.load_tokenizer(folder)


def test_the_light_tokenizer_matches_autotokenizer(tokenizers):
    name, auto, light = tokenizers
    assert len(STRINGS) >= 300
    for attr in ("bos_token_id", "eos_token_id", "pad_token_id", "unk_token_id", "all_special_ids",
                 "all_special_tokens", "padding_side", "model_input_names", "chat_template"):  # fmt: skip
        assert getattr(light, attr) == getattr(auto, attr), (name, attr)
    assert len(light) == len(auto)
    for text in STRINGS:
        ids = auto(text)["input_ids"]
        assert light(text)["input_ids"] == ids, (name, text)
        bare = auto.encode(text, add_special_tokens=False)
        assert light.encode(text, add_special_tokens=False) == bare, (name, text)
        assert light.convert_ids_to_tokens(ids) == auto.convert_ids_to_tokens(ids), (name, text)
        assert light.decode(ids) == auto.decode(ids), (name, text)
        assert light.decode(ids, skip_special_tokens=True) == auto.decode(ids, skip_special_tokens=True)
    # Ids with every special token among them, and a batch call as the engine's programs make.
    mixed = (
        light.all_special_ids + light.encode("Привет 😀 world", add_special_tokens=False) + [len(light) - 1]
    )
    assert light.decode(mixed) == auto.decode(mixed)
    assert light.decode(mixed, skip_special_tokens=True) == auto.decode(mixed, skip_special_tokens=True)
    assert light(STRINGS[:20])["input_ids"] == auto(STRINGS[:20])["input_ids"]


def test_the_chat_template_is_kept(tokenizers):
    name, auto, light = tokenizers
    if name == "gemma3-270m":
        assert not auto.chat_template and not light.chat_template  # the base model has none
        return
    assert light.chat_template and light.chat_template == auto.chat_template
    for messages in (
        [{"role": "user", "content": "Rephrase: Привет, мир 😀"}],
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "<eos> hi"}],
    ):
        for gen in (False, True):
            text = auto.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen)
            assert light.apply_chat_template(messages, tokenize=False, add_generation_prompt=gen) == text
            assert (
                light(text, add_special_tokens=False)["input_ids"]
                == auto(text, add_special_tokens=False)["input_ids"]
            )


def test_load_model_uses_the_light_tokenizer_for_gemma():
    loaded = models.load_model("gemma3-270m")
    assert type(loaded.tokenizer).__name__ == "TokenizersBackend"  # not GemmaTokenizer with its Python copies
    assert not hasattr(loaded.tokenizer, "_merges")
    assert loaded.info.has_chat_template is False
    assert models.load_model("smollm2-135m").info.has_chat_template is True


def test_a_class_whose_rebuild_differs_from_the_file_falls_back(tmp_path):
    """A tokenizer.json whose normalizer is not the one GemmaTokenizer builds: AutoTokenizer's object is used."""
    import json
    import shutil

    from transformers import GemmaTokenizer

    src, _ = models.ensure_converted(models.resolve("gemma3-270m"))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(src / name, tmp_path / name)
    data = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    data["normalizer"] = {"type": "Sequence", "normalizers": [data["normalizer"], {"type": "Lowercase"}]}
    (tmp_path / "tokenizer.json").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    assert isinstance(models.load_tokenizer(tmp_path), GemmaTokenizer)
