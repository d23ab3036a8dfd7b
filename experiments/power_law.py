"""L(N) = (N_c / N)^alpha fitted to a scaling sweep, as in Kaplan et al. 2020 (Eq. 1.1).

A least-squares line in log-log space: log L = alpha log N_c - alpha log N
(scipy.stats.linregress), with the slope's standard error and a 95% t interval (each run
one point; seeds of one size count as independent points). Only the slope alpha compares
across setups; N_c depends on tokenizer and data (ablations.md §8).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
from scipy import stats


@dataclasses.dataclass(frozen=True)
class PowerLaw:
  alpha: float  # L falls as N^-alpha
  n_c: float
  r2: float  # of the log-log fit
  alpha_stderr: float = float("nan")  # standard error of the slope (nan with 2 points)
  dof: int = 0  # residual degrees of freedom: points - 2

  @property
  def alpha_ci95(self) -> tuple[float, float]:
    """95% confidence interval of alpha (Student's t with `dof` degrees of freedom)."""
    if self.dof < 1 or not math.isfinite(self.alpha_stderr):
      return (float("nan"), float("nan"))
    half = float(stats.t.ppf(0.975, self.dof)) * self.alpha_stderr
    return (self.alpha - half, self.alpha + half)

  def __call__(self, n: np.ndarray) -> np.ndarray:
    return (self.n_c / np.asarray(n, float)) ** self.alpha


def fit_power_law(n: Sequence[float], loss: Sequence[float]) -> PowerLaw:
  """Fit L(N) to points (N > 0, L > 0); needs at least two distinct N."""
  n, loss = np.asarray(n, float), np.asarray(loss, float)
  if len(n) != len(loss) or len(set(n.tolist())) < 2:
    raise ValueError(f"a power-law fit needs >= 2 distinct sizes, got N={n.tolist()}")
  if (n <= 0).any() or (loss <= 0).any():
    raise ValueError("a power-law fit needs positive sizes and losses, got "
                     f"N={n.tolist()}, L={loss.tolist()}")
  x, y = np.log(n), np.log(loss)
  line = stats.linregress(x, y)
  slope, intercept = line.slope, line.intercept
  residual = y - (slope * x + intercept)
  total = ((y - y.mean()) ** 2).sum()
  r2 = 1.0 - (residual ** 2).sum() / total if total > 0 else float("nan")
  alpha = -slope
  n_c = math.exp(intercept / alpha) if alpha != 0 else float("nan")
  dof = len(n) - 2
  return PowerLaw(alpha=float(alpha), n_c=float(n_c), r2=float(r2),
                  alpha_stderr=float(line.stderr) if dof > 0 else float("nan"), dof=dof)
