"""ppo: Proximal Policy Optimization of a causal LM with a value head (Ziegler et al. 2019,
Ouyang et al. 2022), built from GRPO's pieces (train/tasks/grpo.py).

The model is the GPT under "backbone" plus a scalar value per token under "value_head"
(model/heads.PolicyWithValue: the logits are the GPT's own, so it samples and is evaluated
as the LM is); `init_from` fills the backbone from the supervised run and the value head
starts fresh. The frozen reference (Task.make_frozen, GRPO's) is the whole start tree;
only its log-probs are read. One train step, all inside the jit step, on B prompts
(data/prompts.py; B rollouts, one per prompt):
  1. rollouts: rl.max_new_tokens tokens sampled after each prompt with the KV-cache decode
     loop (eval/sampling.rollout_loop) on stop_gradient(params) at rl.temperature, keyed
     by the loss's rng (fold_in(state.rng, step): a resumed run draws the same rollouts);
     a response ends at its first EOS, included (grpo.response_mask).
  2. one vmapped forward of policy and reference over prompt + response
     (grpo.policy_and_reference) gives per-token logp, ref and the policy's values V (the
     value of the state before each response token).
  3. per-token rewards (Ziegler et al. eq. 2): r_t = -rl.kl_coef (logp_t - ref_t) at
     every response token, plus the sequence's reward (rl.reward, GRPO's reward
     functions) at its last token.
  4. advantages and returns by GAE (`gae`: rl.gamma, rl.gae_lambda; V = 0 after the last
     token) on stop_gradient(V); advantages whitened over the batch's response tokens.
  5. loss = -(clipped_objective(logp, logp_old, A, rl.clip_eps)) + rl.vf_coef x
     clipped_value_loss(V, V_old, returns, rl.vf_clip), each a mean over a response's
     tokens, then over sequences.
One update per rollout batch: the published recipe runs several epochs of minibatch
updates on each rollout batch (the old policy and old values then lag the current ones,
and the clips bite); attnlab's train step is one generic `loss_fn(params, batch, rng)`
with no buffer of past rollouts, so here logp_old and V_old are stop_gradient of the
current ones: ratio 1 (clip_fraction 0), the policy term is the policy gradient on
whitened GAE advantages, the value term is plain regression to the returns. Several
epochs would keep the rollout batch (tokens, logp_old, V_old, advantages, returns) in
the TrainState and refresh it every K steps, each step a minibatch of it; the state's
carry is today the LSTM's (rnn.zero_carry, data.contiguous), so this needs a Task hook
that makes and shards a task's own carry. As in GRPO, both forwards run without dropout
and log-probs are at temperature 1.

Metrics (means over sequences): reward, kl (each response's summed logp - ref),
response_length, clip_fraction, policy_loss, value_loss, value (the mean value
prediction), loss; `tokens` counts rollouts. The eval step calls the same loss with rng
PRNGKey(0): validation prompts report reward and KL of fresh rollouts.
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from data import prompts
from eval import sampling
from model import heads
from model.layers import check
from train.tasks import grpo
from train.tasks.base import Task

WHITEN_EPS = 1e-8  # (A - mean) / sqrt(var + eps), as Ziegler et al.'s lm-human-preferences


def gae(rewards_NxM: jax.Array, values_NxM: jax.Array, mask_NxM: jax.Array, gamma: float,
        lam: float) -> tuple[jax.Array, jax.Array]:
  """(advantages, returns) [N, M] by generalised advantage estimation (Schulman et al.
  2016): delta_t = r_t + gamma V_{t+1} - V_t, A_t = delta_t + gamma lam A_{t+1}, with
  V_{t+1} = A_{t+1} = 0 after a response's last token (mask: ones, then zeros); returns =
  A + V. Both are 0 beyond the response. A reverse lax.scan over the M tokens."""
  next_mask = jnp.concatenate([mask_NxM[:, 1:], jnp.zeros_like(mask_NxM[:, :1])], axis=1)

  def back(adv_next_N, xs):
    r_N, v_N, v_next_N, m_next_N = xs
    adv_N = r_N + gamma * v_next_N * m_next_N - v_N + gamma * lam * m_next_N * adv_next_N
    return adv_N, adv_N

  v_next = jnp.concatenate([values_NxM[:, 1:], jnp.zeros_like(values_NxM[:, :1])], axis=1)
  _, adv_MxN = jax.lax.scan(back, jnp.zeros_like(rewards_NxM[:, 0]),
                            (rewards_NxM.T, values_NxM.T, v_next.T, next_mask.T),
                            reverse=True)
  adv = adv_MxN.T * mask_NxM
  return adv, (adv + values_NxM) * mask_NxM


def clipped_value_loss(values: jax.Array, values_old: jax.Array, returns: jax.Array,
                       clip: float) -> jax.Array:
  """Per-token 0.5 max((V - R)^2, (V_old + clip(V - V_old, -clip, clip) - R)^2): the
  value moves at most `clip` from V_old before its loss stops rewarding the move."""
  clipped = values_old + jnp.clip(values - values_old, -clip, clip)
  return 0.5 * jnp.maximum(jnp.square(values - returns), jnp.square(clipped - returns))


def whiten(x: jax.Array, weight: jax.Array) -> jax.Array:
  """(x - mean) / sqrt(var + WHITEN_EPS) over the entries where weight > 0 (weighted)."""
  total = jnp.maximum(jnp.sum(weight), 1.0)
  mean = jnp.sum(x * weight) / total
  var = jnp.sum(jnp.square(x - mean) * weight) / total
  return (x - mean) * jax.lax.rsqrt(var + WHITEN_EPS)


def sequence_rewards(score_N: jax.Array, logp: jax.Array, ref: jax.Array, mask: jax.Array,
                     kl_coef: float) -> jax.Array:
  """Per-token rewards [N, M]: -kl_coef (logp - ref) on each response token, plus the
  sequence's score at its last token (Ziegler et al. eq. 2); 0 beyond the response."""
  last = jnp.sum(mask, axis=1).astype(jnp.int32) - 1
  at_end = jax.nn.one_hot(last, mask.shape[1], dtype=mask.dtype)
  return (-kl_coef * (logp - ref) + score_N[:, None] * at_end) * mask


def check_ppo_config(config: Any) -> None:
  """rl.* as grpo.check_rl_config, and PPO's own keys."""
  grpo.check_rl_config(config)
  rl = config.rl
  check(0 <= rl.gamma <= 1, "rl.gamma", rl.gamma, "must be in [0, 1]",
        "1 (the default) does not discount within a response")
  check(0 <= rl.gae_lambda <= 1, "rl.gae_lambda", rl.gae_lambda, "must be in [0, 1]",
        "GAE's bias-variance trade-off (Ziegler et al.: 0.95)")
  check(rl.vf_coef >= 0, "rl.vf_coef", rl.vf_coef, "must be >= 0",
        "it weighs the value loss against the policy's (Ziegler et al.: 0.1)")
  check(rl.vf_clip > 0, "rl.vf_clip", rl.vf_clip, "must be > 0",
        "values move at most this far from the rollout's before the loss clips them")


def wrap(backbone, config):
  del config
  return heads.PolicyWithValue(backbone)


def make_loss_fn(config, model):
  check_ppo_config(config)
  rl, p = config.rl, config.data.seq_len
  rollout = sampling.rollout_loop(model, p, rl.max_new_tokens, rl.temperature)
  reward_fn = grpo.make_reward_fn(config)

  def loss_fn(params, batch, rng, deterministic: bool = False):
    del deterministic  # no dropout in either forward (module docstring)
    frozen, prompt = batch["frozen"], batch["prompt"]
    pad_N, weight_N = batch["prompt_pad"][:, 0], batch["prompt_weight"][:, 0]
    response, _ = rollout(jax.lax.stop_gradient(params), prompt, pad_N, rng)
    mask = grpo.response_mask(response, frozen["tokens"]["eos"])
    length_N = jnp.sum(mask, axis=1)
    seq = jnp.concatenate([prompt, response], axis=1)
    logp, ref, values = grpo.policy_and_reference(model, params, frozen["reference"], seq,
                                                  pad_N, p, with_values=True)
    score_N = jax.lax.stop_gradient(reward_fn(frozen, prompt, pad_N, response, mask))
    # one update per rollout batch (module docstring): the old policy and values are these
    logp_old, values_old = jax.lax.stop_gradient(logp), jax.lax.stop_gradient(values)
    rewards = sequence_rewards(score_N, logp_old, ref, mask, rl.kl_coef)
    adv, returns = gae(rewards, values_old, mask, rl.gamma, rl.gae_lambda)
    adv = whiten(adv, mask * weight_N[:, None])
    policy = -grpo.clipped_objective(logp, logp_old, adv, rl.clip_eps)
    value = clipped_value_loss(values, values_old, returns, rl.vf_clip)
    mean_of = lambda x: jnp.sum(x * mask, axis=1) / jnp.maximum(length_N, 1.0)
    clipped = (jnp.abs(jnp.exp(logp - logp_old) - 1.0) > rl.clip_eps).astype(jnp.float32)
    total = lambda x_N: jnp.sum(x_N * weight_N)
    sums = {"loss_sum": total(mean_of(policy + rl.vf_coef * value)),
            "policy_loss_sum": total(mean_of(policy)),
            "value_loss_sum": total(mean_of(value)),
            "value_sum": total(mean_of(values_old)),
            "reward_sum": total(score_N),
            "kl_sum": total(jnp.sum((logp_old - ref) * mask, axis=1)),
            "response_length_sum": total(length_N),
            "clip_fraction_sum": total(mean_of(clipped)),
            "weight": total(jnp.ones_like(weight_N))}
    return sums["loss_sum"] / jnp.maximum(sums["weight"], 1.0), sums
  return loss_fn


TASK = Task(
    name="ppo",
    families=("gpt",),
    batch_keys=("prompt", "prompt_pad", "prompt_weight"),
    make_loss_fn=make_loss_fn,
    make_dataset=prompts.make_prompt_dataset,
    check_data_config=grpo.reads_prompt_lines("ppo"),
    wrap=wrap,
    summarize=grpo.summarize,
    param_layout=((heads.BACKBONE,), (heads.VALUE_HEAD,)),
    make_frozen=grpo.make_frozen,
    lm_samples=True,  # the policy samples like any causal LM (its logits are the GPT's)
)
