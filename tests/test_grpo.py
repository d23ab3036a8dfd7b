"""grpo (train/tasks/grpo.py): the clipped objective and group advantages against hand
numbers, a zero KL at the start, raising a toy reward from a tiny SFT'd GPT, a resume on 2
devices that logs the one-device run, and a reference that init_from fills and training
never moves."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eval import restore
from tests import tiny
from train import experiment
from train import loop
from train.tasks import grpo

EPS = 0.2
RATIOS = np.array([0.5, 0.9, 1.1, 1.5], np.float32)
STEPS, STOP_AT = 12, 6


def test_clipped_objective_and_its_gradient_equal_hand_numbers():
  """ratio in [1 - eps, 1 + eps]: ratio A, gradient ratio A. Outside, the clip holds the
  ratio (gradient 0) where moving further would gain: ratio > 1 + eps with A > 0, ratio
  < 1 - eps with A < 0; the other side keeps ratio A (the min is the pessimistic bound)."""
  logp_old = jnp.zeros(4)
  logp = jnp.log(jnp.asarray(RATIOS))
  for adv, want, want_grad in [
      (2.0, [1.0, 1.8, 2.2, 2.4], [1.0, 1.8, 2.2, 0.0]),
      (-2.0, [-1.6, -1.8, -2.2, -3.0], [0.0, -1.8, -2.2, -3.0])]:
    got = grpo.clipped_objective(logp, logp_old, jnp.float32(adv), EPS)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    grad = jax.grad(lambda x: jnp.sum(grpo.clipped_objective(x, logp_old, adv, EPS)))(logp)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-6)
    assert (np.asarray(grad) == 0).tolist() == [w == 0 for w in want_grad]  # exactly 0
  # logp_old = stop_gradient(logp), as GRPO's one update per rollout: the policy gradient
  x = jnp.asarray([-1.0, -2.0])
  grad = jax.grad(lambda x: jnp.sum(grpo.clipped_objective(
      x, jax.lax.stop_gradient(x), jnp.asarray([3.0, -0.5]), EPS)))(x)
  np.testing.assert_array_equal(grad, [3.0, -0.5])


def test_advantages_are_normalised_within_groups():
  rewards = jnp.asarray([1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0])
  adv, std = grpo.group_advantages(rewards, 4)
  spread = np.std([1.0, 2.0, 3.0, 4.0])
  np.testing.assert_allclose(adv[:4], (np.arange(1, 5) - 2.5) / (spread + 1e-4), rtol=1e-6)
  assert abs(float(jnp.sum(adv[:4]))) < 1e-6
  np.testing.assert_array_equal(adv[4:], 0.0)  # a group with equal rewards: no signal
  np.testing.assert_allclose(std, [spread] * 4 + [0.0] * 4, rtol=1e-6)


def test_k3_and_the_response_mask():
  logp, ref = jnp.asarray([-1.0, -2.0, -0.5]), jnp.asarray([-1.0, -1.0, -2.5])
  d = np.asarray(ref - logp)
  np.testing.assert_allclose(grpo.k3(logp, ref), np.exp(d) - d - 1, rtol=1e-6)
  assert float(grpo.k3(logp, ref)[0]) == 0.0
  tokens = jnp.asarray([[5, 1, 7, 1], [5, 6, 7, 8], [1, 6, 1, 8]])
  np.testing.assert_array_equal(grpo.response_mask(tokens, 1),
                                [[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]])  # EOS kept
  np.testing.assert_allclose(grpo.token_reward(tokens, grpo.response_mask(tokens, 1), 7),
                             [0.0, 0.25, 0.0])


def test_bad_settings_are_refused_by_name(tmp_path):
  for key, value, match in [
      ("group_size", 1, "rl.group_size=1 must be an integer >= 2"),
      ("clip_eps", 0.0, r"rl.clip_eps=0.0 must be in \(0, 1\)"),
      ("reward", "token:", "rl.reward='token:' names no token"),
      ("reward", "length", "rl.reward='length' is not a known reward"),
      ("max_new_tokens", 30, "rl.max_new_tokens=30 plus data.seq_len=8 .* is 38, more than "
                             "model.max_len=32")]:
    c = tiny.rl_config(tmp_path)
    c.rl[key] = value
    with pytest.raises(ValueError, match=match):
      experiment.validate(c)
  c = tiny.rl_config(tmp_path)
  c.data.dataset = "text_files"
  with pytest.raises(ValueError, match="objective='grpo' reads prompts"):
    experiment.validate(c)
  c = tiny.preference_config(tmp_path, "dpo")
  c.rl.kl_coef = 0.1
  with pytest.raises(ValueError, match="rl.kl_coef=0.1 is for the grpo and ppo objectives "):
    experiment.validate(c)


@pytest.fixture(scope="module")
def sft_and_grpo(tmp_path_factory):
  """A causal LM trained on tiny.CORPUS, then GRPO from it on the toy reward token:e."""
  root = tmp_path_factory.mktemp("grpo")
  c = _grpo_config(root)
  c.init_from = tiny.train_sft(root)
  final = loop.train_and_evaluate(c, str(root / "grpo"))
  return c, c.init_from, str(root / "grpo"), final


def _grpo_config(root):
  c = tiny.rl_config(root, steps=STEPS, learning_rate=1e-2, end_learning_rate=1e-3,
                     weight_decay=0.0, warmup_steps=2, eval_every=STEPS,
                     checkpoint_every=STOP_AT)  # no periodic eval: one compile less
  c.data.batch_size = 8  # every prompt each step; divides over the resumed run's 2 devices
  return c


def test_grpo_raises_the_toy_reward_with_the_kl_in_bounds(sft_and_grpo):
  """Reward: the fraction of sampled characters that are 'e'. At step 1 the policy is its
  reference (KL exactly 0); GRPO then raises the reward, measured (seed 0) from 0.085 at
  step 1 to 0.60 at steps 10-12 (final evaluation 0.58), the KL to the reference reaching
  14 nats per 16-token response (the policy learns to say 'e' far more than its reference)."""
  _, _, run, final = sft_and_grpo
  rows = tiny.metrics_rows(run)
  assert rows[0]["kl"] == 0.0 and rows[0]["loss"] == pytest.approx(0.0, abs=1e-6)
  assert all(r["clip_fraction"] == 0.0 for r in rows)  # one update per rollout: ratio 1
  start, end = rows[0]["reward"], np.mean([r["reward"] for r in rows[-3:]])
  assert start < 0.2 and end > start + 0.2, (start, end)
  assert final["reward"] > start + 0.2, final
  assert 0 < final["kl"] < 40.0, final
  assert final["response_length"] <= 16 and final["tokens"] == 8 * 4


def test_the_reference_is_the_init_from_model_and_never_moves(sft_and_grpo):
  _, sft, run, _ = sft_and_grpo
  source = restore.restore_params(sft).params
  tuned = restore.restore_params(run)
  for want, ref in zip(jax.tree.leaves(source), jax.tree.leaves(tuned.frozen["reference"])):
    np.testing.assert_array_equal(np.asarray(ref), np.asarray(want))
  moved = sum(float(jnp.abs(p - r).max()) for p, r in zip(
      jax.tree.leaves(tuned.params), jax.tree.leaves(tuned.frozen["reference"])))
  assert moved > 0


def test_on_2_devices_stopped_and_resumed_it_logs_the_same_run(sft_and_grpo, tmp_path):
  """Rollouts draw from fold_in(state.rng, step), per row: a run on a 2-device data axis
  (4 prompts per device), stopped at step STOP_AT and resumed, samples the same responses
  and logs the one-device uninterrupted run's numbers (float noise apart). Any sharded
  data axis makes the claim, and 2 simulated devices cost less than 8."""
  c, _, run, final = sft_and_grpo
  c = c.copy_and_resolve_references()
  c.mesh.data = 2
  workdir = str(tmp_path / "resumed")
  assert loop.train_and_evaluate(c, workdir, stop_after=STOP_AT) is None
  resumed = loop.train_and_evaluate(c, workdir)
  for split in ("train", "final_eval"):
    got, want = tiny.metrics_rows(workdir, split), tiny.metrics_rows(run, split)
    assert [r["step"] for r in got] == [r["step"] for r in want]
    for key in ("loss", "reward", "kl", "response_length"):
      np.testing.assert_allclose([r[key] for r in got], [r[key] for r in want],
                                 rtol=1e-4, atol=1e-5)
  assert resumed["reward"] == pytest.approx(final["reward"], rel=1e-4) and len(got) == 1


def test_rows_relaid_in_graph_equal_the_reward_runs_own_encodings(sft_and_grpo):
  """A left-padded prompt (with the leading EOS data/prompts adds) and a response cut at
  its EOS become the rows a classifier (data/finetune.encode_sentence) and a reward model
  (data/preferences.encode_response) read for the text prompt + response."""
  from data import finetune
  from data import preferences
  from data import prompts as prompts_lib
  from data import tokenizers

  _, sft, _, _ = sft_and_grpo
  tok = tokenizers.load_tokenizer(f"{sft}/tokenizer")
  eos = tok.eos_id
  cases = [("the lazy", "dog jumps"), ("a", "stitch in time saves nine"), ("", "to")]
  specials = [tok.pad_id, tok.bos_id]  # sampled inside a response: its text has neither
  rows, pads, responses, masks, texts = [], [], [], [], []
  for prompt, response in cases:
    row, pad = prompts_lib.encode_prompt(tok, prompt, 10, add_eos=True)
    ids = (specials + tok.encode(response) + [eos] + [5] * 30)[:12]  # sampled on after EOS
    rows.append(row), pads.append(pad), responses.append(ids)
    texts.append(tok.decode(ids[:ids.index(eos)] if eos in ids else ids))
    masks.append(np.asarray(grpo.response_mask(jnp.asarray([ids]), eos))[0])
  tokens = {"bos": tok.bos_id, "eos": eos, "pad": tok.pad_id}
  ids, valid = grpo.text_tokens(jnp.asarray(rows), jnp.asarray(pads), jnp.asarray(responses),
                                jnp.asarray(masks), tokens)
  for seq_len in (6, 16, 40):  # cut and padded
    got_cls = grpo.classifier_rows(ids, valid, seq_len, tokens)
    got_rm = grpo.reward_model_rows(ids, valid, seq_len, tokens)
    for i, ((prompt, _), text_response) in enumerate(zip(cases, texts)):
      np.testing.assert_array_equal(
          got_cls[i], finetune.encode_sentence(tok, prompt + text_response, seq_len))
      np.testing.assert_array_equal(
          got_rm[i], preferences.encode_response(tok, prompt, text_response, seq_len)[0])


@pytest.fixture(scope="module")
def reward_model_run(sft_and_grpo, tmp_path_factory):
  """A reward model on the SFT run's backbone and tokenizer (2 steps: only its scores
  matter here, not their quality)."""
  _, sft, _, _ = sft_and_grpo
  root = tmp_path_factory.mktemp("rm")
  c = tiny.preference_config(root, "reward_model", steps=2, warmup_steps=1, eval_every=2,
                             checkpoint_every=2)
  c.init_from = sft
  loop.train_and_evaluate(c, str(root / "rm"))
  return str(root / "rm")


def test_a_reward_model_workdir_scores_rollouts_as_eval_rewards_does(
    sft_and_grpo, reward_model_run, tmp_path):
  """rl.reward=workdir: the in-graph reward of the loss's rollouts equals
  eval/rewards.from_workdir's text-level scores of the same rollouts (a char tokenizer:
  text and tokens map one to one)."""
  from eval import rewards
  from eval import sampling
  from train import init_from as init_from_lib
  from train import state as state_lib

  _, sft, _, _ = sft_and_grpo
  c = _grpo_config(tmp_path)
  c.init_from, c.rl.reward = sft, "workdir"
  c.rl.reward_workdir, c.rl.reward_spec = reward_model_run, "reward"
  workdir = str(tmp_path / "grpo_rm")
  c = init_from_lib.prepare_workdir(c, workdir)
  exp = experiment.build(c, workdir)
  state = state_lib.create_train_state(exp.model, exp.tx, c.data.seq_len, c.seed, exp.mesh,
                                       exp.shardings, exp.rules, exp.carry_fn, exp.frozen_fn)
  state = init_from_lib.load_into(exp, state)
  state = state_lib.refresh_frozen(state, exp.frozen_fn, exp.shardings)
  batch = next(iter(exp.task.make_dataset(c.data, exp.tokenizer, "validation", seed=0,
                                          train=False)))
  rng = jax.random.PRNGKey(3)
  # jitted as the train and eval steps run it (one compile, not an op-by-op forward)
  _, sums = jax.jit(exp.loss_fn, static_argnums=3)(
      state.params, dict(jax.tree.map(jnp.asarray, batch), frozen=state.frozen), rng, True)
  g, p, tok = c.rl.group_size, c.data.seq_len, exp.tokenizer
  prompt, pad = np.repeat(batch["prompt"], g, 0), np.repeat(batch["prompt_pad"][:, 0], g)
  new, _ = sampling.rollout_loop(exp.model, p, c.rl.max_new_tokens, 1.0)(
      state.params, prompt, pad, rng)
  new = np.asarray(new)
  responses = [tok.decode(list(r[:list(r).index(tok.eos_id)] if tok.eos_id in r else r))
               for r in new]
  texts = [tok.decode(list(row[k:])) for row, k in zip(prompt, pad)]
  want = rewards.from_workdir(reward_model_run, "reward")(texts, responses)
  assert float(sums["reward_sum"]) == pytest.approx(float(np.sum(want)), rel=1e-4, abs=1e-4)
  assert np.std(want) > 0  # the rollouts score differently: the test can tell them apart


def test_a_reward_run_with_another_tokenizer_is_refused(reward_model_run, tmp_path):
  c = _grpo_config(tmp_path)  # no init_from: a char tokenizer of the prompts' own text
  c.rl.reward, c.rl.reward_workdir, c.rl.reward_spec = "workdir", reward_model_run, "reward"
  with pytest.raises(ValueError, match="has another tokenizer than the policy .* train the "
                                       "reward run with init_from the policy's run"):
    experiment.build(c, str(tmp_path / "other"))
  c.rl.reward_spec = "prob:1"
  with pytest.raises(ValueError, match="reads a classifier, but the workdir trained "
                                       "objective='reward_model'"):
    experiment.build(c, str(tmp_path / "other"))


def test_reward_kl_is_zero_for_the_reference_and_positive_for_the_tuned_policy(
    sft_and_grpo, reward_model_run, tmp_path):
  """eval/policy_eval.py (eval.reward_kl): the reference scored against itself has a KL of exactly 0 (one
  forward for both); the GRPO policy, which learned to say 'e', has moved away (its own
  run measured 14 nats per response); each reward named gets its mean and error."""
  from eval import policy_eval

  _, sft, run, _ = sft_and_grpo
  prompts = tiny.PROMPTS[:4]
  kwargs = dict(samples=3, prompt_len=8, max_new_tokens=16, temperature=1.0, batch=5,
                seed=0)
  rewards = {"reward": (reward_model_run, "reward")}
  at_reference = policy_eval.evaluate(sft, sft, rewards, prompts, **kwargs)
  assert at_reference["kl"] == 0.0 and at_reference["kl_se"] == 0.0
  assert at_reference["prompts"] == 4 and at_reference["samples"] == 3
  assert np.isfinite(at_reference["reward"]) and at_reference["reward_se"] > 0
  assert 0 < at_reference["response_length"] <= 16
  tuned = policy_eval.evaluate(run, sft, rewards, prompts, **kwargs)
  assert tuned["kl"] > 1.0, tuned
  assert tuned["examples"][0].startswith(prompts[0])
  with pytest.raises(ValueError, match="more than the policy's max_len"):
    policy_eval.evaluate(run, sft, rewards, prompts, **{**kwargs, "max_new_tokens": 64})
