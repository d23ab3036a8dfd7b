"""Positional encodings in a causal LM: learned vs sinusoidal vs RoPE vs none.

Published: RoFormer (Su et al. 2021) reports RoPE slightly ahead of absolute positions
(WMT14 27.5 vs 27.3 BLEU; faster MLM convergence); EleutherAI's 1.3B Pile runs: LAMBADA ppl
7.16 rotary vs 7.94 learned. Haviv et al. 2022: causal LMs without positional encodings
are competitive in perplexity (the causal mask leaks position).
Expected here: at the training length, rope <= learned ~ sinusoidal in validation loss,
and none close behind (within a few hundredths of a nat).

  python -m experiments.sweep --sweep=experiments/sweeps/positional.py \
      --workdir=/tmp/sweep_pos --seeds=3 --parallel=2

Runtime (measured 2026-11-30): ~225 s a run with two at a time on the 2-core CPU, so
~23 min for the sweep (the first runs took 700-1100 s on a machine loaded by other jobs).
Result (experiments/results/positional/): learned 4.302, sinusoidal 4.276, RoPE 4.065,
none 4.232 (3 seeds each).
"""
from experiments.sweeps import budget


def get_sweep():
  return {
      "base": "experiments/configs/gpt_tiny.py",
      "overrides": dict(budget.STDLIB_SMALL_CPU),
      "axes": {"model.position": ["learned", "sinusoidal", "rope", "none"]},
      "metric": "loss",
      "baseline": {"model.position": "learned"},
  }
