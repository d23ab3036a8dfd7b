"""The recurrent baseline: gpt_tiny's data and budget with a 2-layer LSTM LM instead.

Command:
  python -m train.main --config=experiments/configs/lstm_tiny.py --workdir=runs/lstm_tiny
Runtime: estimated ~3 min on a 2-core CPU like gpt_tiny (not measured end to end).
Result: not yet recorded; experiments/sweeps/transformer_vs_lstm.py compares it with gpt_tiny.
Hidden size 200 makes it about gpt_tiny's parameter count (~1.05M vs ~1.07M, tied embeddings).
"""
from experiments.configs import gpt_tiny


def get_config():
  c = gpt_tiny.get_config()
  c.model.family = "lstm"
  c.model.d_model = 200
  c.model.num_layers = 2
  c.model.dropout = 0.0
  c.model.tie_embeddings = True
  return c
