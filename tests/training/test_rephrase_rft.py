"""Rejection-sampling data for task_rephrase: only takes the real meaning guard passes, and that reword."""

from __future__ import annotations

from engine.quality.best_of_n import MIN_CHANGED
from engine.quality.guard import MeaningGuard
from engine.quality.keep import words_changed
from training.data.rephrase_rft import verified_takes

SOURCE = "The guests left the key under the mat because nobody was home."
TAKES = [
    "The guests left the key under the mat because nobody was home.",  # a copy
    "The guests left the keys under the mat because nobody was home.",  # a noun's number changed
    "Their guests left the key because nobody was home.",  # possessive, a dropped place
    "Because nobody was home, the guests left the key under the mat.",  # reordered: verified
]


def test_only_verified_rewordings_are_kept_and_the_report_counts_why():
    guard = MeaningGuard()

    def judge(source: str, take: str):
        verdict = guard.check(source, take)
        return verdict.ok, words_changed(source, take), verdict.kinds

    rows, report = verified_takes([(SOURCE, "austen/Emma")], lambda s, k: TAKES[:k], judge, 4, 2, MIN_CHANGED)
    assert [r["paraphrase"] for r in rows] == [TAKES[3]]
    assert rows[0]["round"] == 2 and rows[0]["part"] == "train" and rows[0]["origin"] == "austen/Emma"
    assert report["takes_drawn"] == 4 and report["takes_passing"] == 1 and report["pass_rate"] == 0.25
    assert report["rejected"]["near_copy"] == 1 and report["rejected"]["structure"] == 2
