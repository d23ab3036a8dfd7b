"""The projection matmul of every Dense layer, with a hand-written backward.

Why: JAX's transpose rule for `x @ W` computes the weight gradient as (gᵀ x)ᵀ, and XLA:CPU
then materialises a transposed copy of the whole [tokens, features] activation gradient
(fused with the elementwise backward before it, e.g. GELU's), which cost more than the
matmuls themselves on the 2-core CPU (experiments/bench/RESULTS.md). Here the weight
gradient is one contraction over the token dims, dW = xᵀ g, and the input gradient
g Wᵀ, each a single dot in the layout XLA wants. Numerics are the same contractions.

Low-precision operands (bf16, f16) contract with float32 accumulation and round the result
once to their dtype (`dot`), as GPUs and TPUs do anyway. XLA:CPU needs it said: a
bf16 x bf16 -> bf16 dot is upcast to a float32 dot there, while bf16 x bf16 -> f32 runs on
the CPU's bf16 units (AVX-512 BF16, AMX; experiments/bench/RESULTS.md).
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax


def below_float32(dtype: Any) -> bool:
  """A floating dtype narrower than float32 (bf16, f16): contracted with f32 accumulation."""
  return jnp.issubdtype(dtype, jnp.floating) and jnp.finfo(dtype).bits < 32


def dot(x: jax.Array, y: jax.Array, dimension_numbers: Any) -> jax.Array:
  """`lax.dot_general` in x's dtype; below float32 it accumulates in float32."""
  if not below_float32(x.dtype):
    return lax.dot_general(x, y, dimension_numbers)
  return lax.dot_general(x, y, dimension_numbers,
                         preferred_element_type=jnp.float32).astype(x.dtype)


def einsum(spec: str, x: jax.Array, y: jax.Array, out_dtype: Any = None) -> jax.Array:
  """`jnp.einsum(spec, x, y)` of two operands of one dtype, in out_dtype (default theirs).
  Below float32 it accumulates in float32 and its backward contracts the cotangent in the
  operands' dtype as well (autodiff would contract a float32 cotangent, which XLA:CPU runs
  as a float32 dot). Every index of an operand must appear in the other operand or the
  output."""
  out_dtype = jnp.dtype(out_dtype or x.dtype)
  if not below_float32(x.dtype):
    return jnp.einsum(spec, x, y, preferred_element_type=out_dtype)
  x_idx, y_idx, out = _indices(spec)
  for own, other in ((x_idx, y_idx), (y_idx, x_idx)):
    if not set(own) <= set(other) | set(out):
      raise ValueError(f"einsum {spec!r}: an operand's index is summed only within it")
  return _einsum_low(spec, out_dtype, x, y)


def _indices(spec: str) -> tuple[str, str, str]:
  """"xy,yz->xz" -> ("xy", "yz", "xz")."""
  inputs, out = spec.split("->")
  x_idx, y_idx = inputs.split(",")
  return x_idx, y_idx, out


def _contract(spec: str, a: jax.Array, b: jax.Array, dtype: Any) -> jax.Array:
  return jnp.einsum(spec, a, b, preferred_element_type=jnp.float32).astype(dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(0, 1))
def _einsum_low(spec: str, out_dtype: Any, x: jax.Array, y: jax.Array) -> jax.Array:
  return _contract(spec, x, y, out_dtype)


def _einsum_low_fwd(spec, out_dtype, x, y):
  return _contract(spec, x, y, out_dtype), (x, y)


def _einsum_low_bwd(spec, out_dtype, res, g):
  del out_dtype
  x, y = res
  x_idx, y_idx, out = _indices(spec)
  g = g.astype(x.dtype)
  return (_contract(f"{out},{y_idx}->{x_idx}", g, y, x.dtype),
          _contract(f"{out},{x_idx}->{y_idx}", g, x, y.dtype))


_einsum_low.defvjp(_einsum_low_fwd, _einsum_low_bwd)


def _dims(ndim: int):
  return (((ndim - 1,), (0,)), ((), ()))


@jax.custom_vjp
def _project(x: jax.Array, w: jax.Array) -> jax.Array:
  return dot(x, w, _dims(x.ndim))


def _project_fwd(x, w):
  return _project(x, w), (x, w)


def _project_bwd(res, g):
  x, w = res
  lead = tuple(range(x.ndim - 1))
  if x.shape[-1] > g.shape[-1]:
    # (gᵀx)ᵀ: XLA:CPU copies the dot's left operand transposed, so transpose the narrower
    # one and then the small [F, D] result; the barrier keeps XLA from folding it back.
    dw = lax.optimization_barrier(dot(g, x, ((lead, lead), ((), ())))).T
  else:
    dw = dot(x, g, ((lead, lead), ((), ())))
  dw = dw.astype(w.dtype)
  dx = dot(g, w, (((g.ndim - 1,), (1,)), ((), ()))).astype(x.dtype)
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
