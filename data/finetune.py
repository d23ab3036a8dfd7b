"""Labelled data for fine-tuning: sentence labels (SST-2, IMDB) and BIO word tags (CoNLL).

Sources: local files in their standard formats, `data.dataset = "glue_tsv"` (a header
line, tab-separated columns named by data.text_key / data.label_key) or `"conll"`
(one `token ... TAG` line per word, blank lines between sentences, `-DOCSTART-` lines
skipped), with `data.files` the directory holding the split files
(train.tsv/dev.tsv/test.tsv or train.txt/valid.txt/test.txt); or a TFDS catalog dataset
prepared as array_record (`glue/sst2`, `imdb_reviews`, `conll2003`; text/label features
named by data.text_key / data.label_key). Local files are parsed into memory (small,
and every error names its file and line); every source is read through Grain.

Records are normalised to {"text": str, "label": int} or
{"text": str, "words": [str], "tags": [int]}; batches are
  classification:        inputs [B, T], label [B, 1], label_weight [B, 1]
  token_classification:  inputs [B, T], targets [B, T] (tag id on each word's first
                         sub-token), weights [B, T] (1 there, 0 on the other sub-tokens
                         and padding), num_words [B, 1] (words before truncation)
Each row is [CLS] ... [SEP] padded with 0; eval batches are padded with weight-0 rows.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grain
import numpy as np

from data import grain_ops
from data import sources
from data.labelled_files import LOCAL_FORMATS, read_conll, read_glue_tsv, split_file
from data.tokenizers import Tokenizer, encode_array


def label_names(cfg, task_cfg: Any, split: str = "train") -> list[str]:
  """Class names by id: task.label_names, the TFDS ClassLabel names, or (CoNLL) the tags
  of the train file in first-seen order with O first; SST-style ids are named by number."""
  if task_cfg.label_names:
    return [n.strip() for n in task_cfg.label_names.split(",")]
  if cfg.dataset == "conll":
    seen = {"O": None}
    for s in read_conll(split_file(cfg, split)):
      seen.update(dict.fromkeys(s["tags"]))
    return list(seen)
  if cfg.dataset not in LOCAL_FORMATS:
    feature = sources.get_source(cfg, split).dataset_info.features[cfg.label_key]
    feature = getattr(feature, "feature", feature)  # Sequence(ClassLabel) for tags
    if hasattr(feature, "names"):
      return list(feature.names)
  return [str(i) for i in range(task_cfg.num_classes)]


class _Records(Sequence):
  """A split's records in the normalised form, checked against the label set."""

  def __init__(self, cfg, task_cfg: Any, split: str, tags: bool):
    self._names = label_names(cfg, task_cfg)
    self._num_classes = task_cfg.num_classes
    if len(self._names) != self._num_classes:
      raise ValueError(f"{len(self._names)} label names {self._names} but "
                       f"task.num_classes={self._num_classes}; make them agree")
    self._tags = tags
    self._cfg = cfg
    self._split = split
    self._local = None
    if cfg.dataset in LOCAL_FORMATS:
      expected = "conll" if tags else "glue_tsv"
      if cfg.dataset != expected:
        what = "word tags (token_classification)" if tags else "labels (classification)"
        raise ValueError(f"{what} are read locally from data.dataset={expected!r}, "
                         f"not {cfg.dataset!r}")
      self._where = split_file(cfg, split)
      if cfg.dataset == "conll":
        self._local = read_conll(self._where)
      else:
        self._local = read_glue_tsv(self._where, cfg.text_key, cfg.label_key)
      self._local = [self._normalise_local(r) for r in self._local]
      size = len(self._local)
    else:
      self._where = f"{cfg.dataset} split {split!r}"
      self._source = sources.get_source(cfg, split)
      size = len(self._source)
    if size == 0:
      raise ValueError(f"{self._where} has no labelled examples (empty split); point "
                       "data.files / data.dataset at a split with data")
    self._size = size

  def _check_label(self, label: int, where: str) -> int:
    if not 0 <= label < self._num_classes:
      raise ValueError(f"{where}: label {label} is outside task.num_classes="
                       f"{self._num_classes} (ids 0..{self._num_classes - 1}); raise "
                       "task.num_classes or fix the data")
    return label

  def _normalise_local(self, r: dict) -> dict:
    where = f"{self._where}:{r['line']}"
    if "words" in r:
      ids = {n: i for i, n in enumerate(self._names)}
      for tag in r["tags"]:
        if tag not in ids:
          raise ValueError(f"{where}: tag {tag!r} is not one of the {self._num_classes} "
                           f"labels {self._names} (task.label_names)")
      return {"text": " ".join(r["words"]), "words": r["words"],
              "tags": [ids[t] for t in r["tags"]]}
    return {"text": r["text"], "label": self._check_label(r["label"], where)}

  def _normalise_catalog(self, index: int, record: dict) -> dict:
    where = f"{self._where} record {index}"
    if self._tags:
      words = [_str(w) for w in np.asarray(record[self._cfg.text_key]).reshape(-1)]
      tags = [self._check_label(int(t), where)
              for t in np.asarray(record[self._cfg.label_key]).reshape(-1)]
      return {"text": " ".join(words), "words": words, "tags": tags}
    return {"text": sources.record_text(record, self._cfg.text_key),
            "label": self._check_label(int(np.asarray(record[self._cfg.label_key])), where)}

  def __len__(self) -> int:
    return self._size

  def __getitem__(self, index: int) -> dict:
    if self._local is not None:
      return self._local[index]
    return self._normalise_catalog(index, self._source[index])

  @property
  def names(self) -> list[str]:
    return self._names


def _str(value: Any) -> str:
  return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def encode_sentence(tokenizer: Tokenizer, text: str, seq_len: int) -> np.ndarray:
  """[CLS] tokens [SEP] truncated and padded to seq_len."""
  ids = encode_array(tokenizer, text)[:seq_len - 2]
  row = np.full(seq_len, tokenizer.pad_id, np.int32)
  row[:len(ids) + 2] = np.concatenate([[tokenizer.bos_id], ids, [tokenizer.eos_id]])
  return row


def encode_words(tokenizer: Tokenizer, words: Sequence[str], tags: Sequence[int],
                 seq_len: int) -> dict[str, np.ndarray]:
  """Word-tagged sentence -> inputs/targets/weights with the tag on each first sub-token.

  Words after the first are encoded with a leading space (how they appear in running
  text); words that do not fit seq_len are cut (num_words keeps the true count).
  """
  inputs = np.full(seq_len, tokenizer.pad_id, np.int32)
  targets = np.zeros(seq_len, np.int32)
  weights = np.zeros(seq_len, np.float32)
  inputs[0] = tokenizer.bos_id
  pos = 1
  for i, (word, tag) in enumerate(zip(words, tags)):
    ids = encode_array(tokenizer, word if i == 0 else " " + word)
    if len(ids) == 0:  # e.g. a character the tokenizer drops: keep the word's slot
      ids = np.array([tokenizer.eos_id], np.int32)
    if pos + len(ids) > seq_len - 1:
      break
    inputs[pos:pos + len(ids)] = ids
    targets[pos], weights[pos] = tag, 1.0
    pos += len(ids)
  inputs[pos] = tokenizer.eos_id
  return {"inputs": inputs, "targets": targets, "weights": weights,
          "num_words": np.array([len(words)], np.int32)}


class _Encode(grain.transforms.Map):
  def __init__(self, tokenizer: Tokenizer, seq_len: int, tags: bool):
    self._tokenizer = tokenizer
    self._seq_len = seq_len
    self._tags = tags

  def map(self, record: dict) -> dict[str, np.ndarray]:
    if self._tags:
      return encode_words(self._tokenizer, record["words"], record["tags"], self._seq_len)
    return {"inputs": encode_sentence(self._tokenizer, record["text"], self._seq_len),
            "label": np.array([record["label"]], np.int32),
            "label_weight": np.ones(1, np.float32)}


def make_finetune_dataset(cfg, tokenizer: Tokenizer, split: str, *, tags: bool,
                          task_cfg: Any, seed: int, process_index: int = 0,
                          process_count: int = 1, train: bool = True) -> grain.IterDataset:
  """Batches of labelled examples (module doc): sentence labels, or with `tags` BIO word
  tags (token_classification); cfg is config.data, task_cfg config.task."""
  return grain_ops.record_batches(
      _Records(cfg, task_cfg, split, tags), cfg, split, _Encode(tokenizer, cfg.seq_len, tags),
      pad_id=tokenizer.pad_id, seed=seed, process_index=process_index,
      process_count=process_count, train=train, what="examples")
