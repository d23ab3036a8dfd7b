"""The control for tied_embeddings_long.py: tied_embeddings.py's 300 steps on the whole
train split with every matrix decayed (`train.decay_embeddings=True`) in both arms.

tied_embeddings_long.py changed two things at once (an overfitting train split and equal
weight decay) and tying won; this sweep changes only the weight decay. If untied still
wins here, the flip comes from overfitting (Press & Wolf's mechanism), not the decay.

  python -m experiments.sweep --sweep=experiments/sweeps/tied_embeddings_decay.py \
      --workdir=/tmp/sweep_tied_decay --seeds=3 --packed --parallel=2

Runtime (2026-12-04): 8 min 55 s on the 2-core CPU. Result (experiments/results/
tied_embeddings/README.md, "Where it overfits"): untied 4.209 vs tied 4.303 (p = 0.03),
as without the decay: the flip of tied_embeddings_long.py is the overfitting regime's.
"""
from experiments.sweeps import tied_embeddings


def get_sweep():
  sweep = tied_embeddings.get_sweep()
  sweep["overrides"]["train.decay_embeddings"] = True
  return sweep
