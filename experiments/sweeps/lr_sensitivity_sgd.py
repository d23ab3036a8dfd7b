"""lr_sensitivity with SGD + heavy-ball momentum 0.9 instead of AdamW (the same budget).

The grid sits 1.75 decades above AdamW's (SGD's useful lrs are far larger): 12 peak lrs on
a quarter-decade grid 0.01 .. 5.62, end_learning_rate = lr/10 zipped with it, weight decay
0 (SGD adds weight decay to the gradient as L2; AdamW's 0.1 is decoupled, so the
optimizers' regularisation differs: said in the results), gradient clip 1.0 as AdamW's.
Published: adaptive methods train Transformers better than SGD (Zhang et al. 2020, "Why
are adaptive methods good for attention models?": heavy-tailed gradient noise); Wortsman
et al. 2023 measure lr sensitivity for AdamW variants only.

  python -m experiments.sweep --sweep=experiments/sweeps/lr_sensitivity_sgd.py \
      --workdir=/tmp/lrs/sgd --seeds=3 --packed

Runtime (measured 2026-12-02): 37 min 17 s wall for the one 36-run packed process on the
2-core CPU (its training beside the AdamW group's final evaluation).
Result (experiments/results/lr_sensitivity/): a U; best lr 0.178, final validation loss
5.272 ± 0.086 (95% CI [5.058, 5.486]), 0.36 nats above AdamW's best; within 0.05 nats only
0.1 .. 0.178; 3.16 erratic (6.64 ± 0.43), 5.62 blows up (10.1, no NaN: clip 1.0).
"""
from experiments.sweeps import lr_sensitivity

LRS = lr_sensitivity.log_grid(-2.0, 12)  # 0.01 .. 5.62


def get_sweep():
  return {
      "base": "experiments/configs/gpt_tiny.py",
      "overrides": {**lr_sensitivity.overrides(), "train.optimizer": "sgd",
                    "train.momentum": 0.9, "train.weight_decay": 0.0},
      "axes": lr_sensitivity.lr_axes(LRS),
      "zip": True,
      "metric": "loss",
      "baseline": {"train.learning_rate": 0.316, "train.end_learning_rate": 0.0316},
  }
