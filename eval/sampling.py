"""Temperature / top-k / top-p sampling from a causal LM (no KV cache: one window per token).

Each new token runs the model on the last `max_len` tokens of every row in a fixed-shape
window, so one compile serves the whole generation. Simple and exact; the KV-cache decoder
(a later issue) must produce the same tokens for the same seed under greedy decoding.
"""
from __future__ import annotations

from typing import Any, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np


def filter_logits(logits_BxV: jax.Array, temperature: float = 1.0, top_k: int = 0,
                  top_p: float = 1.0) -> jax.Array:
  """Scale by temperature, then keep the top-k and the smallest nucleus with mass >= top_p."""
  logits = logits_BxV.astype(jnp.float32) / max(temperature, 1e-6)
  neg = jnp.finfo(jnp.float32).min
  if top_k > 0:
    kth = jax.lax.top_k(logits, min(top_k, logits.shape[-1]))[0][..., -1:]
    logits = jnp.where(logits < kth, neg, logits)
  if top_p < 1.0:
    sorted_logits = jnp.sort(logits, axis=-1)[..., ::-1]
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    mass_before = jnp.cumsum(probs, axis=-1) - probs
    cutoff = jnp.min(jnp.where(mass_before < top_p, sorted_logits, jnp.inf), axis=-1,
                     keepdims=True)
    logits = jnp.where(logits < cutoff, neg, logits)
  return logits


def sample_token(rng: jax.Array, logits_BxV: jax.Array, temperature: float, top_k: int,
                 top_p: float) -> jax.Array:
  """Greedy when temperature == 0, else a draw from the filtered distribution."""
  if temperature == 0.0:
    return jnp.argmax(logits_BxV, axis=-1)
  return jax.random.categorical(rng, filter_logits(logits_BxV, temperature, top_k, top_p))


def generate(model: nn.Module, params: Any, prompts: Sequence[Sequence[int]], *,
             max_new_tokens: int, max_len: int, rng: jax.Array, temperature: float = 1.0,
             top_k: int = 0, top_p: float = 1.0, eos_id: int | None = None,
             pad_id: int = 0) -> list[list[int]]:
  """Continue each prompt; rows stop at EOS. Returns only the new tokens of each row."""
  if any(len(p) == 0 for p in prompts):
    raise ValueError("every prompt needs at least one token (e.g. BOS or EOS)")
  b = len(prompts)

  @jax.jit
  def next_tokens(window_BxW, last_index_B, key):
    logits = model.apply({"params": params}, window_BxW)
    last = jnp.take_along_axis(logits, last_index_B[:, None, None], axis=1)[:, 0]
    return sample_token(key, last, temperature, top_k, top_p)

  rows = [list(p) for p in prompts]
  new = [[] for _ in range(b)]
  done = np.zeros(b, bool)
  for i in range(max_new_tokens):
    window = np.full((b, max_len), pad_id, np.int32)
    last = np.zeros(b, np.int32)
    for r, row in enumerate(rows):
      ctx = row[-max_len:]
      window[r, :len(ctx)] = ctx
      last[r] = len(ctx) - 1
    toks = np.asarray(next_tokens(window, last, jax.random.fold_in(rng, i)))
    for r in range(b):
      if done[r]:
        continue
      if eos_id is not None and toks[r] == eos_id:
        done[r] = True
        continue
      rows[r].append(int(toks[r]))
      new[r].append(int(toks[r]))
    if done.all():
      break
  return new
