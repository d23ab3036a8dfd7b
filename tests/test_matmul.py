"""The Dense matmul's hand-written backward equals autodiff of lax.dot_general."""
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from model import matmul


@pytest.mark.parametrize("shape", [(6, 5), (2, 3, 5), (2, 3, 4, 5)])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_custom_backward_matches_autodiff(shape, dtype):
  kx, kw, kg = jax.random.split(jax.random.PRNGKey(0), 3)
  x = jax.random.normal(kx, shape).astype(dtype)
  w = jax.random.normal(kw, (shape[-1], 7)).astype(dtype)
  g = jax.random.normal(kg, shape[:-1] + (7,)).astype(dtype)
  dims = (((x.ndim - 1,), (0,)), ((), ()))

  def vjp(fn):
    y, pullback = jax.vjp(lambda a, b: fn(a, b, dims), x, w)
    return (y,) + pullback(g)

  tol = 1e-5 if dtype == jnp.float32 else 2e-2
  for got, want in zip(vjp(matmul.dot_general), vjp(lax.dot_general)):
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_allclose(np.asarray(got, np.float32), np.asarray(want, np.float32),
                               rtol=tol, atol=tol)


def test_other_contractions_fall_back():
  x, w = jnp.ones((3, 4)), jnp.ones((5, 4))
  out = matmul.dot_general(x, w, (((1,), (1,)), ((), ())))
  np.testing.assert_allclose(out, np.full((3, 5), 4.0))


@pytest.mark.parametrize("spec", ["btkgh,bskh->bkgts", "bkgts,bskh->btkgh"])
@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_einsum_and_its_backward_match_autodiff(spec, dtype):
  """matmul.einsum (attention's two contractions) against jnp.einsum's autodiff in f32."""
  dims = dict(b=2, t=3, s=4, k=2, g=2, h=5)
  x_idx, y_idx = spec.split("->")[0].split(",")
  out_idx = spec.split("->")[1]
  kx, ky, kg = jax.random.split(jax.random.PRNGKey(1), 3)
  x = jax.random.normal(kx, [dims[c] for c in x_idx]).astype(dtype)
  y = jax.random.normal(ky, [dims[c] for c in y_idx]).astype(dtype)
  g = jax.random.normal(kg, [dims[c] for c in out_idx])
  got, pullback = jax.vjp(lambda a, b: matmul.einsum(spec, a, b, jnp.float32), x, y)
  want, want_pullback = jax.vjp(lambda a, b: jnp.einsum(spec, a, b), x.astype(jnp.float32),
                                y.astype(jnp.float32))
  tol = 1e-5 if dtype == jnp.float32 else 3e-2
  for a, b in zip((got,) + pullback(g), (want,) + want_pullback(g)):
    np.testing.assert_allclose(np.asarray(a, np.float32), np.asarray(b), rtol=tol, atol=tol)
  assert [d.dtype for d in pullback(g)] == [dtype, dtype]
  if dtype == jnp.float32:  # float32 is jnp.einsum itself, bit for bit
    np.testing.assert_array_equal(got, want)


def test_einsum_rejects_an_index_summed_within_one_operand():
  x = jnp.ones((2, 3), jnp.bfloat16)
  with pytest.raises(ValueError, match="summed only within it"):
    matmul.einsum("ij,jk->k", x, jnp.ones((3, 4), jnp.bfloat16))


def test_bf16_contractions_compile_to_bf16_dots():
  """XLA:CPU runs a bf16 x bf16 -> bf16 dot as a float32 dot; every dot of a bf16 Dense
  and attention step, forward and backward, must take bf16 operands (f32 accumulation)."""
  kx, kw = jax.random.split(jax.random.PRNGKey(2))
  x = jax.random.normal(kx, (2, 8, 16), jnp.bfloat16)
  w = jax.random.normal(kw, (16, 16), jnp.bfloat16)

  def loss(x, w):
    h = matmul.dot_general(x, w, (((2,), (0,)), ((), ()))).reshape(2, 8, 2, 1, 8)
    logits = matmul.einsum("btkgh,bskh->bkgts", h, h[:, :, :, 0], jnp.float32)
    weights = jax.nn.softmax(logits, axis=-1).astype(jnp.bfloat16)
    out = matmul.einsum("bkgts,bskh->btkgh", weights, h[:, :, :, 0])
    return jnp.sum(out.astype(jnp.float32) ** 2)

  hlo = jax.jit(jax.grad(loss, argnums=(0, 1))).lower(x, w).compile().as_text()
  types = dict(re.findall(r"%([\w.\-]+) = (\w+)\[", hlo))
  dots = re.findall(r" dot\(%([\w.\-]+), %([\w.\-]+)\)", hlo)
  assert len(dots) >= 9, hlo  # 3 contractions, each forward and two backward
  assert all(types[a] == types[b] == "bf16" for a, b in dots), dots
