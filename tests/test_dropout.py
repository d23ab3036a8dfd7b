"""model/dropout.py: the hashed mask's rate and independence, its gradient, sharding."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from model import dropout as dropout_lib

SEEDS = jnp.array([12345, 678], jnp.uint32)


def _within(observed: float, p: float, n: int, sigmas: float = 6.0) -> bool:
  return abs(observed - p) <= sigmas * np.sqrt(p * (1 - p) / n)


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.9])
def test_keep_rate_and_neighbours_are_independent(rate):
  mask = np.asarray(dropout_lib.keep_mask(SEEDS, (64, 128, 96), rate))
  keep = 1 - rate
  assert _within(mask.mean(), keep, mask.size)
  for axis in range(3):  # both of two neighbours kept: keep**2 if independent
    a = np.take(mask, range(mask.shape[axis] - 1), axis=axis)
    b = np.take(mask, range(1, mask.shape[axis]), axis=axis)
    assert _within((a & b).mean(), keep**2, a.size), axis
  other = np.asarray(dropout_lib.keep_mask(SEEDS + 1, mask.shape, rate))
  assert _within((mask == other).mean(), keep**2 + rate**2, mask.size)


def test_same_key_same_mask_and_expectation_is_kept():
  x = jnp.full((200, 300), 2.0)
  key = jax.random.key(3)
  y = dropout_lib.dropout(x, 0.25, key)
  np.testing.assert_array_equal(y, dropout_lib.dropout(x, 0.25, key))
  np.testing.assert_allclose(np.unique(np.asarray(y)), [0.0, 2.0 / 0.75], rtol=1e-6)
  assert abs(float(y.mean()) - 2.0) < 0.02
  assert not np.array_equal(y, dropout_lib.dropout(x, 0.25, jax.random.key(4)))


def test_gradient_is_the_same_mask():
  x = jax.random.normal(jax.random.key(0), (32, 48))
  c = jax.random.normal(jax.random.key(1), (32, 48))
  key = jax.random.key(2)
  grad = jax.grad(lambda x: jnp.sum(dropout_lib.dropout(x, 0.3, key) * c))(x)
  kept = np.asarray(dropout_lib.dropout(jnp.ones_like(x), 0.3, key))
  np.testing.assert_allclose(grad, kept * c, rtol=1e-6)


def test_index_beyond_32_bits_splits_into_two_words(monkeypatch):
  """A mask too large for one 32-bit index hashes its leading dims separately (shrunk here
  to a limit of 256): rows along the leading dims still differ."""
  monkeypatch.setattr(dropout_lib, "_INDEX_LIMIT", 256)
  mask = np.asarray(dropout_lib.keep_mask(SEEDS, (8, 16, 128), 0.5))
  assert _within(mask.mean(), 0.5, mask.size)
  rows = mask.reshape(-1, 128)
  assert len({r.tobytes() for r in rows}) == len(rows)
  with pytest.raises(ValueError, match="64 bits"):
    dropout_lib.keep_mask(SEEDS, (2**20, 2**20, 2**20), 0.5)


def test_rate_out_of_range_is_refused():
  with pytest.raises(ValueError, match=r"\[0, 1\)"):
    dropout_lib.dropout(jnp.ones(3), 1.0, jax.random.key(0))


def test_mask_does_not_depend_on_sharding():
  devices = np.array(jax.devices())
  if len(devices) < 2:
    pytest.skip("needs several devices (XLA_FLAGS=--xla_force_host_platform_device_count=8)")
  mesh = jax.sharding.Mesh(devices.reshape(-1, 1), ("a", "b"))
  x = jnp.ones((len(devices) * 4, 6, 10))
  key = jax.random.key(7)
  apply = jax.jit(lambda x: dropout_lib.dropout(x, 0.5, key))
  whole = apply(x)
  sharded = apply(jax.device_put(x, NamedSharding(mesh, P("a", None, "b"))))
  np.testing.assert_array_equal(whole, sharded)
