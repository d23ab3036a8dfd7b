"""Sentence pairs for NSP (BERT) and SOP (ALBERT): `[CLS] A [SEP] B [SEP]` from documents.

One pair per record visit: A is a random span of the document and B the text right after
it. NSP replaces B, half of the time, with a span of another document (label 1 =
NotNext); SOP swaps A and B half of the time (label 1 = swapped). A pair longer than the
budget is cut by BERT's rule (`truncate_pair`). Everything is drawn from (seed, index),
so the same seed gives the same pairs.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

TASKS = ("nsp", "sop")
SPECIALS_PER_PAIR = 3  # [CLS], [SEP], [SEP]


def check_seq_len(seq_len: int) -> None:
  if seq_len < SPECIALS_PER_PAIR + 2:
    raise ValueError(f"data.seq_len={seq_len} is too short for a sentence pair: it needs "
                     f"[CLS] A [SEP] B [SEP] with A and B non-empty (at least "
                     f"{SPECIALS_PER_PAIR + 2})")


def truncate_pair(a: list, b: list, budget: int, rng: np.random.Generator) -> None:
  """BERT's rule (in place): drop one token from the longer side, front or back at random."""
  while len(a) + len(b) > budget:
    longer = a if len(a) > len(b) else b
    del longer[0 if rng.random() < 0.5 else -1]


def make_pair(doc: np.ndarray, other_doc: Callable[[], np.ndarray], *, task: str,
              budget: int, rng: np.random.Generator) -> tuple[list, list, int]:
  """(A, B, label) from one document; label 1 means NotNext (nsp) or swapped (sop).

  `other_doc` is called only for an NSP negative. A document under 2 tokens gives
  label -1 (no pair loss on it).
  """
  if task not in TASKS:
    raise ValueError(f"unknown pair task {task!r}; choose one of {', '.join(TASKS)}")
  if len(doc) < 2:
    return list(doc), [], -1
  start = int(rng.integers(0, max(len(doc) - budget, 0) + 1))
  window = doc[start:start + budget]
  cut = int(rng.integers(1, len(window)))
  a, b = list(window[:cut]), list(window[cut:])
  label = int(rng.random() < 0.5)
  if label and task == "sop":
    a, b = b, a
  elif label:
    other = other_doc()
    offset = int(rng.integers(0, max(len(other) - budget, 0) + 1))
    random_b = list(other[offset:offset + budget - len(a)])
    if random_b:
      b = random_b
    else:  # the other document is empty: keep the true next segment
      label = 0
  truncate_pair(a, b, budget, rng)
  return a, b, label


def pack_pair(a: list, b: list, label: int, *, seq_len: int, cls_id: int, sep_id: int,
              pad_id: int) -> dict[str, np.ndarray]:
  """[CLS] A [SEP] B [SEP] padded to seq_len, token types 0/1, label as [1] arrays."""
  tokens = [cls_id] + a + [sep_id] + (b + [sep_id] if b else [])
  types = [0] * (len(a) + 2) + [1] * (len(tokens) - len(a) - 2)
  pad = seq_len - len(tokens)
  valid = [1] * len(tokens) + [0] * pad
  return {"inputs": np.asarray(tokens + [pad_id] * pad, np.int32),
          "token_types": np.asarray(types + [0] * pad, np.int32),
          "segment_ids": np.asarray(valid, np.int32),
          "positions": np.arange(seq_len, dtype=np.int32),
          "pair_label": np.asarray([max(label, 0)], np.int32),
          "pair_weight": np.asarray([float(label >= 0)], np.float32)}
