"""Optimizer chain: schedules, weight-decay mask, clipping, accumulation."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.configs import base
from train import optimizer


def train_config(**kw):
  t = base.get_config().train
  t.update(dict(steps=100, learning_rate=1e-3, end_learning_rate=1e-4, warmup_steps=10), **kw)
  return t


@pytest.mark.parametrize("schedule,end", [("cosine", 1e-4), ("linear", 1e-4),
                                          ("constant", 1e-3)])
def test_schedule_warms_up_then_reaches_its_end(schedule, end):
  s = optimizer.make_schedule(train_config(schedule=schedule))
  assert float(s(0)) == 0.0
  assert float(s(5)) == pytest.approx(5e-4)
  assert float(s(10)) == pytest.approx(1e-3)
  assert float(s(100)) == pytest.approx(end, rel=1e-4)


def test_rsqrt_schedule_decays_as_inverse_sqrt():
  s = optimizer.make_schedule(train_config(schedule="rsqrt", warmup_steps=10))
  assert float(s(10 + 30)) == pytest.approx(1e-3 / np.sqrt(4.0), rel=1e-5)


def test_decay_mask_covers_matrices_only():
  params = {"embed": {"token": {"embedding": jnp.ones((5, 4))}},
            "layers_0": {"mlp": {"wi": {"kernel": jnp.ones((4, 8)), "bias": jnp.ones(8)}},
                         "mlp_norm": {"layernorm": {"scale": jnp.ones(4)}}}}
  mask = optimizer.decay_mask(params)
  assert mask["layers_0"]["mlp"]["wi"]["kernel"] is True
  assert mask["layers_0"]["mlp"]["wi"]["bias"] is False
  assert mask["layers_0"]["mlp_norm"]["layernorm"]["scale"] is False
  assert mask["embed"]["token"]["embedding"] is False
  assert optimizer.decay_mask(params, decay_embeddings=True)["embed"]["token"]["embedding"]


def test_adamw_decays_kernel_but_not_norm_scale():
  t = train_config(warmup_steps=0, schedule="constant", weight_decay=0.5, grad_clip=0.0)
  tx = optimizer.make_optimizer(t)
  params = {"k": {"kernel": jnp.ones((2, 2))}, "n": {"scale": jnp.ones(2)}}
  zero = jax.tree.map(jnp.zeros_like, params)
  updates, _ = tx.update(zero, tx.init(params), params)
  np.testing.assert_allclose(updates["k"]["kernel"], -1e-3 * 0.5)
  np.testing.assert_array_equal(updates["n"]["scale"], 0.0)


@pytest.mark.parametrize("name", ["adamw", "adafactor", "sgd", "lion"])
def test_every_optimizer_minimises_a_quadratic(name):
  t = train_config(optimizer=name, learning_rate=0.05, end_learning_rate=0.05,
                   warmup_steps=0, schedule="constant", weight_decay=0.0)
  tx = optimizer.make_optimizer(t)
  params = {"w": jnp.full((4, 4), 3.0)}
  state = tx.init(params)
  loss = lambda p: jnp.sum(p["w"] ** 2)
  for _ in range(100):
    updates, state = tx.update(jax.grad(loss)(params), state, params)
    params = optax.apply_updates(params, updates)
  assert float(loss(params)) < 0.1 * 16 * 9


def test_grad_accumulation_averages_microbatch_gradients():
  t = train_config(optimizer="sgd", b1=0.0, warmup_steps=0, schedule="constant",
                   weight_decay=0.0, grad_clip=0.0, grad_accum_steps=2)
  tx = optimizer.make_optimizer(t)
  params = {"w": jnp.zeros(3)}
  state = tx.init(params)
  u1, state = tx.update({"w": jnp.array([1.0, 2.0, 3.0])}, state, params)
  np.testing.assert_array_equal(u1["w"], 0.0)  # no update after the first microbatch
  u2, state = tx.update({"w": jnp.array([3.0, 2.0, 1.0])}, state, params)
  np.testing.assert_allclose(u2["w"], -1e-3 * 2.0)  # mean gradient (2, 2, 2)
