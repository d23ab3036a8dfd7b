"""Sequence-to-sequence batches: (source, target) records -> padded token arrays (Grain).

Each example is `inputs` = source ids + EOS padded to data.seq_len and `targets` = target
ids + EOS padded to data.max_target_len, with `weights` 1.0 on the target tokens (EOS
included) and 0 on padding. The decoder's inputs are `targets` shifted right (the
objective does that), so nothing else is stored.

Too long examples follow data.long_examples: "truncate" (default) cuts after EOS was
appended, as T5 does, so a cut target has no EOS (the model is not taught to stop there);
"error" raises a ValueError naming the record and the limit.

With data.packing (T5's `pack`), several examples share a row: Grain's first-fit packer
places each (source, target) in the first of `batch` open rows where both sides still
fit, and adds `inputs_segment_ids`/`targets_segment_ids` (1, 2, ... per example, 0 =
padding) and `inputs_positions`/`targets_positions` (restarting at 0 per example). The
model keeps examples apart with them (encoder, decoder and cross-attention masks) and
restarts the decoder's shifted inputs at each example, so a packed row computes what the
examples would alone, with less padding.
"""
from __future__ import annotations

import copy
from typing import Any

import grain
import numpy as np

from data import grain_ops
from data import pipeline
from data import sources
from data import span_corruption
from data.builders import synthetic
from data.tokenizers import Tokenizer, encode_array

LONG_EXAMPLES = ("truncate", "error")


def fit(ids: np.ndarray, length: int, pad_id: int, *, policy: str, what: str) -> np.ndarray:
  """ids cut or padded to `length` (int32)."""
  if len(ids) > length:
    if policy == "error":
      raise ValueError(f"{what} has {len(ids)} tokens (EOS included), more than {length}; "
                       "raise the limit or set data.long_examples='truncate'")
    ids = ids[:length]
  out = np.full(length, pad_id, np.int32)
  out[:len(ids)] = ids
  return out


class _EncodePair(grain.transforms.MapWithIndex):
  """Record -> {inputs, targets, weights} (fixed lengths; unpadded when packing)."""

  def __init__(self, cfg, tokenizer: Tokenizer, keys: tuple[str, str]):
    self._tok = tokenizer
    self._keys = keys
    self._src_len = cfg.seq_len
    self._tgt_len = cfg.max_target_len
    self._policy = cfg.long_examples
    self._packing = cfg.packing

  def map_with_index(self, index: int, record: Any) -> dict[str, np.ndarray]:
    tok = self._tok
    src, tgt = (np.append(encode_array(tok, sources.record_text(record, k)), tok.eos_id)
                for k in self._keys)
    inputs = fit(src, self._src_len, tok.pad_id, policy=self._policy,
                 what=f"the source of example {index} (data.seq_len)")
    targets = fit(tgt, self._tgt_len, tok.pad_id, policy=self._policy,
                  what=f"the target of example {index} (data.max_target_len)")
    if self._packing:  # the packer pads; it needs the true lengths
      return {"inputs": inputs[:len(src)], "targets": targets[:len(tgt)]}
    weights = np.zeros(self._tgt_len, np.float32)
    weights[:min(len(tgt), self._tgt_len)] = 1.0
    return {"inputs": inputs, "targets": targets, "weights": weights}


def check_lengths(cfg) -> None:
  """data.long_examples, data.max_target_len and a synthetic dataset's keys (the dataset
  is checked by check())."""
  policy = cfg.long_examples
  if policy not in LONG_EXAMPLES:
    raise ValueError(f"unknown data.long_examples={policy!r}; choose one of "
                     f"{', '.join(LONG_EXAMPLES)}")
  if cfg.max_target_len <= 0:
    raise ValueError(f"data.max_target_len={cfg.max_target_len} must be a positive integer; "
                     "it is the target length in tokens, EOS included")
  if cfg.dataset == "synthetic":  # its generator's keys
    synthetic.check_config(cfg)


def check(cfg) -> None:
  check_lengths(cfg)
  if sources.pair_keys(cfg) is None:
    raise ValueError(
        f"data.dataset={cfg.dataset!r} has no (source, target) pairs: use 'synthetic', "
        "'parallel_text', or a TFDS translation dataset with data.source_lang and "
        "data.target_lang set to its feature names (e.g. 'de', 'en')")


def make_seq2seq_dataset(cfg, tokenizer: Tokenizer, split: str, *, seed: int,
                         process_index: int = 0, process_count: int = 1,
                         train: bool = True) -> grain.IterDataset:
  """Batches of {inputs [b, seq_len], targets/weights [b, max_target_len]} (b = local batch).

  Training shuffles records per epoch and repeats forever; evaluation is one pass in
  record order with the last batch padded (weights 0).
  """
  check(cfg)
  local_batch = grain_ops.local_batch(cfg, process_index, process_count)
  records = grain_ops.record_shard(
      sources.get_source(cfg, split), cfg, split, seed=seed, process_index=process_index,
      process_count=process_count, train=train)
  examples = records.map_with_index(_EncodePair(cfg, tokenizer, sources.pair_keys(cfg)))
  if cfg.packing:
    return pack_examples(examples, cfg, local_batch, cfg.max_target_len,
                         seed=seed, train=train, pad_id=tokenizer.pad_id)
  return grain_ops.batch_rows(examples, local_batch, tokenizer.pad_id, train)


class _TargetWeights(grain.transforms.Map):
  """Packed rows get weights 1.0 on every target token (any example's), 0 on padding."""

  def map(self, row: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    row["weights"] = (row["targets_segment_ids"] > 0).astype(np.float32)
    return row


def pack_examples(examples: grain.MapDataset, cfg, local_batch: int, targets_len: int, *,
                  seed: int, train: bool, pad_id: int) -> grain.IterDataset:
  """Unpadded {inputs, targets} examples -> batches of packed rows with segment ids.

  Grain's FirstFitPackIterDataset keeps `local_batch` rows open and emits them all when
  an example fits none; training shuffles the emitted rows (seeded). Its state is
  checkpointed with the rest of the pipeline, so a resumed run packs the same rows.
  """
  rows = grain.experimental.FirstFitPackIterDataset(
      grain_ops.read_ahead(examples),
      length_struct={"inputs": cfg.seq_len, "targets": targets_len},
      num_packing_bins=local_batch, shuffle_bins=train,
      seed=grain_ops.derive_seed(seed, "packing"))
  return grain_ops.batch_rows(rows.map(_TargetWeights()), local_batch, pad_id, train)


def span_lengths(cfg) -> tuple[int, int]:
  """(raw tokens per example, targets length) for inputs of data.seq_len (T5's helper)."""
  density = cfg.noise_density
  mean_span = cfg.mean_noise_span_length
  span_corruption.check(density, mean_span)
  return span_corruption.random_spans_helper(cfg.seq_len, density, mean_span)


def _check_sentinels(tokenizer: Tokenizer) -> None:
  if not getattr(tokenizer, "sentinel_ids", None):
    raise ValueError("span_corruption needs sentinel tokens: set data.num_sentinels "
                     "(e.g. 100, as T5) and use a new workdir if the saved tokenizer has none")


class _CorruptBatch(grain.transforms.MapWithIndex):
  """Packed raw windows -> T5 span-corrupted inputs/targets; the index is the step."""

  def __init__(self, cfg, tokenizer: Tokenizer, seed: int, process_index: int):
    _check_sentinels(tokenizer)
    self._tok = tokenizer
    self._seed = grain_ops.derive_seed(seed, f"span_corruption:{process_index}")
    self._inputs_len = cfg.seq_len
    self._targets_len = span_lengths(cfg)[1]
    self._density = cfg.noise_density
    self._mean_span = cfg.mean_noise_span_length

  def map_with_index(self, index: int, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    tok = self._tok
    rows = len(batch["targets"])
    out = {"inputs": np.full((rows, self._inputs_len), tok.pad_id, np.int32),
           "targets": np.full((rows, self._targets_len), tok.pad_id, np.int32),
           "weights": np.zeros((rows, self._targets_len), np.float32)}
    for r in range(rows):
      tokens = batch["targets"][r][batch["weights"][r] > 0]  # the window's raw tokens
      if len(tokens) < 2:  # a padding row of the last eval batch
        continue
      rng = np.random.default_rng([self._seed, index, r])
      inputs, targets = span_corruption.corrupt(
          tokens, rng, sentinel_ids=tok.sentinel_ids, eos_id=tok.eos_id,
          noise_density=self._density, mean_noise_span_length=self._mean_span)
      out["inputs"][r, :len(inputs)] = inputs
      out["targets"][r, :len(targets)] = targets
      out["weights"][r, :len(targets)] = 1.0
    return out


def make_span_corruption_dataset(cfg, tokenizer: Tokenizer, split: str, *, seed: int,
                                 process_index: int = 0, process_count: int = 1,
                                 train: bool = True) -> grain.IterDataset:
  """T5 span corruption of packed text: inputs [b, seq_len], targets/weights [b, targets_len].

  The text stream (documents joined by EOS when data.add_eos) is cut into windows of
  the raw length T5's helper gives (568 tokens for seq_len 512), each corrupted with its
  own rng from (seed, step, row): the same seed gives the same batches. With
  data.packing, each document is an example of its own instead (see
  _packed_span_corruption), so no example spans two documents.
  """
  if cfg.packing:
    return _packed_span_corruption(cfg, tokenizer, split, seed=seed,
                                   process_index=process_index,
                                   process_count=process_count, train=train)
  raw_len = span_lengths(cfg)[0]
  raw_cfg = copy.deepcopy(cfg)
  raw_cfg.seq_len = raw_len
  windows = pipeline.make_lm_dataset(raw_cfg, tokenizer, split, seed=seed,
                                     process_index=process_index,
                                     process_count=process_count, train=train)
  return windows.map_with_index(_CorruptBatch(cfg, tokenizer, seed, process_index))


class _CorruptDocument(grain.transforms.RandomMap):
  """Document tokens -> {inputs, targets} of one random raw-length chunk (unpadded).

  Longer documents give one of their raw-length chunks at random, fresh each epoch
  (T5's select_random_chunk); shorter ones are corrupted whole, with fewer spans.
  """

  def __init__(self, cfg, tokenizer: Tokenizer):
    self._tok = tokenizer
    self._raw_len, self._targets_len = span_lengths(cfg)
    self._inputs_len = cfg.seq_len
    self._density = cfg.noise_density
    self._mean_span = cfg.mean_noise_span_length

  def random_map(self, tokens: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    chunks = -(-len(tokens) // self._raw_len)
    start = int(rng.integers(chunks)) * self._raw_len
    inputs, targets = span_corruption.corrupt(
        tokens[start:start + self._raw_len], rng, sentinel_ids=self._tok.sentinel_ids,
        eos_id=self._tok.eos_id, noise_density=self._density,
        mean_noise_span_length=self._mean_span)
    return {"inputs": inputs[:self._inputs_len], "targets": targets[:self._targets_len]}


def _packed_span_corruption(cfg, tokenizer: Tokenizer, split: str, *, seed: int,
                            process_index: int, process_count: int,
                            train: bool) -> grain.IterDataset:
  """One span-corrupted example per document (one chunk of long ones), packed per row."""
  _check_sentinels(tokenizer)
  local_batch = grain_ops.local_batch(cfg, process_index, process_count)
  records = grain_ops.record_shard(
      sources.get_source(cfg, split), cfg, split, seed=seed, process_index=process_index,
      process_count=process_count, train=train)
  docs = records.map(grain_ops.Tokenize(tokenizer, sources.text_key(cfg), add_eos=False))
  docs = docs.filter(lambda tokens: len(tokens) >= 2)  # nothing to corrupt in fewer
  examples = docs.random_map(_CorruptDocument(cfg, tokenizer),
                             seed=grain_ops.derive_seed(seed, f"span_corruption:{split}"))
  return pack_examples(examples, cfg, local_batch, span_lengths(cfg)[1], seed=seed,
                       train=train, pad_id=tokenizer.pad_id)
