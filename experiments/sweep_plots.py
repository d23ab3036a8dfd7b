"""A sweep's two plots: learning curves with seed bands, and final metric with CIs."""
from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from experiments import stats  # noqa: E402


def plot_curves(curves: dict[str, list[list[tuple[int, float]]]], metric: str,
                path: str) -> str:
  """Per arm: mean over seeds at the steps all its seeds logged, band = min..max."""
  fig, ax = plt.subplots(figsize=(7, 4.5))
  for i, (arm, seeds) in enumerate(curves.items()):
    if not seeds:
      continue
    steps = sorted(set.intersection(*(set(s for s, _ in c) for c in seeds)))
    if not steps:
      continue
    y = np.array([[dict(c)[s] for s in steps] for c in seeds])
    color = f"C{i % 10}"
    ax.plot(steps, y.mean(0), color=color, marker="o" if len(steps) < 15 else None,
            label=f"{arm} (n={len(seeds)})")
    if len(seeds) > 1:
      ax.fill_between(steps, y.min(0), y.max(0), color=color, alpha=0.2)
  ax.set_xlabel("step")
  ax.set_ylabel(f"validation {metric}")
  ax.set_title("validation curves: mean over seeds, band min–max")
  ax.grid(alpha=0.3)
  if ax.lines:
    ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def plot_final_bars(summaries: list[tuple[str, stats.Summary]],
                    per_seed: dict[str, list[float]], metric: str, path: str) -> str:
  """Bar = mean over seeds, error bar = 95% CI (none for one seed), dots = seeds."""
  fig, ax = plt.subplots(figsize=(max(4, 1.3 * len(summaries) + 2), 4.5))
  x = np.arange(len(summaries))
  means = [s.mean if s.n else 0.0 for _, s in summaries]
  errs = [0.0 if math.isnan(s.ci_half_width) else s.ci_half_width for _, s in summaries]
  ax.bar(x, means, yerr=errs, capsize=5, color=[f"C{i % 10}" for i in x], alpha=0.7)
  for i, (arm, _) in enumerate(summaries):
    values = per_seed.get(arm, [])
    ax.scatter(np.full(len(values), i), values, color="k", s=12, zorder=3)
  finite = [v for vs in per_seed.values() for v in vs] + [m for m in means if m]
  if finite:  # zoom to the data: differences between arms are small next to the values
    lo, hi = min(finite), max(m + e for m, e in zip(means, errs))
    pad = 0.15 * max(hi - lo, 1e-3)
    ax.set_ylim(lo - pad - max(errs, default=0), hi + pad)
  ax.set_xticks(x, [a for a, _ in summaries], rotation=20, ha="right", fontsize=8)
  ax.set_ylabel(f"final {metric}")
  ax.set_title("final metric: mean, 95% CI (t), seeds as dots")
  ax.grid(axis="y", alpha=0.3)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def plot_power_law(points: list[tuple[float, float]], fit, x_name: str, metric: str,
                   path: str) -> str:
  """Per-run points and the fitted L(N) line on log-log axes."""
  fig, ax = plt.subplots(figsize=(6, 4.5))
  n = np.array([p[0] for p in points])
  ax.scatter(n, [p[1] for p in points], color="k", s=14, label="runs", zorder=3)
  grid = np.geomspace(n.min(), n.max(), 50)
  ax.plot(grid, fit(grid), color="C3",
          label=f"L = (N_c/N)^({fit.alpha:.3f} ± {fit.alpha_stderr:.3f}), N_c={fit.n_c:.3g}, "
                f"R²={fit.r2:.3f}")
  ax.set_xscale("log")
  ax.set_yscale("log")
  ax.set_xlabel(x_name)
  ax.set_ylabel(f"final {metric}")
  ax.set_title("scaling: final metric vs size (power-law fit)")
  ax.grid(alpha=0.3, which="both")
  ax.legend(fontsize=8)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path
