"""An equal-parameter Transformer vs LSTM language model.

Published: Kaplan et al. 2020 (Fig. 7, §3.2.1): LSTMs match Transformers on early context
tokens but plateau after <100 tokens; Transformers asymptotically outperform them as
parameters grow.
Expected here: with ~1.05M parameters and 128-token contexts the two are close; the LSTM
may match or beat the Transformer at this budget, and any Transformer lead is small.

Arms (zipped): gpt_tiny (4 layers, d_model 128, 1.07M params) vs a 2-layer LSTM of hidden
size 200 (1.05M params), both with tied 2048-token embeddings.

  python -m experiments.sweep --sweep=experiments/sweeps/transformer_vs_lstm.py \
      --workdir=/tmp/sweep_lstm --seeds=3 --parallel=2

Runtime: measured, 13 min for the 6 runs at --parallel=2 on the 2-core CPU while other
jobs shared it (213-290 s per run).
Result (experiments/results/transformer_vs_lstm, 3 seeds): GPT 4.302 ± 0.013, LSTM
4.386 ± 0.035 (+0.08, p = 0.04): the Transformer is slightly ahead already at this size.
"""
from experiments.sweeps import budget


def get_sweep():
  return {
      "base": "experiments/configs/gpt_tiny.py",
      "overrides": dict(budget.STDLIB_SMALL_CPU),
      "axes": {"model.family": ["gpt", "lstm"], "model.d_model": [128, 200],
               "model.num_layers": [4, 2]},
      "zip": True,
      "metric": "loss",
      "baseline": {"model.family": "gpt", "model.d_model": 128, "model.num_layers": 4},
  }
