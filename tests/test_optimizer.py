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
                   warmup_steps=0, schedule="constant", weight_decay=0.0,
                   momentum=0.9)  # sgd's (clipped at 1, plain SGD is too slow for the bound)
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


def test_sgd_with_momentum_0_is_textbook_sgd():
  """momentum=0, weight_decay=0: params - lr * grad, nothing else (no hidden momentum)."""
  t = train_config(optimizer="sgd", momentum=0.0, weight_decay=0.0, grad_clip=0.0,
                   warmup_steps=0, schedule="constant", learning_rate=0.5)
  tx = optimizer.make_optimizer(t)
  params = {"k": {"kernel": jnp.array([[1.0, -2.0], [3.0, 0.5]])}}
  state = tx.init(params)
  for g in ([[1.0, 2.0], [-1.0, 0.0]], [[0.5, 0.5], [2.0, -4.0]]):  # 2nd: no momentum carried
    grads = {"k": {"kernel": jnp.array(g)}}
    updates, state = tx.update(grads, state, params)
    expected = params["k"]["kernel"] - 0.5 * jnp.array(g)
    params = optax.apply_updates(params, updates)
    np.testing.assert_allclose(params["k"]["kernel"], expected, rtol=1e-7)


def test_sgd_momentum_and_weight_decay_are_the_keys_not_b1():
  t = train_config(optimizer="sgd", b1=0.9, momentum=0.5, weight_decay=0.1, grad_clip=0.0,
                   warmup_steps=0, schedule="constant", learning_rate=1.0)
  tx = optimizer.make_optimizer(t)
  params = {"k": {"kernel": jnp.full((2, 2), 2.0)}}
  state = tx.init(params)
  grads = {"k": {"kernel": jnp.ones((2, 2))}}
  u1, state = tx.update(grads, state, params)
  np.testing.assert_allclose(u1["k"]["kernel"], -(1.0 + 0.1 * 2.0))  # g + wd * w
  u2, state = tx.update(grads, state, params)
  np.testing.assert_allclose(u2["k"]["kernel"], -(1.2 + 0.5 * 1.2))  # + momentum 0.5


def test_step_decay_holds_then_halves_at_each_epoch_start():
  """Zaremba: lr 1 for 4 epochs, x0.5 from the 5th on; boundaries at epoch starts."""
  t = train_config(schedule="step", epochs=13, decay_after_epochs=4, decay_factor=0.5,
                   learning_rate=1.0, warmup_steps=0, steps=13 * 10)
  s = optimizer.make_schedule(t, steps_per_epoch=10)
  assert [float(s(e * 10)) for e in range(13)] == [1.0] * 4 + [0.5 ** k for k in range(1, 10)]
  assert float(s(39)) == 1.0 and float(s(40)) == 0.5 and float(s(49)) == 0.5
  assert float(s(50)) == 0.25 and float(s(129)) == 0.5 ** 9


def test_step_decay_counts_epochs_from_the_run_start_with_warmup_and_accumulation():
  t = train_config(schedule="step", epochs=3, decay_after_epochs=1, decay_factor=0.1,
                   learning_rate=1.0, warmup_steps=2, grad_accum_steps=2, steps=60)
  s = optimizer.make_schedule(t, steps_per_epoch=20)  # 10 updates per epoch
  assert float(s(1)) == pytest.approx(0.5)  # warming up
  assert [float(s(u)) for u in (2, 9, 10, 19, 20, 29)] == pytest.approx(
      [1.0, 1.0, 0.1, 0.1, 0.01, 0.01])


def test_step_decay_after_0_epochs_decays_from_the_first_step():
  t = train_config(schedule="step", epochs=2, decay_after_epochs=0, decay_factor=0.5,
                   learning_rate=1.0, warmup_steps=0, steps=20)
  s = optimizer.make_schedule(t, steps_per_epoch=10)
  assert [float(s(u)) for u in (0, 9, 10, 19)] == [0.5, 0.5, 0.25, 0.25]


def test_step_decay_needs_epochs():
  with pytest.raises(ValueError, match="train.schedule='step' decays by epochs"):
    optimizer.make_schedule(train_config(schedule="step"))


def test_plateau_decay_reacts_to_non_improving_evals():
  """PyTorch word_language_model: lr /= 4 after each eval that is not a new best."""
  t = train_config(plateau_factor=0.25, plateau_patience=1)
  params = {"w": jnp.zeros(2)}
  state = optimizer.scale_by_plateau(t).init(params)
  scales = []
  for loss in (5.0, 4.0, 4.0, 4.5, 3.9, 3.95):
    state = optimizer.plateau_update(t, state, jnp.float32(loss))
    scales.append(float(optimizer.lr_scale(state)))
  assert scales == [1.0, 1.0, 0.25, 0.0625, 0.0625, 0.015625]


def test_plateau_scale_multiplies_the_update_and_sits_in_the_chain():
  t = train_config(optimizer="sgd", weight_decay=0.0, grad_clip=0.0, warmup_steps=0,
                   schedule="constant", learning_rate=1.0, plateau_factor=0.5)
  tx = optimizer.make_optimizer(t)
  params = {"w": jnp.zeros(2)}
  state = tx.init(params)
  assert float(optimizer.lr_scale(state)) == 1.0
  state = optimizer.plateau_update(t, state, jnp.float32(2.0))  # first eval: the best
  state = optimizer.plateau_update(t, state, jnp.float32(2.0))  # no better: x0.5
  updates, _ = tx.update({"w": jnp.ones(2)}, state, params)
  np.testing.assert_allclose(updates["w"], -0.5)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sequence_sum_lr_1_clip_5_equals_token_mean_lr_20_clip_0_25(momentum):
  """Zaremba's lr and clip (loss summed over 20 steps) carry over unchanged (SGD: the
  update is linear in lr x gradient; Adam's is nearly scale-free, so only the clip moves)."""
  seq_len = 20
  common = dict(optimizer="sgd", momentum=momentum, weight_decay=0.0, warmup_steps=0,
                schedule="constant")
  paper = optimizer.make_optimizer(
      train_config(learning_rate=1.0, grad_clip=5.0, loss_normalization="sequence_sum",
                   **common), seq_len=seq_len)
  by_hand = optimizer.make_optimizer(
      train_config(learning_rate=20.0, grad_clip=0.25, **common),
      seq_len=seq_len)
  rng = np.random.default_rng(0)
  params = {"k": {"kernel": jnp.asarray(rng.normal(size=(4, 3)), jnp.float32)}}
  p_paper, p_hand = params, params
  s_paper, s_hand = paper.init(params), by_hand.init(params)
  for scale in (0.001, 1.0, 0.01):  # below and above the clip threshold
    grads = {"k": {"kernel": jnp.asarray(scale * rng.normal(size=(4, 3)), jnp.float32)}}
    u, s_paper = paper.update(grads, s_paper, p_paper)
    p_paper = optax.apply_updates(p_paper, u)
    u, s_hand = by_hand.update(grads, s_hand, p_hand)
    p_hand = optax.apply_updates(p_hand, u)
    np.testing.assert_allclose(p_paper["k"]["kernel"], p_hand["k"]["kernel"], rtol=1e-5,
                               atol=1e-6)


def test_unknown_loss_normalization_is_named():
  with pytest.raises(ValueError, match="loss_normalization='per_word'"):
    optimizer.make_optimizer(train_config(loss_normalization="per_word"), seq_len=20)
