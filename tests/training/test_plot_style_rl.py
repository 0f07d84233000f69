"""The diagnostics plot reads the recipe's log.jsonl and writes a PNG."""

import json

from training.eval.plot_style_rl import plot, read_log


def test_the_plot_is_drawn_from_the_per_step_rows(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    rows = [
        {"step": 1, "reward": 0.8, "spread/per_sentence": 0.05, "spread/per_style": 0.02},
        {"step": 2, "reward": 1.0, "spread/per_sentence": 0.07, "spread/per_style": 0.03},
        {"step": 2, "train_runtime": 40.0},  # the trainer's summary row has no reward
    ]
    (run / "log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert [r["step"] for r in read_log(run)] == [1, 2]
    out = tmp_path / "diag.png"
    plot({"RL + dropout": run}, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
