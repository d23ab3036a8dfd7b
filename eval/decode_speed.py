"""Decode throughput of an LM: greedy with no EOS, so every row makes every token.

The speed half of MHA vs GQA vs MQA (experiments/sweeps/kv_heads.py) and of the KV-cache
benchmark (experiments/bench/generate.py). The project's own decode loop
(eval/sampling.py) runs once to compile and is timed on a second, identical call.
"""
from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

from eval import sampling


def decode_tokens_per_sec(model: Any, params: Any, *, batch: int, prompt_len: int,
                          new_tokens: int, max_len: int, vocab_size: int,
                          cached: bool = True, seed: int = 0) -> tuple[float, list[list[int]]]:
  """(new tokens per second over the batch, the tokens) for random prompts."""
  if min(batch, prompt_len, new_tokens) < 1:
    raise ValueError(f"need batch, prompt_len and new_tokens >= 1, got {batch}, "
                     f"{prompt_len}, {new_tokens}")
  prompts = np.random.default_rng(seed).integers(3, vocab_size, (batch, prompt_len))
  fns = sampling.model_fns(model, cached=cached)

  def run() -> list[list[int]]:
    return sampling.decode_tokens(
        fns, params, prompts.tolist(), max_new_tokens=new_tokens, max_len=max_len,
        vocab_size=vocab_size, rng=jax.random.PRNGKey(seed),
        settings=sampling.Settings(temperature=0.0))

  run()  # compile
  start = time.perf_counter()
  outs = run()
  return batch * new_tokens / (time.perf_counter() - start), outs
