"""dpo (train/tasks/dpo.py): the losses' closed forms, a zero margin at the start, a frozen
reference that init_from fills and training never moves, and learning a preference."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eval import restore
from tests import tiny
from train import experiment
from train import loop
from train import objectives
from train import state as state_lib
from train.tasks import dpo

BETA = 0.5
# hand-made sums of response log-probs: policy chosen/rejected, reference chosen/rejected
PI_C, PI_R, REF_C, REF_R = -3.0, -5.0, -4.0, -4.5
D = (PI_C - REF_C) - (PI_R - REF_R)  # 1.5


def test_losses_equal_their_closed_forms():
  d = jnp.float32(D)
  assert float(dpo.preference_loss(d, "sigmoid", BETA, 0.0)) == pytest.approx(
      np.log1p(np.exp(-BETA * D)), rel=1e-6)
  eps = 0.1  # conservative DPO: the label is flipped with probability eps
  assert float(dpo.preference_loss(d, "sigmoid", BETA, eps)) == pytest.approx(
      (1 - eps) * np.log1p(np.exp(-BETA * D)) + eps * np.log1p(np.exp(BETA * D)), rel=1e-6)
  assert float(dpo.preference_loss(d, "ipo", BETA, 0.0)) == pytest.approx(
      (D - 1 / (2 * BETA)) ** 2, rel=1e-6)
  # DPO's gradient in d is -beta sigmoid(-beta d): it vanishes as the margin grows
  grad = jax.grad(lambda x: dpo.preference_loss(x, "sigmoid", BETA, 0.0))(d)
  assert float(grad) == pytest.approx(-BETA / (1 + np.exp(BETA * D)), rel=1e-5)


def test_response_logprob_sums_the_masked_targets():
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(2, 5, 7)).astype(np.float32)
  targets = rng.integers(0, 7, size=(2, 5))
  mask = np.array([[0, 0, 1, 1, 1], [0, 1, 1, 0, 0]], np.float32)
  logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
  want = (np.take_along_axis(logp, targets[..., None], -1)[..., 0] * mask).sum(-1)
  got = objectives.response_logprob(jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(mask))
  np.testing.assert_allclose(got, want, rtol=1e-5)


def test_bad_settings_are_refused_by_name(tmp_path):
  for key, value, match in [("loss", "kto", "unknown preference.loss='kto'"),
                            ("beta", 0.0, "preference.beta=0.0 must be > 0"),
                            ("label_smoothing", 0.5, "preference.label_smoothing=0.5")]:
    c = tiny.preference_config(tmp_path, "dpo")
    c.preference[key] = value
    with pytest.raises(ValueError, match=match):
      experiment.validate(c)


@pytest.fixture(scope="module")
def sft_and_dpo(tmp_path_factory):
  """A causal LM trained on the pairs' texts, then DPO from it (the policy and reference)."""
  root = tmp_path_factory.mktemp("dpo")
  c = tiny.preference_config(root, "dpo", steps=40, learning_rate=3e-3,
                             end_learning_rate=3e-4, weight_decay=0.0, eval_every=20,
                             checkpoint_every=20)
  c.preference.beta = 0.5
  sft = tiny.tiny_config(_pair_texts(root, c.data.train_files), str(root / "tfds_sft"), steps=30)
  sft.mesh.data = 1
  sft.sample.num_samples = 0
  loop.train_and_evaluate(sft, str(root / "sft"))
  c.init_from = str(root / "sft")
  c.sample.num_samples = 1
  final = loop.train_and_evaluate(c, str(root / "dpo"))
  return c, str(root / "sft"), str(root / "dpo"), final


def _pair_texts(root, pairs_file) -> str:
  """prompt + chosen and prompt + rejected of every pair, one per line: the SFT corpus."""
  import json
  lines = []
  for line in open(pairs_file):
    r = json.loads(line)
    lines += [r["prompt"] + r["chosen"], r["prompt"] + r["rejected"]]
  return tiny.write_corpus(str(root), "\n".join(lines) + "\n")


def test_at_the_start_the_margin_is_zero_and_the_loss_log2(tmp_path):
  c = tiny.preference_config(tmp_path, "dpo")
  exp = experiment.build(c, str(tmp_path / "fresh"))
  state = state_lib.create_train_state(exp.model, exp.tx, c.data.seq_len, c.seed, exp.mesh,
                                       exp.shardings, exp.rules, exp.carry_fn, exp.frozen_fn)
  batch = next(iter(exp.task.make_dataset(c.data, exp.tokenizer, "validation", seed=0,
                                          train=False)))
  batch = dict(jax.tree.map(jnp.asarray, batch), frozen=state.frozen)
  # jitted as the train and eval steps run it (one compile, not an op-by-op forward)
  loss, sums = jax.jit(exp.loss_fn, static_argnums=3)(state.params, batch,
                                                       jax.random.key(0), True)
  assert float(sums["margin_sum"]) == 0.0 and float(sums["correct_sum"]) == 0.0
  assert float(loss) == pytest.approx(np.log(2.0), rel=1e-6)


def test_the_reference_is_the_init_from_model_and_never_moves(sft_and_dpo):
  _, sft, run, _ = sft_and_dpo
  source = restore.restore_params(sft).params
  tuned = restore.restore_params(run)
  for want, ref, policy in zip(jax.tree.leaves(source), jax.tree.leaves(tuned.frozen),
                               jax.tree.leaves(tuned.params)):
    np.testing.assert_array_equal(np.asarray(ref), np.asarray(want))
  moved = sum(float(jnp.abs(p - r).max()) for p, r in zip(jax.tree.leaves(tuned.params),
                                                           jax.tree.leaves(tuned.frozen)))
  assert moved > 0


def test_dpo_learns_the_preference_and_the_policy_samples(sft_and_dpo):
  """After SFT on both replies, the chosen word decides the preference; DPO ranks held-out
  pairs by its implicit reward and moves the chosen reply's log-ratio up."""
  _, _, run, final = sft_and_dpo
  first = tiny.metrics_rows(run)[0]
  assert first["accuracy"] < 0.8 and abs(first["margin"]) < 0.5, first
  assert "mfu" not in first and first["tokens_per_sec"] > 0  # DPO's FLOPs are not counted
  assert final["accuracy"] > 0.9 and final["margin"] > 1.0, final
  assert final["chosen_reward"] > final["rejected_reward"]
  assert open(f"{run}/samples.txt").read().strip()


def test_on_2_devices_stopped_and_resumed_it_logs_the_same_run(sft_and_dpo, tmp_path):
  """The frozen reference is checkpointed: a run stopped at step 20 and resumed (on a
  2-device data axis) logs the one-device run's losses and margins (float noise apart).
  Any sharded data axis makes the claim, and 2 simulated devices cost less than 8."""
  c, _, run, final = sft_and_dpo
  c = c.copy_and_resolve_references()
  c.mesh.data = 2
  c.sample.num_samples = 0
  workdir = str(tmp_path / "resumed")
  assert loop.train_and_evaluate(c, workdir, stop_after=20) is None
  resumed = loop.train_and_evaluate(c, workdir)
  for split in ("train", "eval"):
    got, want = tiny.metrics_rows(workdir, split), tiny.metrics_rows(run, split)
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for key in ("loss", "margin"):
      np.testing.assert_allclose([r[key] for r in got], [r[key] for r in want],
                                 rtol=1e-4, atol=1e-4)
  assert resumed["accuracy"] == final["accuracy"]
