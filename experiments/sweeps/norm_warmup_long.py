"""Does a long warmup rescue Post-LN at a high learning rate? norm_warmup.py's post-LN arms
at 1000 steps (3.3x its budget), warmup 250 steps (25 %) against none.

Published: Xiong et al. 2020 (§3.2): Post-LN needs a long warmup (4k steps; 500 were
not enough at lr 1e-3), and fails without one. norm_warmup.py's 30-step warmup changed
nothing: both post-LN arms stalled near the unigram loss.
Expected here: post-LN with the 250-step warmup leaves the plateau and ends well below the
no-warmup arm; without warmup it stays near the unigram loss (~5.9).

  python -m experiments.sweep --sweep=experiments/sweeps/norm_warmup_long.py \
      --workdir=/tmp/sweep_norm_long --seeds=3 --packed --parallel=2

Runtime and result: experiments/results/norm_warmup/README.md ("Longer runs").
"""
from experiments.sweeps import budget
from experiments.sweeps import norm_warmup

STEPS = 1000


def get_sweep():
  sweep = norm_warmup.get_sweep()
  sweep["overrides"].update(budget.longer(STEPS))
  sweep["axes"] = {"model.norm_placement": ["post"], "train.warmup_steps": [STEPS // 4, 0]}
  sweep["baseline"] = {"model.norm_placement": "post", "train.warmup_steps": STEPS // 4}
  return sweep
