"""Zaremba et al. (2014) "small" LSTM on Penn Treebank, the paper's recipe unchanged.

2 x 200 LSTM, untied output layer with bias, no dropout, every weight ~ U(-0.1, 0.1),
unroll 20, batch 20, state carried across batches (reset each epoch), SGD lr 1 on the loss
summed over the 20 steps (train.loss_normalization=sequence_sum), gradient norm clipped
at 5, 13 epochs, lr halved at each epoch start after the 5th (main.lua: epochs 1-5 at lr 1).
Word tokens, <eos> per line: Mikolov's 10k vocabulary (../shared/data/ptb, SOURCE.md).
Paper: valid 120.7, test 114.5 per-word perplexity.

Command (from the repo root):
  python -m train.main --config=experiments/configs/ptb_lstm_small.py --workdir=runs/ptb_small
  python -m eval.main --workdir=runs/ptb_small --split=test
Runtime: 36 min 17 s on an idle 2-core CPU (AVX-512), evaluations included; peak RSS 650 MiB.
Result (2026-12-02): test per-word perplexity 116.3 (paper 114.5), validation 123.6
  (paper 120.7); per-epoch curve in experiments/results/ptb/README.md.
"""
from experiments.configs import base

PTB = "../shared/data/ptb"


def ptb_config():
  """base.py on Mikolov's PTB words, evaluated per word once an epoch: what every PTB
  config shares."""
  c = base.get_config()
  d = c.data
  d.dataset = "text_files"
  d.train_files = f"{PTB}/ptb.train.txt"
  d.validation_files = f"{PTB}/ptb.valid.txt"
  d.test_files = f"{PTB}/ptb.test.txt"
  d.tokenizer = "word"
  d.vocab_size = 0  # every train word: 9,999 + <eos> = the papers' 10k
  d.add_eos = False  # the word tokenizer ends every line with <eos>
  c.train.eval_every_epochs = 1
  c.train.eval_batches = 0
  c.sample.num_samples = 0
  return c


def get_config():
  c = ptb_config()
  d = c.data
  d.seq_len = 20
  d.batch_size = 20
  d.contiguous = True
  m = c.model
  m.family = "lstm"
  m.d_model = 200
  m.num_layers = 2
  m.dropout = 0.0
  m.tie_embeddings = False
  m.output_bias = True
  m.init_uniform = 0.1
  m.max_len = 20
  t = c.train
  t.optimizer = "sgd"
  t.learning_rate = 1.0
  t.momentum = 0.0
  t.weight_decay = 0.0
  t.grad_clip = 5.0
  t.loss_normalization = "sequence_sum"
  t.warmup_steps = 0
  t.epochs = 13
  t.schedule = "step"
  t.decay_after_epochs = 5
  t.decay_factor = 0.5
  t.log_every = 200
  t.checkpoint_every = 2323
  return c
