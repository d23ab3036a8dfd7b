"""Plots of a run's metrics.jsonl (matplotlib, no display needed)."""
from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from train import metrics_writer  # noqa: E402


def plot_loss_curve(metrics_path: str, out_path: str, metric: str = "loss") -> str:
  """Train and eval `metric` against step, one line per split; returns out_path."""
  records = metrics_writer.read_rows(metrics_path)
  fig, ax = plt.subplots(figsize=(6, 4))
  for split in sorted({r["split"] for r in records}):
    pts = [(r["step"], r[metric]) for r in records if r["split"] == split and metric in r]
    if pts:
      steps, values = zip(*pts)
      ax.plot(steps, values, marker="o" if len(pts) < 20 else None, label=split)
  ax.set_xlabel("step")
  ax.set_ylabel(metric)
  ax.set_title(os.path.basename(os.path.dirname(os.path.abspath(out_path))))
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
  return out_path
