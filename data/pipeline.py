"""The causal-LM input pipeline: records -> tokens -> packed windows -> batches (Grain).

One process reads records p, p+P, ... of the split (disjoint shards covering it) and
yields its local batch of cfg.batch_size // P rows. Training shuffles records per
epoch, repeats forever and shuffles packed windows; evaluation is one pass in order
with the last batch padded (weights 0) to a static shape. The iterator of the
returned dataset checkpoints with get_state()/set_state() (a small JSON dict).
"""
import hashlib
from typing import Any

import grain
import numpy as np

from data import sources
from data.packing import PackedWindowsIterDataset
from data.tokenizers import Tokenizer, encode_array

# Records are read and tokenized ahead in a few threads; order stays deterministic.
_READ_THREADS = 2
_READ_BUFFER = 32


def _derive_seed(seed: int, purpose: str) -> int:
  """Independent, stable seeds for the record and window shuffles."""
  digest = hashlib.sha256(f"{int(seed)}:{purpose}".encode()).digest()
  return int.from_bytes(digest[:4], "big") >> 1  # < 2**31, so seed + window stays small.


class _Tokenize(grain.transforms.Map):
  """Record -> int32 tokens of its text, EOS appended when documents are marked."""

  def __init__(self, tokenizer: Tokenizer, key: str, add_eos: bool):
    self._tokenizer = tokenizer
    self._key = key
    self._add_eos = add_eos

  def map(self, record: Any) -> np.ndarray:
    tokens = encode_array(self._tokenizer, sources.record_text(record, self._key))
    if self._add_eos:
      tokens = np.append(tokens, np.int32(self._tokenizer.eos_id)).astype(np.int32)
    return tokens


class _PadBatch(grain.transforms.Map):
  """Pads a short last eval batch with all-zero rows (weights 0) to the full size."""

  def __init__(self, batch_size: int, pad_id: int):
    self._batch_size = batch_size
    self._pad_id = pad_id

  def map(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = self._batch_size - len(batch["inputs"])
    if missing <= 0:
      return batch
    out = {}
    for key, value in batch.items():
      fill = self._pad_id if key in ("inputs", "targets") else 0
      pad = np.full((missing,) + value.shape[1:], fill, dtype=value.dtype)
      out[key] = np.concatenate([value, pad])
    return out


def _check(cfg, process_index: int, process_count: int) -> int:
  """Validates the settings; returns the local (per-process) batch size."""
  if cfg.seq_len <= 0:
    raise ValueError(f"data.seq_len must be positive, got {cfg.seq_len}.")
  if cfg.batch_size <= 0:
    raise ValueError(f"data.batch_size must be positive, got {cfg.batch_size}.")
  if process_count <= 0 or not 0 <= process_index < process_count:
    raise ValueError(f"Bad process_index={process_index} for process_count={process_count}.")
  if cfg.batch_size % process_count:
    raise ValueError(
        f"data.batch_size={cfg.batch_size} is not divisible by the "
        f"{process_count} processes; each needs the same local batch."
    )
  return cfg.batch_size // process_count


def make_lm_dataset(
    cfg,
    tokenizer: Tokenizer,
    split: str,
    *,
    seed: int,
    process_index: int = 0,
    process_count: int = 1,
    train: bool = True,
) -> grain.IterDataset:
  """Batches of packed windows for a causal LM; cfg is config.data.

  Each batch is a dict of numpy arrays [cfg.batch_size // process_count, cfg.seq_len]:
  inputs, targets (int32), weights (float32, 0 on padding), segment_ids (int32,
  1.. per document in the row, 0 on padding) and positions (int32, within the
  document piece). See data/packing.py for the exact layout.
  """
  local_batch = _check(cfg, process_index, process_count)
  source = sources.get_source(cfg, split)
  records = grain.MapDataset.source(source)[process_index::process_count]
  if len(records) == 0:
    raise ValueError(
        f"Split {split!r} of {cfg.dataset!r} has {len(source)} records, too few for "
        f"process {process_index} of {process_count} to get any."
    )
  if train:
    records = records.shuffle(seed=_derive_seed(seed, "records")).repeat()
  docs = records.map(_Tokenize(tokenizer, sources.text_key(cfg), cfg.add_eos))
  docs = docs.to_iter_dataset(
      grain.ReadOptions(num_threads=_READ_THREADS, prefetch_buffer_size=_READ_BUFFER)
  )
  windows = PackedWindowsIterDataset(
      docs,
      seq_len=cfg.seq_len,
      documents=cfg.add_eos,
      pad_id=tokenizer.pad_id,
      pad_last=not train,
  )
  if not train:
    batches = windows.batch(local_batch, drop_remainder=False)
    return batches.map(_PadBatch(local_batch, tokenizer.pad_id))
  if cfg.shuffle_buffer > 1:
    windows = grain.experimental.WindowShuffleIterDataset(
        windows, window_size=cfg.shuffle_buffer, seed=_derive_seed(seed, "windows")
    )
  return windows.batch(local_batch, drop_remainder=True)
