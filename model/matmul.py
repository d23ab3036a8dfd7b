"""The projection matmul of every Dense layer, with a hand-written backward.

Why: JAX's transpose rule for `x @ W` computes the weight gradient as (gᵀ x)ᵀ, and XLA:CPU
then materialises a transposed copy of the whole [tokens, features] activation gradient
(fused with the elementwise backward before it, e.g. GELU's), which cost more than the
matmuls themselves on the 2-core CPU (experiments/bench/RESULTS.md). Here the weight
gradient is one contraction over the token dims, dW = xᵀ g, and the input gradient
g Wᵀ, each a single dot in the layout XLA wants. Numerics are the same contractions.
"""
from __future__ import annotations

from typing import Any

import jax
from jax import lax


def _dims(ndim: int):
  return (((ndim - 1,), (0,)), ((), ()))


@jax.custom_vjp
def _project(x: jax.Array, w: jax.Array) -> jax.Array:
  return lax.dot_general(x, w, _dims(x.ndim))


def _project_fwd(x, w):
  return _project(x, w), (x, w)


def _project_bwd(res, g):
  x, w = res
  lead = tuple(range(x.ndim - 1))
  if x.shape[-1] > g.shape[-1]:
    # (gᵀx)ᵀ: XLA:CPU copies the dot's left operand transposed, so transpose the narrower
    # one and then the small [F, D] result; the barrier keeps XLA from folding it back.
    dw = lax.optimization_barrier(lax.dot_general(g, x, ((lead, lead), ((), ())))).T
  else:
    dw = lax.dot_general(x, g, ((lead, lead), ((), ())))
  dw = dw.astype(w.dtype)
  dx = lax.dot_general(g, w, (((g.ndim - 1,), (1,)), ((), ()))).astype(x.dtype)
  return dx, dw


_project.defvjp(_project_fwd, _project_bwd)


def dot_general(lhs: jax.Array, rhs: jax.Array, dimension_numbers: Any,
                precision: Any = None, preferred_element_type: Any = None) -> jax.Array:
  """`lax.dot_general` for nn.Dense: x[..., D] @ W[D, F] takes the custom backward."""
  if (precision is None and preferred_element_type is None and rhs.ndim == 2
      and dimension_numbers == _dims(lhs.ndim) and lhs.dtype == rhs.dtype):
    return _project(lhs, rhs)
  return lax.dot_general(lhs, rhs, dimension_numbers, precision=precision,
                         preferred_element_type=preferred_element_type)
