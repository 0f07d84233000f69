"""Pairwise accuracy of a score on (better, worse) pairs: how the WQRM and every baseline are judged.

A pair counts 1 when the score prefers the better text, 0 when it prefers the worse, and 0.5 on
a tie or when the score is undefined for either text (NaN): a metric that cannot tell gets chance.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def pair_outcomes(better: Sequence[float], worse: Sequence[float], sign: float = 1.0) -> np.ndarray:
    """Per pair: 1, 0 or 0.5 (tie / undefined) for ``sign * better > sign * worse``."""
    b = np.asarray(better, dtype=np.float64) * sign
    w = np.asarray(worse, dtype=np.float64) * sign
    out = np.where(b > w, 1.0, np.where(b < w, 0.0, 0.5))
    return np.where(np.isnan(b) | np.isnan(w), 0.5, out)


def pairwise_accuracy(better: Sequence[float], worse: Sequence[float], sign: float = 1.0) -> float:
    return float(pair_outcomes(better, worse, sign).mean()) if len(better) else math.nan


def fitted_sign(better: Sequence[float], worse: Sequence[float]) -> float:
    """+1 or -1: the direction that is right more often on these (training) pairs."""
    return 1.0 if pairwise_accuracy(better, worse, 1.0) >= 0.5 else -1.0
