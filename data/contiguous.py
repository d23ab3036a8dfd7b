"""Contiguous batches for stateful recurrent LMs (data.contiguous), as PyTorch's `batchify`.

The split's token stream (records in order, tokenized as the packed pipeline does) is cut
into batch_size parallel streams; batch i holds columns [i*T, (i+1)*T) of every stream
(T = seq_len), so row r of batch i+1 continues row r of batch i and a model that carries
its state from step to step sees every row's whole history (Zaremba et al. 2014).

Streams overlap by one token: row r's inputs are tokens[r*S : (r+1)*S] and its targets
tokens[r*S+1 : (r+1)*S+1] with S = (n - 1) // batch_size, so every token after the first
is predicted exactly once, except the last (n - 1) % batch_size < batch_size tokens.
Training drops a last partial window (every epoch the same ones) and repeats the epochs
forever; evaluation is one pass with the last window padded (weights 0). Every batch has
`reset` [rows, 1], 1.0 on an epoch's (or the pass's) first batch: the model's carried
state restarts there. Iterators checkpoint with get_state()/set_state() (a batch index).
"""
from __future__ import annotations

import grain
import numpy as np

from data import grain_ops
from data import sources
from data.tokenizers import Tokenizer


def split_stream(cfg, tokenizer: Tokenizer, split: str) -> np.ndarray:
  """Every token of `split`, records in order (EOS as data.add_eos says), int32."""
  tokenize = grain_ops.Tokenize(tokenizer, sources.text_key(cfg), cfg.add_eos)
  source = sources.get_source(cfg, split)
  parts = [tokenize.map(source[i]) for i in range(len(source))]
  return np.concatenate(parts).astype(np.int32) if parts else np.zeros((0,), np.int32)


def stream_rows(tokens: np.ndarray, rows: int) -> tuple[np.ndarray, np.ndarray]:
  """(inputs, targets) [rows, S]: the stream cut into `rows` streams (see module doc)."""
  per_row = (len(tokens) - 1) // rows
  starts = np.arange(rows)[:, None] * per_row + np.arange(per_row)[None, :]
  return tokens[starts], tokens[starts + 1]


class _Window(grain.transforms.Map):
  """Batch index i of an epoch -> columns [i*T, (i+1)*T) of this process's rows."""

  def __init__(self, inputs, targets, seq_len: int, batches: int, pad_id: int):
    self._inputs, self._targets = inputs, targets
    self._seq_len, self._batches, self._pad_id = seq_len, batches, pad_id

  def map(self, index):
    i = int(index) % self._batches
    lo = i * self._seq_len
    inputs = self._inputs[:, lo:lo + self._seq_len]
    targets = self._targets[:, lo:lo + self._seq_len]
    rows, got = inputs.shape
    pad = ((0, 0), (0, self._seq_len - got))
    positions = np.broadcast_to(np.arange(lo, lo + self._seq_len, dtype=np.int32),
                                (rows, self._seq_len))
    return {
        "inputs": np.pad(inputs, pad, constant_values=self._pad_id).astype(np.int32),
        "targets": np.pad(targets, pad, constant_values=self._pad_id).astype(np.int32),
        "weights": np.pad(np.ones((rows, got), np.float32), pad),
        "segment_ids": np.pad(np.ones((rows, got), np.int32), pad),
        "positions": np.ascontiguousarray(positions),
        "reset": np.full((rows, 1), float(i == 0), np.float32),
    }


def make_dataset(cfg, tokenizer: Tokenizer, split: str, *, process_index: int = 0,
                 process_count: int = 1, train: bool = True) -> grain.IterDataset:
  """Contiguous batches of `split` (module doc); this process gets its block of rows."""
  local = grain_ops.local_batch(cfg, process_index, process_count)
  tokens = split_stream(cfg, tokenizer, split)
  per_row = (len(tokens) - 1) // cfg.batch_size
  batches = per_row // cfg.seq_len if train else -(-per_row // cfg.seq_len)
  if batches < 1:
    raise ValueError(
        f"split {split!r} of {cfg.dataset!r} has {len(tokens)} tokens: too few for one "
        f"contiguous batch of data.batch_size={cfg.batch_size} streams x data.seq_len="
        f"{cfg.seq_len} (data.contiguous=True); lower either")
  inputs, targets = stream_rows(tokens, cfg.batch_size)
  mine = slice(process_index * local, (process_index + 1) * local)
  window = _Window(inputs[mine], targets[mine], cfg.seq_len, batches, tokenizer.pad_id)
  index = grain.MapDataset.range(batches)
  if train:
    index = index.repeat()
  return index.map(window).to_iter_dataset()
