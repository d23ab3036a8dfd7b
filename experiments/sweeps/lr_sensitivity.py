"""Learning-rate sensitivity of gpt_tiny with AdamW: final loss vs a log grid of peak lrs.

Published shape: final loss is U-shaped in the learning rate (too small learns slowly, too
large oscillates or diverges). Wortsman et al. 2023 ("Small-scale proxies for large-scale
Transformer training instabilities") measure lr sensitivity as the expected loss gap over
a grid and find a wide basin for AdamW once qk-layernorm and z-loss remove the
high-lr instabilities; Yang et al. 2022 (muP) show the optimum shifting with width under
standard parameterisation (one width here; lr_sensitivity_width.py tests the shift).
Expected here: a U with its optimum near gpt_tiny's 3e-3 or higher (a short budget favours
larger lrs), slow descent at the bottom of the grid, a rising loss at the top.

12 peak lrs on a quarter-decade grid 1.78e-4 .. 1e-1, each with end_learning_rate = lr/10
(gpt_tiny's ratio; two zipped axes, both packable: one packed group of 36 runs).

  python -m experiments.sweep --sweep=experiments/sweeps/lr_sensitivity.py \
      --workdir=/tmp/lrs/adamw --seeds=3 --packed
  python -m experiments.lr_plot /tmp/lrs/adamw /tmp/lrs/sgd --out=experiments/results/lr_sensitivity

Runtime (measured 2026-12-02): 58 min 52 s wall for the one 36-run packed process on the
2-core CPU while other jobs held the load at 4-11 (8.5k tokens/s summed when it fell to
~2; the whole-split final evaluation of 36 runs ~21 min of it, shared).
Result (experiments/results/lr_sensitivity/): a U; best lr 3.16e-3, final validation loss
4.913 ± 0.032 (95% CI [4.834, 4.992]); within 0.05 nats only 1.78e-3 .. 3.16e-3; lrs from
1e-2 up plateau at ~5.6-5.9 (no NaN); 1.78e-4 reaches 6.358.
"""
from experiments.sweeps import budget

STEPS = 100  # sized to the 2-core CPU's deadline: 36 runs in one process


def log_grid(lo_exp: float, n: int, step: float = 0.25) -> list[float]:
  """n learning rates 10**lo_exp, 10**(lo_exp + step), ... rounded to 3 significant digits."""
  return [float(f"{10 ** (lo_exp + step * k):.3g}") for k in range(n)]


def overrides(steps: int = STEPS) -> dict:
  return {**budget.STDLIB_SMALL_CPU, "train.steps": steps, "train.warmup_steps": steps // 10,
          "train.log_every": 10, "train.eval_every": steps // 2, "train.eval_batches": 10,
          "train.checkpoint_every": steps}


def lr_axes(lrs: list[float]) -> dict:
  """The peak lr and, zipped with it, the cosine schedule's end at lr/10."""
  return {"train.learning_rate": lrs,
          "train.end_learning_rate": [float(f"{lr / 10:.3g}") for lr in lrs]}


LRS = log_grid(-3.75, 12)  # 1.78e-4 .. 0.1


def get_sweep():
  return {
      "base": "experiments/configs/gpt_tiny.py",
      "overrides": overrides(),
      "axes": lr_axes(LRS),
      "zip": True,
      "metric": "loss",
      "baseline": {"train.learning_rate": 0.00316, "train.end_learning_rate": 0.000316},
  }
