"""T5's span corruption (Raffel et al. 2020, sec. 3.1.4), in numpy, deterministic for a seed.

Follows t5.data.preprocessors (`random_spans_noise_mask`, `noise_span_to_unique_sentinel`,
`nonnoise_span_to_unique_sentinel`, `random_spans_helper`) exactly: round(length x
noise_density) noise tokens (at least 1, at most length - 1) in round(noise / mean span
length) spans (at least 1); noise and non-noise span lengths are random segmentations,
interleaved non-noise first. Inputs keep the non-noise tokens and replace each noise span
by one sentinel; targets are each sentinel followed by the span it replaced; both end in
EOS. Sentinel i is `<extra_id_i>` = vocab_size - 1 - i (T5's ids, counted down from the
top of the vocabulary). The mask starts with kept text and ends with noise, e.g. spans
"b c" and "f":
  tokens  a b c d e f      inputs  a <0> d e <1> EOS      targets  <0> b c <1> f EOS
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

NOISE_DENSITY = 0.15
MEAN_NOISE_SPAN_LENGTH = 3.0


def _random_segmentation(num_items: int, num_segments: int,
                         rng: np.random.Generator) -> np.ndarray:
  """Lengths of num_segments non-empty segments summing to num_items, uniformly at random."""
  first_in_segment = np.zeros(num_items, np.int64)
  marks = (np.arange(num_items - 1) < num_segments - 1).astype(np.int64)
  first_in_segment[1:] = rng.permutation(marks)
  segment_id = np.cumsum(first_in_segment)
  return np.bincount(segment_id, minlength=num_segments)


def random_spans_noise_mask(length: int, rng: np.random.Generator,
                            noise_density: float = NOISE_DENSITY,
                            mean_noise_span_length: float = MEAN_NOISE_SPAN_LENGTH
                            ) -> np.ndarray:
  """bool [length]: True on the noise (masked-out) tokens; never starts with noise."""
  if length < 2:
    raise ValueError(f"span corruption needs at least 2 tokens, got {length}")
  num_noise = int(np.round(length * noise_density))
  num_noise = min(max(num_noise, 1), length - 1)
  num_spans = max(int(np.round(num_noise / mean_noise_span_length)), 1)
  noise_lengths = _random_segmentation(num_noise, num_spans, rng)
  nonnoise_lengths = _random_segmentation(length - num_noise, num_spans, rng)
  interleaved = np.stack([nonnoise_lengths, noise_lengths], axis=1).reshape(-1)
  span_starts = np.cumsum(interleaved)[:-1]
  start_indicator = np.zeros(length, np.int64)
  start_indicator[span_starts] = 1
  return np.cumsum(start_indicator) % 2 == 1


def _to_unique_sentinel(tokens: np.ndarray, drop_mask: np.ndarray,
                        sentinel_ids: Sequence[int]) -> np.ndarray:
  """Each run of drop_mask becomes its sentinel (the i-th run gets sentinel_ids[i])."""
  prev = np.concatenate([[False], drop_mask[:-1]])
  first = drop_mask & ~prev
  run = np.cumsum(first) - 1
  if first.sum() > len(sentinel_ids):
    raise ValueError(f"{int(first.sum())} noise spans but only {len(sentinel_ids)} "
                     "sentinel tokens; raise data.num_sentinels")
  out = np.where(first, np.asarray(sentinel_ids)[np.maximum(run, 0)], tokens)
  return out[~(drop_mask & prev)]


def corrupt(tokens: np.ndarray, rng: np.random.Generator, *, sentinel_ids: Sequence[int],
            eos_id: int, noise_density: float = NOISE_DENSITY,
            mean_noise_span_length: float = MEAN_NOISE_SPAN_LENGTH
            ) -> tuple[np.ndarray, np.ndarray]:
  """(inputs, targets) int32 of one token sequence, each ending in EOS."""
  tokens = np.asarray(tokens, np.int32)
  noise = random_spans_noise_mask(len(tokens), rng, noise_density, mean_noise_span_length)
  eos = np.asarray([eos_id], np.int32)
  inputs = _to_unique_sentinel(tokens, noise, sentinel_ids)
  targets = _to_unique_sentinel(tokens, ~noise, sentinel_ids)
  return (np.concatenate([inputs, eos]).astype(np.int32),
          np.concatenate([targets, eos]).astype(np.int32))


def reconstruct(inputs: np.ndarray, targets: np.ndarray, sentinel_ids: Sequence[int],
                eos_id: int) -> np.ndarray:
  """The original tokens from (inputs, targets): each input sentinel -> its target span."""
  sentinels = {int(s): i for i, s in enumerate(sentinel_ids)}
  spans, current = {}, None
  for t in np.asarray(targets).tolist():
    if t == eos_id:
      break
    if t in sentinels:
      current = spans.setdefault(sentinels[t], [])
    elif current is not None:
      current.append(t)
  out = []
  for t in np.asarray(inputs).tolist():
    if t == eos_id:
      break
    out.extend(spans.get(sentinels[t], []) if t in sentinels else [t])
  return np.asarray(out, np.int32)


def random_spans_helper(inputs_length: int, noise_density: float = NOISE_DENSITY,
                        mean_noise_span_length: float = MEAN_NOISE_SPAN_LENGTH
                        ) -> tuple[int, int]:
  """(raw tokens per example, targets length) so corrupted inputs fill inputs_length.

  T5's helper with one sentinel per span and EOS on each side: 512 -> (568, 114).
  """
  def lengths(tokens_length: int) -> tuple[int, int]:
    num_noise = int(round(tokens_length * noise_density))
    num_spans = int(round(num_noise / mean_noise_span_length))
    return tokens_length - num_noise + num_spans + 1, num_noise + num_spans + 1

  if inputs_length < 3:
    raise ValueError(f"data.seq_len={inputs_length} is too short for span corruption")
  tokens_length = inputs_length - 1
  while lengths(tokens_length + 1)[0] <= inputs_length:
    tokens_length += 1
  _, targets_length = lengths(tokens_length)
  if noise_density == 0.5 and targets_length > inputs_length:
    tokens_length -= 1
    targets_length -= 1
  return tokens_length, targets_length


def check(noise_density: float, mean_noise_span_length: float) -> None:
  if not 0.0 < noise_density < 1.0:
    raise ValueError(f"data.noise_density must be in (0, 1), got {noise_density}")
  if mean_noise_span_length < 1.0:
    raise ValueError(f"data.mean_noise_span_length must be >= 1, got {mean_noise_span_length}")
