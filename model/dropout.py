"""Dropout whose mask is a counter-based hash of each element's position.

`jax.random.bernoulli` draws a threefry-2x32 block (20 rounds) per element; on XLA:CPU
that costs ~100 ms for a [16, 256, 1536] mask, more than the matmul it feeds. Here one
threefry call per site gives a 64-bit seed, and each element's bits are the murmur3
finalizer (two multiply-xorshift rounds) of its global index mixed with that seed: ~3 ms
for the same mask. The mask depends only on (key, shape, index), so it is the same under
any sharding (`lax.broadcasted_iota` is partitioned with global indices) and under vmap.
The backward recomputes the mask from the seed instead of keeping it.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Optional, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

_INDEX_LIMIT = 2**32  # elements one uint32 index can number
_UINT32_RANGE = 2**32


def _fmix32(h: jax.Array) -> jax.Array:
  """murmur3's 32-bit finalizer: a bijection of uint32 with full avalanche."""
  h = h ^ (h >> 16)
  h = h * jnp.uint32(0x85EBCA6B)
  h = h ^ (h >> 13)
  h = h * jnp.uint32(0xC2B2AE35)
  return h ^ (h >> 16)


def _linear_index(shape: Sequence[int], dims: range) -> jax.Array:
  """Row-major index over `dims` of an array of `shape`, broadcast to `shape` (uint32)."""
  index = jnp.zeros(shape, jnp.uint32)
  for d in dims:
    index = index * jnp.uint32(shape[d]) + lax.broadcasted_iota(jnp.uint32, shape, d)
  return index


def keep_mask(seeds: jax.Array, shape: Sequence[int], rate: float) -> jax.Array:
  """Boolean mask of `shape`, each element kept with probability 1 - rate.

  seeds: uint32[2]. Elements are indexed row-major; trailing dims whose size product
  stays below 2**32 form one 32-bit index, the leading rest another, so every element of
  arrays up to 2**64 elements gets distinct hash input.
  """
  shape = tuple(shape)
  split = len(shape)
  while split > 0 and math.prod(shape[split - 1:]) < _INDEX_LIMIT:
    split -= 1
  if math.prod(shape[:split]) >= _INDEX_LIMIT:
    raise ValueError(f"dropout on {shape} needs more than 64 bits of element index")
  low = _fmix32(_linear_index(shape, range(split, len(shape))) ^ seeds[0])
  high = _fmix32(_linear_index(shape, range(split)) + seeds[1])
  bits = _fmix32(low ^ high)
  return bits >= jnp.uint32(min(round(rate * _UINT32_RANGE), _UINT32_RANGE - 1))


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def _apply(x: jax.Array, seeds: jax.Array, rate: float) -> jax.Array:
  keep = keep_mask(seeds, x.shape, rate)
  return jnp.where(keep, x / jnp.asarray(1.0 - rate, x.dtype), jnp.zeros((), x.dtype))


def _apply_fwd(x, seeds, rate):
  return _apply(x, seeds, rate), seeds


def _apply_bwd(rate, seeds, g):
  return _apply(g, seeds, rate), np.zeros(seeds.shape, jax.dtypes.float0)


_apply.defvjp(_apply_fwd, _apply_bwd)


def draw_seeds(rng: jax.Array) -> jax.Array:
  """One site's 64-bit mask seed (uint32[2]) from a dropout RNG key."""
  return jax.random.bits(rng, (2,), jnp.uint32)


def check_rate(rate: float) -> None:
  """Raise unless 0 <= rate < 1."""
  if not 0.0 <= rate < 1.0:
    raise ValueError(f"dropout rate must be in [0, 1), got {rate}")


def with_seeds(x: jax.Array, seeds: Optional[jax.Array], rate: float) -> jax.Array:
  """Dropout of x under the mask of `seeds` (draw_seeds): the same seeds, shape and rate
  give the same mask, so a custom backward can replay it. Rate 0 returns x (seeds unused)."""
  if rate == 0.0:
    return x
  return _apply(x, seeds, rate)


def dropout(x: jax.Array, rate: float, rng: jax.Array) -> jax.Array:
  """Zero each element with probability `rate` and scale the rest by 1 / (1 - rate)."""
  check_rate(rate)
  return with_seeds(x, draw_seeds(rng) if rate else None, rate)


class Dropout(nn.Module):
  """`nn.Dropout`'s contract (rate, deterministic, the 'dropout' RNG stream) with the
  hashed mask above."""
  rate: float

  @nn.compact
  def __call__(self, x: jax.Array, deterministic: bool = True) -> jax.Array:
    if deterministic or self.rate == 0.0:
      return x
    return dropout(x, self.rate, self.make_rng("dropout"))
