"""Statistics over seeds: mean ± std, a t-distribution 95% CI, Welch's t-test.

A handful of seeds is what a sweep can afford, so the interval uses Student's t (not the
normal) and arms are compared without assuming equal variances (Welch 1947).
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
from scipy import stats as scipy_stats


@dataclasses.dataclass(frozen=True)
class Summary:
  n: int
  mean: float
  std: float  # sample standard deviation (ddof=1); nan for one seed
  ci_low: float  # 95% confidence interval of the mean; nan for one seed
  ci_high: float

  @property
  def ci_half_width(self) -> float:
    return (self.ci_high - self.ci_low) / 2


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
  """Mean, std and the t-interval mean ± t_{(1+c)/2, n-1} · std / sqrt(n)."""
  x = np.asarray(values, dtype=np.float64)
  n = len(x)
  if n == 0:
    return Summary(0, math.nan, math.nan, math.nan, math.nan)
  mean = float(x.mean())
  if n == 1:
    return Summary(1, mean, math.nan, math.nan, math.nan)
  std = float(x.std(ddof=1))
  half = float(scipy_stats.t.ppf((1 + confidence) / 2, n - 1)) * std / math.sqrt(n)
  return Summary(n, mean, std, mean - half, mean + half)


def welch_p_value(a: Sequence[float], b: Sequence[float]) -> float:
  """Two-sided p-value of Welch's t-test that a and b have equal means (nan if undefined)."""
  if len(a) < 2 or len(b) < 2:
    return math.nan
  a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a64.var(ddof=1) == 0 and b64.var(ddof=1) == 0:
    return math.nan
  return float(scipy_stats.ttest_ind(a64, b64, equal_var=False).pvalue)
