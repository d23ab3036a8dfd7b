"""Pre-LN vs Post-LN, each with and without learning-rate warmup, at a high learning rate.

Published: Xiong et al. 2020 (§3.2, IWSLT14 De-En): Post-LN without warmup reaches only
8.45 BLEU vs ~34 with a 4k-step warmup; Pre-LN without warmup trains fine (~34) and
converges faster. Caveat (Liu et al. 2020): a Post-LN run that converges often ends a bit
better, and shallow low-LR models may show no gap.
Expected here: post/no-warmup has the worst validation loss (or diverges: a NaN loss
stops the run with a clear error, reported as a failed run); pre-LN is insensitive to
warmup; post-LN with warmup is close to pre-LN. The learning rate is 1e-2 (3x gpt_tiny's)
to put the 4-layer model where the instability can show.

  python -m experiments.sweep --sweep=experiments/sweeps/norm_warmup.py \
      --workdir=/tmp/sweep_norm --seeds=3 --parallel=2

Runtime: measured, 39 min for the 12 runs at --parallel=2 on the 2-core CPU while other
jobs shared it (354-487 s per run); about half that on an idle machine.
Result (experiments/results/norm_warmup, 3 seeds): pre-LN + warmup 4.615 ± 0.091, pre-LN
no warmup 5.102 (+0.49, p = 0.01), post-LN 5.905 with or without the 30-step warmup (both
stall near the unigram loss): post-LN's instability reproduces; neither the rescue by a
(much longer) warmup nor pre-LN's insensitivity to warmup does at this budget.
A 250-step warmup over 1000 steps does not rescue post-LN either (norm_warmup_long.py).
"""
from experiments.sweeps import budget


def get_sweep():
  return {
      "base": "experiments/configs/gpt_tiny.py",
      "overrides": dict(budget.STDLIB_SMALL_CPU, **{"train.learning_rate": 1e-2,
                                                    "train.end_learning_rate": 1e-3}),
      "axes": {"model.norm_placement": ["pre", "post"], "train.warmup_steps": [30, 0]},
      "metric": "loss",
      "baseline": {"model.norm_placement": "pre", "train.warmup_steps": 30},
  }
