"""The style-retrieval evaluation's keystroke replay: held-out sentences and a paired bootstrap interval."""

from training.eval.adapters import savings_gain
from training.eval.style_retrieval import Writer, keystroke_items


def test_savings_gain_names_its_level_and_the_95_interval_is_wider_than_the_90():
    keys_off = [30, 28, 41, 25, 33, 36, 22, 40, 31, 27]
    keys_on = [27, 29, 35, 25, 30, 30, 23, 33, 31, 22]
    chars = [40, 38, 52, 33, 45, 47, 30, 51, 40, 36]
    g90 = savings_gain(keys_off, keys_on, chars)
    g95 = savings_gain(keys_off, keys_on, chars, level=0.95)
    assert g90["gain"] == g95["gain"] == round((sum(keys_off) - sum(keys_on)) / sum(chars), 4)
    low90, high90 = g90["ci90"]
    low95, high95 = g95["ci95"]
    assert low95 <= low90 < g90["gain"] < high90 <= high95
    assert (low95, high95) != (low90, high90)


def test_savings_gain_of_identical_replays_is_zero_with_a_zero_interval():
    keys, chars = [10, 12, 9], [20, 25, 18]
    assert savings_gain(keys, keys, chars, level=0.95) == {"gain": 0.0, "ci95": [0.0, 0.0]}


def test_keystroke_items_are_held_out_sentences_typed_after_the_previous_paragraph():
    heldout = [
        "The first held-out paragraph is context only and is never typed by the replay here at all.",
        "Short one. This sentence has enough words to be typed by the replay. "
        'A "quoted" sentence is skipped because quotes break the word walk.',
    ]
    writer = Writer("w", history=["memory text that is never typed"], heldout=heldout)
    items = keystroke_items(writer, n_sentences=10)
    assert items == [
        (heldout[0] + "\n\nShort one. ", "This sentence has enough words to be typed by the replay.")
    ]
