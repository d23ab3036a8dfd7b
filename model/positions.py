"""Positions, in one place: what each model.position gives a stack, and the encodings.

A position type acts at exactly one point of a Transformer stack:
- "embedding": a table added to the token embeddings (learned, sinusoidal; layers.Embedder),
- "rotary": RoPE on queries and keys inside attention (rope; attention.MultiHeadAttention),
- "bias": an additive attention-logits bias computed once per stack (relative: T5's
  buckets, RelativePositionBias; the encoder-decoder passes it to every layer),
- nothing (none).
`check(position, family)` rejects at config time a type the family cannot use.
"""
from __future__ import annotations

from typing import Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

# model.position -> where it acts (None: no positional signal)
ACTS_AT: dict[str, Optional[str]] = {
    "learned": "embedding", "sinusoidal": "embedding", "rope": "rotary", "none": None,
    "relative": "bias"}
TYPES = tuple(ACTS_AT)
# Types only some families compute; the rest work in every Transformer family.
_ONLY_FOR = {"relative": ("encoder_decoder",)}


def check(position: str, family: str) -> None:
  """ValueError unless `family` gives model.position=`position` a positional signal."""
  if position not in ACTS_AT:
    raise ValueError(f"unknown model.position={position!r}; choose one of {', '.join(TYPES)}")
  families = _ONLY_FOR.get(position)
  if families and family not in families:
    others = ", ".join(p for p in TYPES if p not in _ONLY_FOR)
    raise ValueError(
        f"model.position={position!r} is an attention bias that only the "
        f"{' and '.join(families)} family computes; model.family={family!r} would train "
        f"with no positional signal. Use one of {others}.")


def adds_embedding(position: str) -> bool:
  return ACTS_AT[position] == "embedding"


def rotary(position: str) -> bool:
  return ACTS_AT[position] == "rotary"


def attention_bias(position: str) -> bool:
  return ACTS_AT[position] == "bias"


def sinusoidal(positions_BxT: jax.Array, dim: int, base: float = 10000.0) -> jax.Array:
  """Vaswani et al. (2017) encodings [B, T, dim] at integer positions (sin | cos halves)."""
  half = dim // 2
  inv_freq = base ** (-jnp.arange(half, dtype=jnp.float32) / half)
  angles = positions_BxT[..., None].astype(jnp.float32) * inv_freq
  enc = jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
  if dim % 2:
    enc = jnp.pad(enc, [(0, 0)] * (enc.ndim - 1) + [(0, 1)])
  return enc


def apply_rope(x_BxTxNxH: jax.Array, positions_BxT: jax.Array, base: float) -> jax.Array:
  """Rotary embeddings (Su et al. 2021), rotating the two halves of each head."""
  h = x_BxTxNxH.shape[-1]
  if h % 2:
    raise ValueError(f"RoPE needs an even head_dim, got {h}")
  if positions_BxT is None:
    positions_BxT = jnp.arange(x_BxTxNxH.shape[1])[None]
  inv_freq = base ** (-jnp.arange(h // 2, dtype=jnp.float32) / (h // 2))
  angles_BxTx1xH2 = (positions_BxT[..., None].astype(jnp.float32) * inv_freq)[:, :, None]
  sin, cos = jnp.sin(angles_BxTx1xH2), jnp.cos(angles_BxTx1xH2)
  x1, x2 = jnp.split(x_BxTxNxH.astype(jnp.float32), 2, axis=-1)
  out = jnp.concatenate([x1 * cos - x2 * sin, x2 * cos + x1 * sin], axis=-1)
  return out.astype(x_BxTxNxH.dtype)


def relative_position_bucket(relative_position: jax.Array, *, bidirectional: bool,
                             num_buckets: int = 32, max_distance: int = 128) -> jax.Array:
  """T5's bucket of each (key - query) offset (Raffel et al. 2020; mesh_tensorflow/HF T5).

  Half the buckets (all of them when causal) are exact offsets 0..max_exact-1, the rest
  log-spaced up to max_distance, beyond which offsets share the last bucket.
  Bidirectional: keys after the query use buckets num_buckets // 2 and up. Causal: keys
  after the query fall into bucket 0 (the causal mask hides them anyway).
  """
  n = -relative_position  # query - key
  ret = jnp.zeros_like(n)
  if bidirectional:
    num_buckets //= 2
    ret += (n < 0).astype(n.dtype) * num_buckets
    n = jnp.abs(n)
  else:
    n = jnp.maximum(n, 0)
  max_exact = num_buckets // 2
  is_small = n < max_exact
  # n >= max_exact > 0 where this is used; the maximum only keeps log() finite elsewhere.
  val_if_large = max_exact + (
      jnp.log(jnp.maximum(n, 1).astype(jnp.float32) / max_exact)
      / jnp.log(max_distance / max_exact) * (num_buckets - max_exact)).astype(n.dtype)
  val_if_large = jnp.minimum(val_if_large, num_buckets - 1)
  return ret + jnp.where(is_small, n, val_if_large)


class RelativePositionBias(nn.Module):
  """T5's learned per-head scalar for each relative-position bucket -> bias [B, N, T, S]."""
  num_heads: int
  bidirectional: bool
  num_buckets: int = 32
  max_distance: int = 128
  init_std: float = 0.02

  @nn.compact
  def __call__(self, q_positions_BxT: jax.Array, k_positions_BxS: jax.Array) -> jax.Array:
    table_RxN = self.param(  # HF T5: relative_attention_bias.weight [buckets, heads]
        "relative_attention_bias",
        nn.with_logical_partitioning(nn.initializers.normal(self.init_std), (None, "heads")),
        (self.num_buckets, self.num_heads))
    rel_BxTxS = k_positions_BxS[:, None, :] - q_positions_BxT[:, :, None]
    buckets_BxTxS = relative_position_bucket(
        rel_BxTxS, bidirectional=self.bidirectional, num_buckets=self.num_buckets,
        max_distance=self.max_distance)
    return jnp.take(table_RxN, buckets_BxTxS, axis=0).transpose(0, 3, 1, 2)
