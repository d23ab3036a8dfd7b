"""Learning-rate sensitivity of gpt_tiny at three widths: does the optimum move with width?

Published shape: under standard parameterisation (attnlab's: fan-in init, one global lr
for AdamW) the optimal lr shifts to smaller values as the model gets wider (Yang et al.
2022, "Tensor Programs V", muP, Fig. 1; Wortsman et al. 2023, Fig. 6: with AdamW the
optimum moves down about in proportion to 1/width). muP is what removes the shift.

lr_sensitivity.py's grid, budget and schedule (12 peak lrs 1.78e-4 .. 0.1 x 3 seeds, 100
steps), at d_model 256, 128 and 64 (mlp_dim = 4 d_model, 4 heads, 4 layers, vocab 2048).
Widths change shapes, so the 108 runs form three packed groups (one process each, two at
once with --parallel=2; the widest first, as it takes longest). The final evaluation reads
FINAL_EVAL_BATCHES batches (82k tokens, 15 % of the validation split) instead of the whole
split, which at width 256 would cost about as much as its training.

  python -m experiments.sweep --sweep=experiments/sweeps/lr_sensitivity_width.py \
      --workdir=/tmp/lrs/width --seeds=3 --packed --parallel=2
  python -m experiments.lr_plot /tmp/lrs/width --split_by=model.d_model \
      --out=experiments/results/lr_sensitivity/width

Runtime (2026-12-04): 54 min 45 s wall on the 2-core CPU, nothing else running (d=256's
group 55 min, d=128's 25 min beside it, then d=64's 16 min); 5.4 GB peak RSS.
Result (experiments/results/lr_sensitivity/README.md, "Width"): the optimum falls with
width, quadratic-fit optima 3.77e-3 / 1.84e-3 / 1.22e-3 at d_model 64 / 128 / 256 (grid
argmins 3.16e-3 / 1.78e-3 / 1.78e-3): lr* ~ d_model^-0.82 (95% [-1.00, -0.73]).
"""
from experiments.sweeps import lr_sensitivity

WIDTHS = (256, 128, 64)
FINAL_EVAL_BATCHES = 40


def get_sweep():
  lr_axes = lr_sensitivity.lr_axes(lr_sensitivity.LRS)
  n = len(lr_sensitivity.LRS)
  axes = {"model.d_model": [w for w in WIDTHS for _ in range(n)],
          "model.mlp_dim": [4 * w for w in WIDTHS for _ in range(n)]}
  axes.update({k: v * len(WIDTHS) for k, v in lr_axes.items()})
  return {
      "base": "experiments/configs/gpt_tiny.py",
      "overrides": {**lr_sensitivity.overrides(),
                    "train.final_eval_batches": FINAL_EVAL_BATCHES},
      "axes": axes,
      "zip": True,
      "metric": "loss",
      "baseline": {"model.d_model": 128, "model.mlp_dim": 512,
                   "train.learning_rate": 0.00316, "train.end_learning_rate": 0.000316},
  }
