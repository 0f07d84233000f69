"""Plot the seed paper's two training diagnostics (and the reward) over GRPO steps.

    python -m training.eval.plot_style_rl --run "RL + dropout=.data/runs/grpo_dropout" \
        [--run "RL=.data/runs/grpo_nodrop"] --out docs/style_rl_diagnostics.png

Each run folder holds the ``log.jsonl`` that training/recipes/grpo_style.py writes: per step the
std of each generated sentence's similarity across reference styles (``spread/per_sentence``), the
std of each style's similarity across the batch's sentences (``spread/per_style``) and the reward.
Under style reward dropout the paper reports flatter diagnostics.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

SERIES = (
    ("spread/per_sentence", "std of a sentence's similarity across styles"),
    ("spread/per_style", "std of a style's similarity across sentences"),
    ("reward", "mean reward"),
)


def read_log(run: Path) -> list[dict]:
    """The per-step rows (the trainer's final summary row, without a reward, is skipped)."""
    rows = [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines() if line.strip()]
    return [r for r in rows if "reward" in r]


def plot(runs: dict[str, Path], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display: a file
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SERIES), figsize=(5 * len(SERIES), 3.6))
    for label, run in runs.items():
        rows = read_log(run)
        for ax, (key, _) in zip(axes, SERIES, strict=True):
            points = [(r["step"], r[key]) for r in rows if key in r]
            ax.plot([s for s, _ in points], [v for _, v in points], marker="o", label=label)
    for ax, (_, title) in zip(axes, SERIES, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("step")
        ax.legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--run", action="append", required=True, help="label=run folder holding log.jsonl")
    p.add_argument("--out", type=Path, default=Path("docs/style_rl_diagnostics.png"))
    args = p.parse_args(argv)
    plot({r.split("=", 1)[0]: Path(r.split("=", 1)[1]) for r in args.run}, args.out)
    print(args.out)


if __name__ == "__main__":
    main()
