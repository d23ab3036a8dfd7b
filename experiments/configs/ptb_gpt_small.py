"""A GPT of about ptb_lstm_small's size on the same Penn Treebank words, its own recipe.

4 x 256 pre-LN GPT (4 heads, MLP 1024, learned positions, tied embeddings: ~5.7M params
vs the LSTM's 4.7M), context 128, batch 32, dropout 0.2 (PTB is small: 0.93M training
words), AdamW lr 1e-3 with 200 warmup steps and cosine decay to 1e-4 over 3 epochs
(~34 MFLOP per token: ~2,700 tokens/s on the 2-core CPU, so 3 epochs, not the LSTM's 13),
weight decay 0.1, clip 1. Evaluation with sliding windows 64 tokens apart (every word
scored once with >= 64 words of context). Same data, tokenizer and per-word perplexity as
ptb_lstm_small.py.

Command (from the repo root):
  python -m train.main --config=experiments/configs/ptb_gpt_small.py --workdir=runs/ptb_gpt
  python -m eval.main --workdir=runs/ptb_gpt --split=test
Runtime: 20 min 34 s on the 2-core CPU (2,392 tokens/s median).
Result (2026-12-02): validation 169.9, test 161.9 per-word perplexity after 3 epochs
  (the LSTM: 131.5 valid after 3 epochs, test 116.3 after 13); experiments/results/ptb/.
"""
from experiments.configs import ptb_lstm_small


def get_config():
  c = ptb_lstm_small.ptb_config()
  d = c.data
  d.seq_len = 128
  d.batch_size = 32
  d.shuffle_buffer = 8192
  d.eval_stride = 64
  m = c.model
  m.family = "gpt"
  m.d_model = 256
  m.num_layers = 4
  m.num_heads = 4
  m.mlp_dim = 1024
  m.max_len = 128
  m.dropout = 0.2
  m.tie_embeddings = True
  t = c.train
  t.optimizer = "adamw"
  t.learning_rate = 1e-3
  t.end_learning_rate = 1e-4
  t.warmup_steps = 200
  t.schedule = "cosine"
  t.weight_decay = 0.1
  t.grad_clip = 1.0
  t.epochs = 3
  t.log_every = 50
  t.checkpoint_every = 1000
  return c
