"""Loss / perplexity / accuracy of params on a split, summed over batches then averaged."""
from __future__ import annotations

import itertools
from typing import Any, Callable, Optional

import jax
import numpy as np

import data as data_lib
from train import objectives
from train import partitioning


def evaluate(exp: Any, params: Any, eval_fn: Callable, max_batches: int = 0,
             split: Optional[str] = None) -> dict:
  """One deterministic pass over `split` (default: config.data.eval_split).

  max_batches > 0 stops early (the same first batches every time, so periodic evals
  are comparable); 0 reads the whole split.
  """
  config = exp.config
  split = split or config.data.eval_split
  ds = data_lib.make_lm_dataset(
      config.data, exp.tokenizer, split, seed=config.seed,
      process_index=jax.process_index(), process_count=jax.process_count(), train=False)
  batches = iter(ds)
  if max_batches > 0:
    batches = itertools.islice(batches, max_batches)
  totals = {"loss_sum": 0.0, "correct_sum": 0.0, "weight": 0.0}
  for batch in batches:
    sums = jax.device_get(eval_fn(params, partitioning.global_batch(batch, exp.mesh)))
    for k in totals:
      totals[k] += float(np.asarray(sums[k]))
  if totals["weight"] == 0:
    raise ValueError(f"split {split!r} of data.dataset={config.data.dataset!r} gave no "
                     "tokens to evaluate; is it empty or shorter than one sequence?")
  return objectives.summarize(totals)
