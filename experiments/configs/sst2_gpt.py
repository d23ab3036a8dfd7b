"""The reference policy of the controlled-sentiment experiment: gpt_tiny trained as a
causal LM on the SST-2 training sentences (labels unused; experiments/sentiment.py).

Command:
  python -m train.main --config=experiments/configs/sst2_gpt.py --workdir=runs/sentiment/sft
Data: ../shared/data/sst2 (train.tsv's 67,349 treebank phrases as documents, dev.tsv's 872
sentences for validation), its own 2048-piece SentencePiece vocabulary.
Runtime: 3 min 33 s on the idle 2-core CPU (SentencePiece, 1000 steps at ~12k tokens/s).
Result (2026-12-03): dev loss 4.599 (perplexity 99.4, 2.09 bits per byte), 1.07M params;
  samples read like movie-review fragments ("the film is a romantic comedy").
"""
from experiments.configs import gpt_tiny


def get_config():
  c = gpt_tiny.get_config()
  c.data.dataset = "glue_tsv"
  c.data.files = "../shared/data/sst2"
  c.data.text_key = "sentence"
  c.data.shuffle_buffer = 4096
  c.data.spm_max_chars = 4_000_000  # the whole training text (~3.6M characters)
  c.train.steps = 1000
  c.train.warmup_steps = 100
  c.train.eval_every = 500
  c.train.eval_batches = 0  # dev is small (~25k tokens)
  c.train.checkpoint_every = 500
  c.sample.prompt = "the film is"
  c.sample.max_new_tokens = 32
  return c
