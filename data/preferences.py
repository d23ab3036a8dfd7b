"""Preference pairs as batches: a prompt with a chosen and a rejected response.

Records come from `data.dataset="preference_jsonl"` (data/labelled_files.py: JSON lines
{"prompt", "chosen", "rejected"}, one file per split in data.{train,validation,test}_files).
Each row holds the two full texts, the prompt's tokens then the response's (each text
tokenized alone), cut to data.seq_len and right-padded with 0: `chosen` and `rejected`
[B, T] int32; `chosen_mask` and `rejected_mask` [B, T] float32, 1 on the response's tokens
(what DPO scores); `pair_weight` [B, 1] float32 (0 on the padding rows of a last eval batch).
"""
from __future__ import annotations

import grain
import numpy as np

from data import grain_ops
from data import sources
from data.tokenizers import Tokenizer, encode_array


def encode_response(tokenizer: Tokenizer, prompt: str, response: str,
                    seq_len: int) -> tuple[np.ndarray, np.ndarray]:
  """(ids, response mask) of one row: the prompt's tokens then the response's, cut to
  seq_len and right-padded with 0; the mask is 1 on the response's tokens."""
  prompt_ids = encode_array(tokenizer, prompt)
  ids = np.concatenate([prompt_ids, encode_array(tokenizer, response)])[:seq_len]
  mask = (np.arange(len(ids)) >= len(prompt_ids)).astype(np.float32)
  pad = (0, seq_len - len(ids))
  return np.pad(ids, pad).astype(np.int32), np.pad(mask, pad)


class _EncodePair(grain.transforms.Map):
  def __init__(self, tokenizer: Tokenizer, seq_len: int):
    self._tokenizer, self._seq_len = tokenizer, seq_len

  def map(self, record: dict) -> dict[str, np.ndarray]:
    prompt, t, n = record["prompt"], self._tokenizer, self._seq_len
    chosen, chosen_mask = encode_response(t, prompt, record["chosen"], n)
    rejected, rejected_mask = encode_response(t, prompt, record["rejected"], n)
    return {"chosen": chosen, "rejected": rejected, "chosen_mask": chosen_mask,
            "rejected_mask": rejected_mask, "pair_weight": np.ones(1, np.float32)}


def make_preference_dataset(cfg, tokenizer: Tokenizer, split: str, *, seed: int,
                            process_index: int = 0, process_count: int = 1,
                            train: bool = True, task_cfg=None) -> grain.IterDataset:
  """Batches of preference pairs (module doc); cfg is config.data."""
  del task_cfg
  grain_ops.check_dataset(cfg, "preference_jsonl",
                          "preference pairs (JSON lines prompt/chosen/rejected)")
  return grain_ops.record_batches(
      sources.get_source(cfg, split), cfg, split, _EncodePair(tokenizer, cfg.seq_len),
      pad_id=tokenizer.pad_id, seed=seed, process_index=process_index,
      process_count=process_count, train=train, what="preference pairs")
