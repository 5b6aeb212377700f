"""Loss curve of models/tiny/train-log.jsonl → loss.png (one line per training run).

  python3 models/tiny/plot_loss.py models/tiny/train-log.jsonl models/tiny/loss.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(log: str, png: str) -> None:
    recs = [json.loads(line) for line in open(log)]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=120)
    for run in sorted({r.get("run", 1) for r in recs}):
        rs = [r for r in recs if r.get("run", 1) == run]
        ax.plot([r["step"] for r in rs], [r["loss"] for r in rs], label=f"run {run}")
    ax.set_xlabel("step (batch 128)")
    ax.set_ylabel("rectified-flow MSE (one batch)")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title("tiny V-DiT training on one H100")
    fig.tight_layout()
    fig.savefig(png)


if __name__ == "__main__":
    plot(sys.argv[1], sys.argv[2])
