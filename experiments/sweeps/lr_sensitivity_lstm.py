"""Learning-rate sensitivity of the LSTM baseline (lstm_tiny) with AdamW: lr_sensitivity.py's
grid, budget and schedule on the recurrent model of about gpt_tiny's size.

Expected: a U like gpt_tiny's; whether the LSTM's optimum and basin sit where the
Transformer's do is the comparison (one packed group of 36 runs).

  python -m experiments.sweep --sweep=experiments/sweeps/lr_sensitivity_lstm.py \
      --workdir=/tmp/lrs/lstm --seeds=3 --packed
  python -m experiments.lr_plot /tmp/lrs/adamw /tmp/lrs/lstm \
      --out=experiments/results/lr_sensitivity/lstm
"""
from experiments.sweeps import lr_sensitivity


def get_sweep():
  return {
      "base": "experiments/configs/lstm_tiny.py",
      "overrides": lr_sensitivity.overrides(),
      "axes": lr_sensitivity.lr_axes(lr_sensitivity.LRS),
      "zip": True,
      "metric": "loss",
      "baseline": {"train.learning_rate": 0.00316, "train.end_learning_rate": 0.000316},
  }
