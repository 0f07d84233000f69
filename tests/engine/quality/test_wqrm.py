"""The shipped WQRM artifact: loads through the manifest, ranks human prose above its degraded copies,
and refuses to score what it was not trained on."""

from __future__ import annotations

import shutil

import pytest

from engine import manifest
from engine.errors import ArtifactError
from engine.quality.wqrm import WQRM
from training.data.degrade import degrade

# Two paragraphs of Moby Dick: Melville is held out of every WQRM training run.
HUMAN = [
    "Bible leaves! Bible leaves! This is the invariable cry from the mates to the mincer. It enjoins him to "
    "be careful, and cut his work into as thin slices as possible, inasmuch as by so doing the business of "
    "boiling out the oil is much accelerated, and its quantity considerably increased, besides perhaps "
    "improving it in quality. Besides her hoisted boats, an American whaler is outwardly distinguished by her "
    "try-works. She presents the curious anomaly of the most solid masonry joining with oak and hemp in "
    "constituting the completed ship. It is as if from the open field a brick-kiln were transported to her planks.",
    "Oh! ye whose dead lie buried beneath the green grass; who standing among flowers can say--here, HERE lies "
    "my beloved; ye know not the desolation that broods in bosoms like these. What bitter blanks in those "
    "black-bordered marbles which cover no ashes! What despair in those immovable inscriptions! What deadly "
    "voids and unbidden infidelities in the lines that seem to gnaw upon all Faith, and refuse resurrections "
    "to the beings who have placelessly perished without a grave. As well might those tablets stand in the "
    "cave of Elephanta as here.",
]
# The kinds whose held-out accuracy is high (docs/quality.md); shuffle and transitions are weaker.
RANKED_KINDS = ("verbosity", "generic", "repetition")


@pytest.fixture(scope="module")
def rm() -> WQRM:
    return WQRM.load()


def test_artifact_is_in_the_manifest_with_its_heldout_accuracy(rm):
    art = manifest.artifact("wqrm")
    assert {"wqrm.safetensors", "wqrm.json", "phrase_weights.json"} <= {f.path.split("/")[-1] for f in art.files}
    assert 0.5 < art.metrics["heldout_accuracy"] <= 1.0
    assert float(rm.head.alpha().sum()) == pytest.approx(1.0)


@pytest.mark.parametrize("kind", RANKED_KINDS)
def test_human_paragraph_outranks_its_degraded_copy(rm, kind):
    degraded = [degrade(text, kind, 3) for text in HUMAN]
    human_scores, degraded_scores = rm.score(HUMAN), rm.score(degraded)
    for h, d in zip(human_scores, degraded_scores, strict=True):
        assert h > d, f"{kind}: human {h:.3f} <= degraded {d:.3f}"


def test_scores_are_batched_in_order(rm):
    one_by_one = [rm.score([t])[0] for t in HUMAN]
    assert rm.score(HUMAN) == pytest.approx(one_by_one, abs=1e-4)


def test_non_english_and_tiny_texts_are_not_scored(rm):
    texts = [
        "Мороз и солнце; день чудесный! Ещё ты дремлешь, друг прелестный, пора, красавица, проснись.",
        "Le vieux port était calme ce matin, et les bateaux dormaient encore sous la brume grise.",
        "Too short.",
        HUMAN[0],
    ]
    scores = rm.score(texts)
    assert scores[:3] == [None, None, None]
    assert isinstance(scores[3], float)


def test_altered_weights_are_refused(tmp_path):
    art = manifest.artifact("wqrm")
    root = tmp_path / "assets"
    shutil.copytree(art.folder, root / "wqrm")
    entry = {"version": 1, "artifacts": {"wqrm": art.to_json()}}
    (root / "manifest.json").write_text(__import__("json").dumps(entry))
    WQRM.load(root=root)  # an intact copy loads
    weights = root / "wqrm" / "wqrm.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="altered"):
        WQRM.load(root=root)
