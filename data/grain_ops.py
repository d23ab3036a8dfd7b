"""The Grain steps every data/ builder shares: one process's records, tokenized, batched.

pipeline (LM, MLM, NSP/SOP), seq2seq (translation, span corruption), finetune and chat all
build from these, so a record shard, a seed or an eval batch's padding means the same in
each. Seeds from derive_seed feed the data order: a resumed run relies on them not changing.
"""
import hashlib
from typing import Any

import grain
import numpy as np

from data import shuffle
from data import sources
from data.tokenizers import Tokenizer, encode_array

# Records are read and tokenized ahead in a few threads; order stays deterministic.
_READ_THREADS = 2
_READ_BUFFER = 32


def derive_seed(seed: int, purpose: str) -> int:
  """Independent, stable seeds for the record and window shuffles."""
  digest = hashlib.sha256(f"{int(seed)}:{purpose}".encode()).digest()
  return int.from_bytes(digest[:4], "big") >> 1  # < 2**31, so seed + window stays small.


class Tokenize(grain.transforms.Map):
  """Record -> int32 tokens of its text, EOS appended when documents are marked."""

  def __init__(self, tokenizer: Tokenizer, key: str, add_eos: bool):
    self._tokenizer = tokenizer
    self._key = key
    self._add_eos = add_eos

  def map(self, record: Any) -> np.ndarray:
    tokens = encode_array(self._tokenizer, sources.record_text(record, self._key))
    # A record that is not its document's end (text_files' chunks) gets no EOS.
    if self._add_eos and record.get("ends_file", True):
      tokens = np.append(tokens, np.int32(self._tokenizer.eos_id)).astype(np.int32)
    return tokens


class PadBatch(grain.transforms.Map):
  """Pads a short last eval batch with all-zero rows (weights 0) to the full size."""

  def __init__(self, batch_size: int, pad_id: int):
    self._batch_size = batch_size
    self._pad_id = pad_id

  def map(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    missing = self._batch_size - len(next(iter(batch.values())))
    if missing <= 0:
      return batch
    out = {}
    for key, value in batch.items():
      fill = self._pad_id if key in ("inputs", "targets") else 0
      pad = np.full((missing,) + value.shape[1:], fill, dtype=value.dtype)
      out[key] = np.concatenate([value, pad])
    return out


def check_rows(cfg, process_count: int) -> None:
  """data.seq_len and data.batch_size (the global batch, split evenly over processes)."""
  if cfg.seq_len <= 0:
    raise ValueError(f"data.seq_len={cfg.seq_len} must be a positive integer; it is the "
                     "number of tokens in a row")
  if cfg.batch_size <= 0:
    raise ValueError(f"data.batch_size={cfg.batch_size} must be a positive integer; it is "
                     "the global batch (rows per step over all processes and devices)")
  if cfg.batch_size % process_count:
    raise ValueError(f"data.batch_size={cfg.batch_size} is not divisible by the "
                     f"{process_count} processes; each needs the same local batch, so pick "
                     "a multiple of the process count")


def local_batch(cfg, process_index: int, process_count: int) -> int:
  """Validates the batch settings; returns the local (per-process) batch size."""
  if process_count <= 0 or not 0 <= process_index < process_count:
    raise ValueError(f"Bad process_index={process_index} for process_count={process_count}.")
  check_rows(cfg, process_count)
  return cfg.batch_size // process_count


def record_shard(source: Any, cfg, split: str, *, seed: int, process_index: int,
                 process_count: int, train: bool, what: str = "records") -> grain.MapDataset:
  """This process's records of a split (one per row, not packed); training shuffles them
  per epoch and repeats forever, evaluation is one pass in stored order."""
  records = grain.MapDataset.source(source)[process_index::process_count]
  if len(records) == 0:
    raise ValueError(f"Split {split!r} of {cfg.dataset!r} has {len(source)} {what}, too "
                     f"few for process {process_index} of {process_count} to get any.")
  if train:
    records = shuffle.EpochShuffle(records, seed=derive_seed(seed, "records")).repeat()
  return records


def record_batches(source: Any, cfg, split: str, encode: grain.transforms.Map, *,
                   pad_id: int, seed: int, process_index: int, process_count: int,
                   train: bool, what: str = "records") -> grain.IterDataset:
  """One encoded record per row, batched: this process's record_shard, mapped by `encode`
  (record -> row arrays), then batch_rows; the batch settings are checked first."""
  local = local_batch(cfg, process_index, process_count)
  records = record_shard(source, cfg, split, seed=seed, process_index=process_index,
                         process_count=process_count, train=train, what=what)
  return batch_rows(records.map(encode), local, pad_id, train)


def check_dataset(cfg, name: str, what: str) -> None:
  """A builder that reads only data.dataset=name refuses another, naming both."""
  if cfg.dataset != name:
    raise ValueError(f"{what} are read from data.dataset={name!r}, not {cfg.dataset!r}")


def read_ahead(rows: grain.MapDataset) -> grain.IterDataset:
  """The rows as an IterDataset, read ahead in threads."""
  return rows.to_iter_dataset(
      grain.ReadOptions(num_threads=_READ_THREADS, prefetch_buffer_size=_READ_BUFFER))


def batch_rows(rows: grain.MapDataset | grain.IterDataset, local_batch: int, pad_id: int,
               train: bool) -> grain.IterDataset:
  """Encoded rows -> batches (read ahead); eval pads its last batch (weights 0)."""
  if isinstance(rows, grain.MapDataset):
    rows = read_ahead(rows)
  batches = rows.batch(local_batch, drop_remainder=train)
  return batches if train else batches.map(PadBatch(local_batch, pad_id))
