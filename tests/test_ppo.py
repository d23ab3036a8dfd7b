"""ppo (train/tasks/ppo.py): GAE against a NumPy loop, the clipped value loss and the
per-token rewards against hand numbers, a value head that leaves the policy's logits and
samples alone, a zero KL penalty at the start, raising a toy reward from a tiny SFT'd GPT
with the KL in bounds (one update per rollout batch), several updates per rollout batch
from the state's carry, and a resume of those on 2 devices that logs the one-device run."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import model as model_lib
from eval import restore
from eval import sampling
from tests import tiny
from train import experiment
from train import loop
from train.tasks import grpo
from train.tasks import ppo

STEPS, STOP_AT = 12, 6


def gae_loop(rewards, values, mask, gamma, lam):
  """GAE as written: for each row, back from its last response token."""
  adv = np.zeros_like(rewards)
  for i in range(rewards.shape[0]):
    n, last = int(mask[i].sum()), 0.0
    for t in reversed(range(n)):
      next_value = values[i, t + 1] if t + 1 < n else 0.0
      delta = rewards[i, t] + gamma * next_value - values[i, t]
      last = delta + gamma * lam * last
      adv[i, t] = last
  return adv, (adv + values) * mask


@pytest.mark.parametrize("gamma,lam", [(1.0, 0.95), (1.0, 1.0), (0.9, 0.0), (0.99, 0.5)])
def test_gae_equals_a_numpy_loop(gamma, lam):
  rng = np.random.default_rng(0)
  lengths = [7, 1, 4, 7, 3]  # a full row, a one-token response, ...
  mask = (np.arange(7)[None] < np.asarray(lengths)[:, None]).astype(np.float32)
  rewards = rng.normal(size=mask.shape).astype(np.float32)
  values = rng.normal(size=mask.shape).astype(np.float32)
  adv, returns = jax.jit(ppo.gae, static_argnums=(3, 4))(
      jnp.asarray(rewards), jnp.asarray(values), jnp.asarray(mask), gamma, lam)
  want_adv, want_returns = gae_loop(rewards, values, mask, gamma, lam)
  np.testing.assert_allclose(adv, want_adv, rtol=1e-5, atol=1e-6)
  np.testing.assert_allclose(returns, want_returns, rtol=1e-5, atol=1e-6)
  assert np.all(np.asarray(adv)[mask == 0] == 0) and np.all(np.asarray(returns)[mask == 0] == 0)


def test_clipped_value_loss_and_its_gradient_equal_hand_numbers():
  """V_old 0, return 1, clip 0.2: V = 0.1 and -0.5 lie within / on the far side of the
  clip, so 0.5 (V - R)^2 and gradient V - R; V = 0.5 and 1.5 moved past 0.2, so the
  clipped value 0.2 bounds the loss, 0.5 x 0.8^2 = 0.32, with gradient 0."""
  values = jnp.asarray([0.1, 0.5, -0.5, 1.5])
  old, returns = jnp.zeros(4), jnp.ones(4)
  got = ppo.clipped_value_loss(values, old, returns, 0.2)
  np.testing.assert_allclose(got, [0.405, 0.32, 1.125, 0.32], rtol=1e-6)
  grad = jax.grad(lambda v: jnp.sum(ppo.clipped_value_loss(v, old, returns, 0.2)))(values)
  np.testing.assert_allclose(grad, [-0.9, 0.0, -1.5, 0.0], rtol=1e-6)
  # V_old = stop_gradient(V), as one update per rollout: plain regression to the returns
  grad = jax.grad(lambda v: jnp.sum(ppo.clipped_value_loss(
      v, jax.lax.stop_gradient(v), returns, 0.2)))(values)
  np.testing.assert_allclose(grad, values - returns, rtol=1e-6)


def test_per_token_rewards_and_whitening():
  mask = jnp.asarray([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0]])
  logp = jnp.asarray([[-1.0, -2.0, -0.5, -9.0], [-1.0, -3.0, -3.0, -3.0]])
  ref = jnp.asarray([[-1.5, -2.0, -1.5, -1.0], [-2.0, -1.0, -1.0, -1.0]])
  got = ppo.sequence_rewards(jnp.asarray([2.0, -1.0]), logp, ref, mask, 0.1)
  np.testing.assert_allclose(got, [[-0.05, 0.0, 2.0 - 0.1, 0.0], [-1.0 - 0.1, 0, 0, 0]],
                             rtol=1e-6)
  x = jnp.asarray([[1.0, 2.0, 3.0, 100.0], [4.0, 100.0, 100.0, 100.0]])
  white = np.asarray(ppo.whiten(x, mask))[np.asarray(mask) > 0]
  assert abs(white.mean()) < 1e-6 and white.std() == pytest.approx(1.0, rel=1e-5)


def test_the_value_head_leaves_the_logits_and_samples_alone_and_kl_starts_at_0(tmp_path):
  """PolicyWithValue's logits (training forward and the KV-cache rollouts) equal the GPT's
  own with the same backbone params; with policy == reference the per-token KL, and so
  the KL penalty in every reward, is exactly 0."""
  c = tiny.rl_config(tmp_path, "ppo")
  c.model.vocab_size = 40
  gpt = model_lib.build(c.model)
  policy = ppo.TASK.wrap(gpt, c)
  tokens = jax.random.randint(jax.random.PRNGKey(1), (4, 24), 1, 40)
  params = jax.jit(policy.init)(jax.random.PRNGKey(0), tokens)["params"]  # not op by op
  assert set(params) == {"backbone", "value_head"}
  want = gpt.apply({"params": params["backbone"]}, tokens)
  np.testing.assert_array_equal(policy.apply({"params": params}, tokens), want)
  logits, values = policy.apply({"params": params}, tokens, with_values=True)
  np.testing.assert_array_equal(logits, want)
  assert values.shape == (4, 24) and values.dtype == jnp.float32
  prompt, pad = tokens[:, :8].at[1, :3].set(0), jnp.asarray([0, 3, 0, 0])
  new_gpt, _ = sampling.rollout_loop(gpt, 8, 16, 1.0)(params["backbone"], prompt, pad,
                                                     jax.random.PRNGKey(2))
  new_policy, _ = sampling.rollout_loop(policy, 8, 16, 1.0)(params, prompt, pad,
                                                           jax.random.PRNGKey(2))
  np.testing.assert_array_equal(new_policy, new_gpt)
  seq = jnp.concatenate([prompt, new_policy], axis=1)
  logp, ref, values = jax.jit(lambda p: grpo.policy_and_reference(
      policy, p, p, seq, pad, 8, with_values=True))(params)
  np.testing.assert_array_equal(logp - ref, 0.0)
  mask = grpo.response_mask(new_policy, 3)
  np.testing.assert_array_equal(
      ppo.sequence_rewards(jnp.zeros(4), logp, ref, mask, 0.5), 0.0)
  assert values.shape == logp.shape == (4, 16)


def test_bad_settings_are_refused_by_name(tmp_path):
  for key, value, match in [
      ("gamma", 1.5, r"rl.gamma=1.5 must be in \[0, 1\]"),
      ("gae_lambda", -0.1, r"rl.gae_lambda=-0.1 must be in \[0, 1\]"),
      ("vf_clip", 0.0, "rl.vf_clip=0.0 must be > 0"),
      ("kl_target", -1.0, "rl.kl_target=-1.0 must be >= 0"),
      ("kl_horizon", 0, "rl.kl_horizon=0 must be > 0"),
      ("num_minibatches", 3, "rl.num_minibatches=3 must be an integer >= 1 that divides "
                             "data.batch_size=4"),
      ("group_size", 8, "rl.group_size=8 is for the grpo objective only")]:
    c = tiny.rl_config(tmp_path, "ppo")
    c.rl[key] = value
    with pytest.raises(ValueError, match=match):
      experiment.validate(c)
  c = tiny.rl_config(tmp_path, "grpo")
  c.rl.gae_lambda = 0.9
  with pytest.raises(ValueError, match="rl.gae_lambda=0.9 is for the ppo objective only"):
    experiment.validate(c)
  c = tiny.rl_config(tmp_path, "ppo")
  c.data.dataset = "text_files"
  with pytest.raises(ValueError, match="objective='ppo' reads prompts"):
    experiment.validate(c)


def _ppo_config(root, epochs=1, minibatches=1, learning_rate=1e-2):
  c = tiny.rl_config(root, "ppo", steps=STEPS, learning_rate=learning_rate,
                     end_learning_rate=learning_rate / 10, weight_decay=0.0, warmup_steps=2,
                     eval_every=STEPS, checkpoint_every=STOP_AT)  # no periodic eval
  c.data.batch_size = 16  # the 8 prompts twice a step; divides over 2 devices
  c.rl.ppo_epochs, c.rl.num_minibatches = epochs, minibatches
  return c


@pytest.fixture(scope="module")
def sft_and_ppo(tmp_path_factory):
  """A causal LM trained on tiny.CORPUS, then PPO from it on the toy reward token:e, one
  update per rollout batch."""
  root = tmp_path_factory.mktemp("ppo")
  c = _ppo_config(root)
  c.init_from = tiny.train_sft(root)
  final = loop.train_and_evaluate(c, str(root / "ppo"))
  return c, c.init_from, str(root / "ppo"), final


def test_ppo_raises_the_toy_reward_with_the_kl_in_bounds(sft_and_ppo):
  """Reward: the fraction of sampled characters that are 'e'. At step 1 the policy is its
  reference (KL exactly 0); PPO then raises the reward, measured (seed 0) from 0.081 at
  step 1 to 0.24 at steps 10-12 (final evaluation 0.25), the KL to the reference 5.4
  nats per 16-token response."""
  c, _, run, final = sft_and_ppo
  rows = tiny.metrics_rows(run)
  assert rows[0]["kl"] == 0.0
  assert all(r["clip_fraction"] == 0.0 for r in rows)  # one update per rollout: ratio 1
  assert all(np.isfinite(r["value_loss"]) for r in rows)
  start, end = rows[0]["reward"], np.mean([r["reward"] for r in rows[-3:]])
  assert start < 0.15 and end > start + 0.15, (start, end)
  assert final["reward"] > start + 0.15, final
  assert 0 < final["kl"] < 20.0, final
  assert final["response_length"] <= 16 and final["tokens"] == 8
  assert experiment.carry_fn(c, None) is None  # nothing to carry between steps


def test_init_from_fills_the_backbone_and_the_value_head_starts_fresh(sft_and_ppo):
  _, sft, run, _ = sft_and_ppo
  source = restore.restore_params(sft).params
  tuned = restore.restore_params(run)
  reference = tuned.frozen["reference"]
  for want, ref in zip(jax.tree.leaves(source), jax.tree.leaves(reference["backbone"])):
    np.testing.assert_array_equal(np.asarray(ref), np.asarray(want))
  assert set(tuned.params) == {"backbone", "value_head"} and "value_head" not in source
  moved = [float(jnp.abs(p - r).max()) for p, r in zip(jax.tree.leaves(tuned.params),
                                                        jax.tree.leaves(reference))]
  assert min(moved) > 0  # every param trained, the value head included


def test_the_adaptive_kl_controller_equals_hand_numbers():
  """Ziegler et al.'s controller: kl_coef x (1 + clip(KL / target - 1, -0.2, 0.2) B / H)."""
  for kl, want in [(6.6, 0.1 * (1 + 0.1 * 32 / 1000)),  # 10 % above target
                   (60.0, 0.1 * (1 + 0.2 * 32 / 1000)),  # far above: the clip
                   (0.0, 0.1 * (1 - 0.2 * 32 / 1000))]:  # at the start, KL 0
    got = ppo.adapt_kl_coef(jnp.float32(0.1), jnp.float32(kl), 6.0, 32, 1000)
    assert float(got) == pytest.approx(want, rel=1e-6), kl


def test_an_adaptive_kl_coefficient_follows_the_controller_step_by_step(sft_and_ppo,
                                                                           tmp_path):
  """rl.kl_target > 0: the coefficient lives in the state's carry and moves after each
  rollout batch by the controller, on that batch's mean KL (logged as `kl`), from
  rl.kl_coef; a short horizon makes each move large (here up to 20 % x 16/32 = 10 %).
  Measured (seed 0): KL 0 at steps 1-2, then 3.7-6.8 nats, so the coefficient falls from
  0.05 to 0.0405 and then rises to 0.087 by step 11. The run stops after step STEPS - 1:
  its train rows are the claim, and a final evaluation would compile the eval step for
  nothing."""
  c, sft, _, _ = sft_and_ppo
  c = c.copy_and_resolve_references()
  c.rl.kl_coef, c.rl.kl_target, c.rl.kl_horizon = 0.05, 1.0, 32
  c.train.log_every = 1
  workdir = str(tmp_path / "adaptive")
  assert loop.train_and_evaluate(c, workdir, stop_after=STEPS - 1) is None
  rows = tiny.metrics_rows(workdir)
  assert len(rows) == STEPS - 1
  assert rows[0]["kl_coef"] == pytest.approx(0.05) and rows[0]["kl"] == 0.0
  for before, after in zip(rows, rows[1:]):
    want = ppo.adapt_kl_coef(jnp.float32(before["kl_coef"]), jnp.float32(before["kl"]),
                             1.0, 16, 32)
    assert after["kl_coef"] == pytest.approx(float(want), rel=1e-5), before["step"]
  moves = np.diff([r["kl_coef"] for r in rows])
  assert moves[0] < 0 and np.any(moves > 0)  # KL 0 < target at first, above it later


@pytest.fixture(scope="module")
def several_updates(sft_and_ppo, tmp_path_factory):
  """PPO from the same SFT run with 2 passes of 2 minibatches per rollout batch (new
  rollouts at steps 1, 5, 9), one device."""
  _, sft, _, _ = sft_and_ppo
  root = tmp_path_factory.mktemp("ppo_epochs")
  c = _ppo_config(root, epochs=2, minibatches=2, learning_rate=3e-3)
  c.init_from = sft
  final = loop.train_and_evaluate(c, str(root / "ppo"))
  return c, str(root / "ppo"), final


def test_several_updates_per_rollout_batch_reuse_it_from_the_carry(several_updates):
  """Each rollout batch serves 4 steps: each pass's two minibatches cover it once (equal
  mean reward, KL and length per pass); its first update sees ratio 1 (float noise
  apart), the later ones a moved policy that the clip holds (measured, seed 0: up to 38 %
  of a minibatch's tokens); the batch of steps 1-4 was sampled by the reference itself (KL
  exactly 0). Reward 0.07 at step 1, 0.12 at the final evaluation (KL 1.3)."""
  _, run, final = several_updates
  rows = tiny.metrics_rows(run)
  assert [r["step"] for r in rows] == list(range(1, STEPS + 1))
  for first in (0, 4, 8):
    batch = rows[first:first + 4]
    for key in ("reward", "kl", "response_length"):
      one, two = [np.mean([r[key] for r in batch[i:i + 2]]) for i in (0, 2)]
      assert one == pytest.approx(two, rel=1e-6, abs=1e-6), (first, key)
    assert batch[0]["clip_fraction"] == 0.0
  assert all(r["kl"] == 0.0 for r in rows[:4]) and rows[4]["kl"] != 0.0
  assert max(r["clip_fraction"] for r in rows) > 0.1
  assert np.isfinite(final["loss"]) and final["tokens"] == 8


def test_on_2_devices_stopped_and_resumed_it_logs_the_same_run(several_updates, tmp_path):
  """Rollouts draw from fold_in(state.rng, step) and the rollout buffer is checkpointed
  with the state: a run on a 2-device data axis (8 rollouts, each minibatch 4, per
  device), stopped at step STOP_AT (the second update on its rollout batch) and resumed,
  logs the one-device uninterrupted run's numbers (float noise apart). Any sharded data
  axis makes the claim, and 2 simulated devices cost less than 8."""
  c, run, final = several_updates
  c = c.copy_and_resolve_references()
  c.mesh.data = 2
  workdir = str(tmp_path / "resumed")
  assert loop.train_and_evaluate(c, workdir, stop_after=STOP_AT) is None
  resumed = loop.train_and_evaluate(c, workdir)
  for split in ("train", "final_eval"):
    got, want = tiny.metrics_rows(workdir, split), tiny.metrics_rows(run, split)
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for key in ("loss", "reward", "kl", "response_length", "value_loss"):
      np.testing.assert_allclose([r[key] for r in got], [r[key] for r in want],
                                 rtol=1e-4, atol=1e-5)
  assert resumed["reward"] == pytest.approx(final["reward"], rel=1e-4) and len(got) == 1
