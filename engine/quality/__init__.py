"""Writing-quality measurement that runs per request (no Qt, no training imports).

- ``engine.quality.metrics``: cheap per-text metrics (style, anti-slop, coherence, aesthetics,
  task) behind one registry and ``score_text(text, context) -> dict[str, float]``.
- ``engine.quality.wqrm``: the trained Writing Quality Reward Model, loaded through the manifest;
  ``WQRM.score(texts) -> list[float | None]`` (None where the text is not English).
- The meaning guard and best-of-n selection live in their own modules (another owner).
"""
