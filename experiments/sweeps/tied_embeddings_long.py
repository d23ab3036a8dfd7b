"""Tied vs untied embeddings where a model overfits: tied_embeddings.py's arms on 2 % of
the stdlib train split (32 files, 128.6k tokens) for 1000 steps (~16 passes), every
matrix decayed.

Published: Press & Wolf 2017 (`../shared/reference/ablations.md` §6): tying regularizes;
on PTB LSTMs it lowers validation perplexity while training perplexity rises.
tied_embeddings.py's 300 steps saw each token once, nothing overfit, and untied won on
capacity. Two changes make the test fair: a small train split the model overfits, and
`train.decay_embeddings=True` for both arms (by default the untied output matrix is
decayed and the tied embedding is not, so the arms differed in regularization too).
Expected here: both arms overfit (validation rises while train loss falls); tied ends with
the lower validation loss and the higher train loss.

  python -m experiments.sweep --sweep=experiments/sweeps/tied_embeddings_long.py \
      --workdir=/tmp/sweep_tied_long --seeds=3 --packed --parallel=2

Runtime (2026-12-04): 25 min 34 s on the 2-core CPU (two packed groups side by side).
Result (experiments/results/tied_embeddings/README.md, "Where it overfits"): tied 4.769 vs
untied 5.084 validation loss (p < 0.001); untied trains lower (1.53 vs 1.66) and overfits
from step 400-500: the published direction and mechanism reproduce.
"""
from experiments.sweeps import budget
from experiments.sweeps import tied_embeddings_decay

STEPS = 1000


def get_sweep():
  sweep = tied_embeddings_decay.get_sweep()  # equal decay; then the overfitting regime
  sweep["overrides"].update({"data.train_split": "train[:2%]", **budget.longer(STEPS)})
  return sweep
