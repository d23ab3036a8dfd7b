"""Budgets in epochs (train.epochs): the train split's tokens -> steps per epoch -> steps.

An epoch is the train split's token stream once: every record tokenized as the pipeline
does it (data/grain_ops.Tokenize: EOS at each document's end when data.add_eos, none in
the data.random_windows stream). Its n tokens hold n - 1 (input, target) pairs, which a
step takes batch_size x seq_len of (packed windows of seq_len pairs, data/packing.py, or
data.contiguous's batch_size streams, seq_len columns a step), so

    steps per epoch = (tokens in the split - 1) // (batch_size * seq_len).

With data.contiguous this is exactly the steps between the carried state's resets
(data/contiguous.py: ((n - 1) // batch_size) // seq_len, the same number). The packed
stream repeats (records reshuffled each pass) and its windows run across a pass's end, so
there an epoch is a budget unit, "as many tokens as the split holds", not a boundary in the
data order; with add_eos=False and random_offset a pass also drops < seq_len tokens per
record, so a real pass is that much shorter.
"""
from __future__ import annotations

import math
from typing import Any

from data import grain_ops
from data import sources
from model.layers import check


def split_tokens(data_config: Any, tokenizer: Any, split: str) -> int:
  """Tokens in `split` as the pipeline sees them (one pass, every record)."""
  source = sources.get_source(data_config, split)
  add_eos = data_config.add_eos and not data_config.random_windows  # as data/pipeline.py
  tokenize = grain_ops.Tokenize(tokenizer, sources.text_key(data_config), add_eos)
  return sum(len(tokenize.map(source[i])) for i in range(len(source)))


def steps_per_epoch(tokens: int, data_config: Any) -> int:
  """Whole steps of batch_size x seq_len (input, target) pairs in a pass over `tokens`."""
  d = data_config
  per_step = d.batch_size * d.seq_len
  steps = (tokens - 1) // per_step
  if steps < 1:
    raise ValueError(
        f"train.epochs: the {d.train_split!r} split has {tokens:,} tokens, fewer than one step "
        f"of data.batch_size x data.seq_len = {per_step:,}; use more text, a smaller batch, "
        "or a budget in train.steps")
  return steps


def total_steps(epochs: float, per_epoch: int) -> int:
  """The run's train.steps for `epochs` (fractions of an epoch round up to a whole step)."""
  check(0 < epochs < math.inf, "train.epochs", epochs, "must be a finite number > 0",
        "0 gives the budget in train.steps")
  return max(1, math.ceil(round(epochs * per_epoch, 6)))
