"""The causal-LM input pipeline: records -> tokens -> packed windows -> batches (Grain).

One process reads records p, p+P, ... of the split (disjoint shards covering it) and
yields its local batch of cfg.batch_size // P rows. Training shuffles records per
epoch, repeats forever and shuffles packed windows; evaluation is one pass in order
with the last batch padded (weights 0) to a static shape. The iterator of the
returned dataset checkpoints with get_state()/set_state() (a small JSON dict).
"""
from typing import Any

import grain
import numpy as np

from data import contiguous
from data import grain_ops
from data import masking
from data import pairs
from data import shuffle
from data import sources
from data.packing import PackedWindowsIterDataset
from data.tokenizers import Tokenizer, encode_array

# A pair reads at most seq_len * 8 characters of a document: more than seq_len tokens at
# the 1 (byte, char) to ~4 (SentencePiece) characters per token of our tokenizers.
_PAIR_CHARS_PER_TOKEN = 8
_OTHER_DOC_DRAWS = 16  # tries to find an NSP negative document different from the current one


class _RandomStart(grain.transforms.RandomMap):
  """Drops a random 0..L-1 leading tokens of a stream chunk, fresh for every epoch.

  Records of a continuous text are fixed chunks; without this, every epoch would cut
  the same windows. nanoGPT samples windows at random offsets; this gets the same variety
  at the cost of < L tokens per chunk and epoch.
  """

  def __init__(self, seq_len: int):
    self._seq_len = seq_len

  def random_map(self, tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return tokens[int(rng.integers(0, self._seq_len)):]


def check_config(cfg, process_count: int) -> None:
  """The config.data values every pipeline reads (rows), checked without data; each task's
  check_data_config adds its own (train/experiment.py's validate() runs both before any
  tokenizer or data work)."""
  grain_ops.check_rows(cfg, process_count)


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
  if cfg.contiguous:  # stateful recurrent LMs: batchify-style streams (data/contiguous.py)
    return contiguous.make_dataset(cfg, tokenizer, split, process_index=process_index,
                                   process_count=process_count, train=train)
  local_batch = grain_ops.local_batch(cfg, process_index, process_count)
  random_windows = train and cfg.random_windows  # reads the records unshuffled, once
  records = grain_ops.record_shard(
      sources.get_source(cfg, split), cfg, split, seed=seed, process_index=process_index,
      process_count=process_count, train=train and not random_windows)
  if random_windows:
    stream = np.concatenate(list(records.map(
        grain_ops.Tokenize(tokenizer, sources.text_key(cfg), add_eos=False))))
    return grain.MapDataset.range(1 << 40).map_with_index(_RandomWindows(
        stream, cfg.seq_len, local_batch,
        grain_ops.derive_seed(seed, f"random_windows:{process_index}"))).to_iter_dataset()
  docs = records.map(grain_ops.Tokenize(tokenizer, sources.text_key(cfg), cfg.add_eos))
  if train and not cfg.add_eos and cfg.random_offset:
    docs = docs.random_map(_RandomStart(cfg.seq_len),
                           seed=grain_ops.derive_seed(seed, "offsets"))
  docs = grain_ops.read_ahead(docs)
  windows = PackedWindowsIterDataset(
      docs,
      seq_len=cfg.seq_len,
      documents=cfg.add_eos,
      pad_id=tokenizer.pad_id,
      pad_last=not train,
      stride=0 if train else cfg.eval_stride,
  )
  if not train:
    batches = windows.batch(local_batch, drop_remainder=False)
    return batches.map(grain_ops.PadBatch(local_batch, tokenizer.pad_id))
  if cfg.shuffle_buffer > 1:
    windows = shuffle.WindowShuffle(
        windows, window_size=cfg.shuffle_buffer, seed=grain_ops.derive_seed(seed, "windows")
    )
  return windows.batch(local_batch, drop_remainder=True)


class _RandomWindows(grain.transforms.MapWithIndex):
  """Batch `index` of windows at uniformly random offsets of one token stream, fresh per
  (seed, index): nanoGPT's get_batch. The index is the step, so resume is exact."""

  def __init__(self, stream: np.ndarray, seq_len: int, batch_size: int, seed: int):
    if len(stream) < seq_len + 1:
      raise ValueError(f"data.random_windows needs a train split of more than data.seq_len="
                       f"{seq_len} tokens; it has {len(stream)}")
    self._stream, self._seq_len, self._batch, self._seed = stream, seq_len, batch_size, seed

  def map_with_index(self, index: int, _) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self._seed, index])
    starts_B = rng.integers(0, len(self._stream) - self._seq_len, size=self._batch)
    rows_BxL1 = self._stream[starts_B[:, None] + np.arange(self._seq_len + 1)[None]]
    shape = (self._batch, self._seq_len)
    return {"inputs": rows_BxL1[:, :-1].astype(np.int32),
            "targets": rows_BxL1[:, 1:].astype(np.int32),
            "weights": np.ones(shape, np.float32),
            "segment_ids": np.ones(shape, np.int32),
            "positions": np.broadcast_to(np.arange(self._seq_len, dtype=np.int32), shape).copy()}


class _MaskBatch(grain.transforms.MapWithIndex):
  """Masked-LM corruption of a packed batch; the index is the step (checkpointed by grain)."""

  def __init__(self, cfg, tokenizer: Tokenizer, seed: int, process_index: int):
    if tokenizer.mask_id is None:
      raise ValueError("masked-LM objectives need a [MASK] token: set data.mask_token=True "
                       "(and use a new workdir if the saved tokenizer has none)")
    masking.check_config(cfg)
    self._cfg = cfg
    self._tokenizer = tokenizer
    self._seed = grain_ops.derive_seed(seed, f"masking:{process_index}")
    self._word_starts = (masking.word_start_table(tokenizer) if cfg.whole_word_masking
                         else None)

  def map_with_index(self, index: int, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    tokens = batch["inputs"]
    tok = self._tokenizer
    rngs = masking.batch_rng(tokens, seed=self._seed, step=index, mode=self._cfg.masking,
                             dupe_factor=self._cfg.dupe_factor)
    out = masking.mask_tokens(
        tokens, rngs, mask_id=tok.mask_id, vocab_size=tok.vocab_size,
        special_ids=(tok.pad_id, tok.eos_id, tok.bos_id, tok.cls_id, tok.sep_id),
        mask_rate=self._cfg.mask_rate,
        word_starts_BxT=None if self._word_starts is None else self._word_starts[tokens])
    return dict(batch, **out)


def make_mlm_dataset(cfg, tokenizer: Tokenizer, split: str, *, seed: int,
                     process_index: int = 0, process_count: int = 1,
                     train: bool = True) -> grain.IterDataset:
  """Packed windows (RoBERTa's FULL-SENTENCES: documents joined by EOS = [SEP]), masked.

  Batches: inputs (corrupted), targets (original), weights (1 on the positions to
  predict), segment_ids and positions as in make_lm_dataset. cfg.masking picks dynamic
  (fresh per step) or static (dupe_factor fixed masks per row) masking; eval batches are
  masked the same way on every pass.
  """
  windows = make_lm_dataset(cfg, tokenizer, split, seed=seed, process_index=process_index,
                            process_count=process_count, train=train)
  return windows.map_with_index(_MaskBatch(cfg, tokenizer, seed, process_index))


class _Pair(grain.transforms.MapWithIndex):
  """Record i -> one padded NSP/SOP pair; the other document of a negative is drawn too."""

  def __init__(self, cfg, tokenizer: Tokenizer, records, task: str, seed: int):
    self._records = records
    self._tokenizer = tokenizer
    self._key = sources.text_key(cfg)
    self._task = task
    self._seq_len = cfg.seq_len
    self._seed = seed

  def _tokens(self, record: Any, rng: np.random.Generator) -> np.ndarray:
    """Tokens of a random stretch of the record's text: enough for a pair, and long files
    are not tokenized whole for every pair (the span is random anyway)."""
    text = sources.record_text(record, self._key)
    max_chars = self._seq_len * _PAIR_CHARS_PER_TOKEN
    start = int(rng.integers(0, max(len(text) - max_chars, 0) + 1))
    return encode_array(self._tokenizer, text[start:start + max_chars])

  def _other_record(self, record: Any, rng: np.random.Generator) -> Any:
    """A random record with other text than `record` (an NSP negative must come from
    another document); an empty one, which keeps the true pair, if draws keep hitting it."""
    text = sources.record_text(record, self._key)
    for _ in range(_OTHER_DOC_DRAWS):
      other = self._records[int(rng.integers(0, len(self._records)))]
      if sources.record_text(other, self._key) != text:
        return other
    return {self._key: ""}

  def map_with_index(self, index: int, record: Any) -> dict[str, np.ndarray]:
    rng = np.random.default_rng([self._seed, index])
    tok = self._tokenizer
    doc = self._tokens(record, rng)
    other = lambda: self._tokens(self._other_record(record, rng), rng)
    a, b, label = pairs.make_pair(doc, other, task=self._task, rng=rng,
                                  budget=self._seq_len - pairs.SPECIALS_PER_PAIR)
    return pairs.pack_pair(a, b, label, seq_len=self._seq_len, cls_id=tok.cls_id,
                           sep_id=tok.sep_id, pad_id=tok.pad_id)


def make_pair_dataset(cfg, tokenizer: Tokenizer, split: str, *, task: str, seed: int,
                      process_index: int = 0, process_count: int = 1,
                      train: bool = True) -> grain.IterDataset:
  """Masked [CLS] A [SEP] B [SEP] pairs for NSP ('nsp') or SOP ('sop'), one per record.

  Batches add token_types (0 for A, 1 for B), pair_label and pair_weight ([B, 1]) to
  make_mlm_dataset's keys. Training shuffles records per epoch and draws new pairs
  each visit; eval gives the same pairs every pass.
  """
  local_batch = grain_ops.local_batch(cfg, process_index, process_count)
  pairs.check_seq_len(cfg.seq_len)
  source = sources.get_source(cfg, split)
  if task == "nsp" and len(source) < 2:
    raise ValueError(f"NSP draws negatives from another document, but split {split!r} of "
                     f"{cfg.dataset!r} has {len(source)} record(s); use more text or "
                     "objective='sop'")
  records = grain_ops.record_shard(source, cfg, split, seed=seed,
                                   process_index=process_index,
                                   process_count=process_count, train=train)
  pair_seed = grain_ops.derive_seed(seed, f"pairs:{process_index}")
  examples = records.map_with_index(_Pair(cfg, tokenizer, source, task, pair_seed))
  batches = grain_ops.batch_rows(examples, local_batch, tokenizer.pad_id, train)
  return batches.map_with_index(_MaskBatch(cfg, tokenizer, seed, process_index))
