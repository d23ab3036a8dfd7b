"""Prompts as batches for reinforcement learning from a policy's own samples (GRPO).

Records come from `data.dataset="prompt_lines"` (data/labelled_files.py: one prompt per
non-blank line, one file per split in data.{train,validation,test}_files). Each prompt is
tokenized as eval/sampling.prompt_ids does (EOS first when data.add_eos or the prompt is
empty), keeps its last data.seq_len tokens and is left-padded to data.seq_len, so the
decode loop continues every row from its last real token:
  prompt [B, seq_len] int32 (pad slots hold the tokenizer's pad id),
  prompt_pad [B, 1] int32 (the row's number of left-pad slots),
  prompt_weight [B, 1] float32 (0 on the padding rows of a last eval batch).
Training shuffles the records per epoch and repeats them; evaluation is one pass in order.
"""
from __future__ import annotations

import grain
import numpy as np

from data import grain_ops
from data import sources
from data.tokenizers import Tokenizer


def prompt_tokens(tokenizer: Tokenizer, text: str, add_eos: bool) -> list[int]:
  """The token ids a sampled row starts from: EOS first when documents were packed with
  EOS (add_eos) or the prompt is empty; else the prompt alone."""
  ids = tokenizer.encode(text) if text else []
  return [tokenizer.eos_id] + ids if add_eos or not ids else ids


def encode_prompt(tokenizer: Tokenizer, text: str, length: int,
                  add_eos: bool) -> tuple[np.ndarray, int]:
  """(ids left-padded to `length`, number of pad slots): the last `length` prompt tokens."""
  ids = prompt_tokens(tokenizer, text, add_eos)[-length:]
  row = np.full(length, tokenizer.pad_id, np.int32)
  row[length - len(ids):] = ids
  return row, length - len(ids)


class _EncodePrompt(grain.transforms.Map):
  def __init__(self, tokenizer: Tokenizer, length: int, add_eos: bool):
    self._tokenizer, self._length, self._add_eos = tokenizer, length, add_eos

  def map(self, record: dict) -> dict[str, np.ndarray]:
    row, pad = encode_prompt(self._tokenizer, sources.record_text(record), self._length,
                             self._add_eos)
    return {"prompt": row, "prompt_pad": np.array([pad], np.int32),
            "prompt_weight": np.ones(1, np.float32)}


def make_prompt_dataset(cfg, tokenizer: Tokenizer, split: str, *, seed: int,
                        process_index: int = 0, process_count: int = 1,
                        train: bool = True, task_cfg=None) -> grain.IterDataset:
  """Batches of left-padded prompts (module doc); cfg is config.data."""
  del task_cfg
  grain_ops.check_dataset(cfg, "prompt_lines", "prompts (one per line)")
  return grain_ops.record_batches(
      sources.get_source(cfg, split), cfg, split,
      _EncodePrompt(tokenizer, cfg.seq_len, cfg.add_eos), pad_id=tokenizer.pad_id, seed=seed,
      process_index=process_index, process_count=process_count, train=train, what="prompts")
