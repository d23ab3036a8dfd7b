"""Tied vs untied input/output embeddings (Press & Wolf 2017, "Using the Output Embedding").

Published: on PTB word-level LSTMs, tying lowers validation perplexity with fewer
parameters (small model 120.7 -> 117.5 valid ppl, 4.65M -> 2.65M params; large 82.2 -> 77.7)
while training perplexity rises: tying regularizes.
Expected here: with a 2048-token BPE vocabulary (embeddings ~25% of gpt_tiny's parameters),
tied has the lower validation loss or ties, and ~262k fewer parameters; the gap should be
larger in train-vs-validation (untied overfits more).

  python -m experiments.sweep --sweep=experiments/sweeps/tied_embeddings.py \
      --workdir=/tmp/sweep_tied --seeds=3 --parallel=2

Runtime (measured 2026-11-30): 10 min at --parallel=2 on the 2-core CPU (160 s a run).
Result (experiments/results/tied_embeddings/): untied 4.244 vs tied 4.302 (p = 0.02): the
published direction does not reproduce at this budget (no overfitting in 300 steps).
"""
from experiments.sweeps import budget


def get_sweep():
  return {
      "base": "experiments/configs/gpt_tiny.py",
      "overrides": dict(budget.STDLIB_SMALL_CPU),
      "axes": {"model.tie_embeddings": [True, False]},
      "metric": "loss",
      "baseline": {"model.tie_embeddings": True},
  }
