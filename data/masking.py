"""BERT's masked-LM corruption in numpy, deterministic for a seed.

`mask_tokens` selects `mask_rate` of the maskable tokens (never specials or padding) and
replaces 80% of those with [MASK], 10% with a random token and keeps 10% (Devlin et al.
2019). `batch_rng` decides which masks repeat: **dynamic** masking draws fresh masks for
every step from (seed, step) (RoBERTa); **static** masking keys each row's mask by its
content and one of `dupe_factor` copies, so a row seen again gets one of the same masks
(original BERT's duplicated, pre-masked data).
"""
from __future__ import annotations

import zlib
from typing import Optional, Sequence

import numpy as np

MODES = ("dynamic", "static")


def check_mask_rate(mask_rate: float) -> None:
  if not 0.0 < mask_rate < 1.0:
    raise ValueError(f"data.mask_rate={mask_rate} must be in (0, 1); it is the fraction of "
                     "tokens to predict")


def _check_mode(mode: str, dupe_factor: int) -> None:
  if mode not in MODES:
    raise ValueError(f"unknown data.masking={mode!r}; choose one of {', '.join(MODES)}")
  if mode == "static" and dupe_factor <= 0:
    raise ValueError(f"data.dupe_factor={dupe_factor} must be a positive integer; it is "
                     "how many masks each row cycles through with data.masking='static'")


def check_config(cfg) -> None:
  """data.mask_rate, data.masking and data.dupe_factor (cfg is config.data)."""
  check_mask_rate(cfg.mask_rate)
  _check_mode(cfg.masking, cfg.dupe_factor)


def mask_tokens(
    tokens_BxT: np.ndarray,
    rngs: Sequence[np.random.Generator],
    *,
    mask_id: int,
    vocab_size: int,
    special_ids: Sequence[int],
    mask_rate: float = 0.15,
    word_starts_BxT: Optional[np.ndarray] = None,
) -> dict[str, np.ndarray]:
  """Corrupt each row with its own rng.

  Args:
    tokens_BxT: int token ids; padding and other specials are never selected.
    rngs: one numpy Generator per row (see `batch_rng`).
    mask_id, vocab_size: the [MASK] id and the range random replacements come from
      (specials excluded).
    special_ids: ids that are never selected nor drawn as random replacements.
    mask_rate: fraction of maskable tokens selected, rounded per row (at least one).
    word_starts_BxT: whole-word masking: True where a word starts; a selected word's
      pieces are all masked (selection counts words, so about mask_rate of tokens).

  Returns:
    inputs (corrupted ids), targets (the original ids) and weights (1.0 on selected
    positions, where the loss is taken).
  """
  check_mask_rate(mask_rate)
  tokens_BxT = np.asarray(tokens_BxT)
  specials = np.asarray(sorted(set(special_ids) | {mask_id}))
  maskable_BxT = ~np.isin(tokens_BxT, specials)
  replacements = np.setdiff1d(np.arange(vocab_size), specials)
  inputs = tokens_BxT.copy()
  weights = np.zeros(tokens_BxT.shape, np.float32)
  for row, rng in enumerate(rngs):
    selected = _select(maskable_BxT[row], rng, mask_rate,
                       None if word_starts_BxT is None else word_starts_BxT[row])
    if not selected.size:
      continue
    weights[row, selected] = 1.0
    action = rng.random(selected.size)  # < .8 mask, < .9 random, else keep
    to_mask = selected[action < 0.8]
    to_random = selected[(action >= 0.8) & (action < 0.9)]
    inputs[row, to_mask] = mask_id
    inputs[row, to_random] = rng.choice(replacements, size=to_random.size)
  return {"inputs": inputs, "targets": tokens_BxT.copy(), "weights": weights}


def _select(maskable_T: np.ndarray, rng: np.random.Generator, rate: float,
            word_starts_T: Optional[np.ndarray]) -> np.ndarray:
  """Sorted positions to predict: round(rate * units) random units of maskable tokens."""
  positions = np.flatnonzero(maskable_T)
  if not positions.size:
    return positions
  if word_starts_T is None:
    count = max(1, int(round(rate * positions.size)))
    return np.sort(rng.choice(positions, size=count, replace=False))
  # A word is a start piece and the maskable pieces after it up to the next start.
  starts = np.asarray(word_starts_T, bool)[positions]
  starts[0] = True
  word_of = np.cumsum(starts) - 1
  num_words = int(word_of[-1]) + 1
  count = max(1, int(round(rate * num_words)))
  chosen = rng.choice(num_words, size=count, replace=False)
  return positions[np.isin(word_of, chosen)]


def batch_rng(tokens_BxT: np.ndarray, *, seed: int, step: int, mode: str = "dynamic",
              dupe_factor: int = 10) -> list[np.random.Generator]:
  """One Generator per row: fresh per (seed, step, row) or fixed per (seed, content, copy)."""
  _check_mode(mode, dupe_factor)
  if mode == "dynamic":
    return [np.random.default_rng([seed, step, row]) for row in range(len(tokens_BxT))]
  copy = step % dupe_factor
  return [np.random.default_rng(
      [seed, zlib.crc32(np.ascontiguousarray(row, np.int32).tobytes()), copy])
          for row in np.asarray(tokens_BxT)]


def word_start_table(tokenizer) -> np.ndarray:
  """[vocab] bool: ids whose SentencePiece piece starts a word (begins with '\u2581').

  Whole-word masking needs pieces; byte and char tokenizers have no word boundaries.
  """
  sp = getattr(getattr(tokenizer, "inner", tokenizer), "_sp", None)
  if sp is None:
    raise ValueError("data.whole_word_masking needs data.tokenizer='sentencepiece', "
                     f"got {tokenizer.kind!r}")
  table = np.zeros(tokenizer.vocab_size, bool)
  for i in range(sp.get_piece_size()):
    table[i] = sp.id_to_piece(i).startswith("\u2581")
  return table
