"""The Dense matmul's hand-written backward equals autodiff of lax.dot_general."""
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
