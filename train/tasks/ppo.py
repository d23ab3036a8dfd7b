"""ppo: Proximal Policy Optimization of a causal LM with a value head (Ziegler et al. 2019,
Ouyang et al. 2022), built from GRPO's pieces (train/tasks/grpo.py).

The model is the GPT under "backbone" plus a scalar value per token under "value_head"
(model/heads.PolicyWithValue: the logits are the GPT's own, so it samples and is evaluated
as the LM is); `init_from` fills the backbone from the supervised run and the value head
starts fresh. The frozen reference (Task.make_frozen, GRPO's) is the whole start tree;
only its log-probs are read. A rollout batch, all inside the jit step, from B prompts
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
     functions) at its last token. rl.kl_target > 0 makes the coefficient adaptive
     (Ziegler et al.'s controller, adapt_kl_coef): it starts at rl.kl_coef, lives in the
     state's carry and moves after each rollout batch towards that KL per response
     (logged as `kl_coef`; evaluation scores with rl.kl_coef).
  4. advantages and returns by GAE (`gae`: rl.gamma, rl.gae_lambda; V = 0 after the last
     token) on stop_gradient(V); advantages whitened over the batch's response tokens.
  5. loss = -(clipped_objective(logp, logp_old, A, rl.clip_eps)) + rl.vf_coef x
     clipped_value_loss(V, V_old, returns, rl.vf_clip), a mean over the batch's response
     tokens (as Ziegler et al.'s and TRL's: a token weighs the same in a short response
     as in a long one, unlike GRPO's mean over each response, then over responses); old:
     the policy that sampled (below).
Several updates per rollout batch (the published recipe; Ziegler et al.: 4 epochs): each
rollout batch is trained on for rl.ppo_epochs passes of rl.num_minibatches minibatch
updates, each update one train step (train.steps counts updates). The generic step has
no such loop, so the batch lives in the TrainState's carry (Task.make_carry, checkpointed:
a run resumes mid-batch exactly): the step whose carry `age` is 0 samples new rollouts
from its prompts (the prompts of the other steps are read and not used), scores them
with the current policy (logp_old, V_old: the policy that sampled) and the reference,
computes the GAE advantages and returns once, and keeps them; each step then trains on
the minibatch `age % num_minibatches` of a permutation per pass (keyed by the rollout
step's rng), and the carry's age advances modulo ppo_epochs x num_minibatches. From the
second update on, ratio != 1 and the clips bite (clip_fraction > 0). With one update per
rollout batch (ppo_epochs = num_minibatches = 1) the state carries nothing: logp_old and
V_old are stop_gradient of the one forward's own (ratio 1, clip_fraction 0; the policy
term is the policy gradient on the whitened advantages, the value term a regression to
the returns). The eval step always takes the one-update path on fresh rollouts. As in
GRPO, every forward runs without dropout and log-probs are at temperature 1.

Metrics (means over the step's sequences, its minibatch's): reward, kl (each response's
summed logp - ref), response_length, clip_fraction, policy_loss, value_loss, value (the
mean value prediction), loss; `tokens` counts rollouts. The eval step calls the same loss with rng
PRNGKey(0): validation prompts report reward and KL of fresh rollouts.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

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


def adapt_kl_coef(kl_coef: jax.Array, kl: jax.Array, target: float, batch: int,
                  horizon: float) -> jax.Array:
  """Ziegler et al. 2019's adaptive KL controller: the coefficient after a rollout batch
  of `batch` rollouts whose mean KL per response was `kl`: kl_coef x (1 + e batch /
  horizon), e = clip(kl / target - 1, -0.2, 0.2): it grows while the KL is above target
  and shrinks below it, by at most 20 % x batch / horizon a batch."""
  error = jnp.clip(kl / target - 1.0, -0.2, 0.2)
  return kl_coef * (1.0 + error * batch / horizon)


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
  check(rl.ppo_epochs >= 1, "rl.ppo_epochs", rl.ppo_epochs, "must be an integer >= 1",
        "it is the passes over each rollout batch (Ziegler et al.: 4)")
  check(rl.num_minibatches >= 1 and config.data.batch_size % rl.num_minibatches == 0,
        "rl.num_minibatches", rl.num_minibatches,
        f"must be an integer >= 1 that divides data.batch_size={config.data.batch_size}",
        "each pass splits the rollout batch into this many updates")
  check(rl.kl_target >= 0, "rl.kl_target", rl.kl_target, "must be >= 0",
        "0 keeps rl.kl_coef fixed; > 0 adapts it towards this KL per response")
  check(rl.kl_horizon > 0, "rl.kl_horizon", rl.kl_horizon, "must be > 0",
        "the rollouts over which the coefficient adapts (Ziegler et al.: 10000)")


def wrap(backbone, config):
  del config
  return heads.PolicyWithValue(backbone)


def make_loss_fn(config, model):
  check_ppo_config(config)
  rl, p = config.rl, config.data.seq_len
  rollout = sampling.rollout_loop(model, p, rl.max_new_tokens, rl.temperature)
  reward_fn = grpo.make_reward_fn(config)
  per_batch, m = rl.ppo_epochs * rl.num_minibatches, rl.num_minibatches
  adaptive = rl.kl_target > 0
  sg = jax.lax.stop_gradient

  def collect(params, batch, rng):
    """The rollout batch (no gradient): prompt + response rows, their masks, weights and
    sequence rewards."""
    frozen, prompt = batch["frozen"], batch["prompt"]
    pad_N = batch["prompt_pad"][:, 0].astype(jnp.int32)
    response, _ = rollout(sg(params), prompt, pad_N, rng)
    mask = grpo.response_mask(response, frozen["tokens"]["eos"])
    return {"seq": jnp.concatenate([prompt, response], axis=1).astype(jnp.int32),
            "pad": pad_N, "weight": batch["prompt_weight"][:, 0].astype(jnp.float32),
            "mask": mask, "score": sg(reward_fn(frozen, prompt, pad_N, response, mask))}

  def with_advantages(ro, logp_old, ref, values_old, kl_coef):
    """ro plus the old policy's log-probs and values, the reference's log-probs, and GAE's
    advantages (whitened over the batch's response tokens) and returns."""
    rewards = sequence_rewards(ro["score"], logp_old, ref, ro["mask"], kl_coef)
    adv, returns = gae(rewards, values_old, ro["mask"], rl.gamma, rl.gae_lambda)
    return {**ro, "logp_old": logp_old, "ref": ref, "values_old": values_old,
            "adv": whiten(adv, ro["mask"] * ro["weight"][:, None]), "returns": returns}

  def adapted(kl_coef, ro):
    """The coefficient after this rollout batch (adapt_kl_coef on its mean KL)."""
    kl_N = jnp.sum((ro["logp_old"] - ro["ref"]) * ro["mask"], axis=1)
    weight = jnp.maximum(jnp.sum(ro["weight"]), 1.0)
    return adapt_kl_coef(kl_coef, jnp.sum(kl_N * ro["weight"]) / weight, rl.kl_target,
                         ro["seq"].shape[0], rl.kl_horizon)

  def update_loss(ro, logp, values):
    mask, weight_N = ro["mask"], ro["weight"]
    length_N = jnp.sum(mask, axis=1)
    policy = -grpo.clipped_objective(logp, ro["logp_old"], ro["adv"], rl.clip_eps)
    value = clipped_value_loss(values, ro["values_old"], ro["returns"], rl.vf_clip)
    mean_of = lambda x: jnp.sum(x * mask, axis=1) / jnp.maximum(length_N, 1.0)
    ratio = jnp.exp(logp - ro["logp_old"])
    clipped = (jnp.abs(ratio - 1.0) > rl.clip_eps).astype(jnp.float32)
    total = lambda x_N: jnp.sum(x_N * weight_N)
    # the losses are means over the batch's response tokens (so a token weighs the same in
    # a short response as in a long one), reported as sums over sequences like the rest
    tokens = mask * weight_N[:, None]
    per_sequence = total(jnp.ones_like(weight_N)) / jnp.maximum(jnp.sum(tokens), 1.0)
    token_total = lambda x: jnp.sum(x * tokens) * per_sequence
    sums = {"loss_sum": token_total(policy + rl.vf_coef * value),
            "policy_loss_sum": token_total(policy),
            "value_loss_sum": token_total(value),
            "value_sum": total(mean_of(ro["values_old"])),
            "reward_sum": total(ro["score"]),
            "kl_sum": total(jnp.sum((ro["logp_old"] - ro["ref"]) * mask, axis=1)),
            "response_length_sum": total(length_N),
            "clip_fraction_sum": total(mean_of(clipped)),
            "weight": total(jnp.ones_like(weight_N))}
    return sums["loss_sum"] / jnp.maximum(sums["weight"], 1.0), sums

  def carry_kl_coef(sums, kl_coef, next_coef):
    """Adaptive KL: the next coefficient into the step's carry; the current one logged."""
    sums["carry"] = {**sums.get("carry", {}), "kl_coef": next_coef}
    sums["kl_coef_sum"] = kl_coef * sums["weight"]

  def loss_fn(params, batch, rng, deterministic: bool = False):
    del deterministic  # no dropout in any forward (module docstring)
    reference = batch["frozen"]["reference"]
    carry = batch.get("carry")
    kl_coef = carry["kl_coef"] if adaptive and carry is not None else rl.kl_coef
    if carry is None or per_batch == 1:  # one update per rollout batch; every evaluation
      ro = collect(params, batch, rng)
      logp, ref, values = grpo.policy_and_reference(model, params, reference, ro["seq"],
                                                    ro["pad"], p, with_values=True)
      ro = with_advantages(ro, sg(logp), ref, sg(values), kl_coef)
      loss, sums = update_loss(ro, logp, values)
      if carry is not None:  # adaptive: the coefficient moves after every batch
        carry_kl_coef(sums, kl_coef, adapted(kl_coef, ro))
      return loss, sums

    def refresh():  # a new rollout batch, scored by the policy that sampled it
      ro = collect(params, batch, rng)
      logp, ref, values = sg(grpo.policy_and_reference(model, params, reference, ro["seq"],
                                                       ro["pad"], p, with_values=True))
      return {**with_advantages(ro, logp, ref, values, kl_coef), "key": rng}

    age = carry["age"]
    buffer = jax.lax.cond(age == 0, refresh, lambda: carry["rollouts"])
    n = buffer["seq"].shape[0]
    order = jax.random.permutation(jax.random.fold_in(buffer["key"], age // m), n)
    rows = jax.lax.dynamic_slice_in_dim(order, (age % m) * (n // m), n // m)
    mb = {k: v[rows] for k, v in buffer.items() if k != "key"}
    logp, values = grpo.sequence_logprobs(model, params, mb["seq"], mb["pad"], p,
                                          with_values=True)
    loss, sums = update_loss(mb, logp, values)
    sums["carry"] = {"rollouts": buffer, "age": (age + 1) % per_batch}
    if adaptive:  # the coefficient moves once per rollout batch, when it is sampled
      carry_kl_coef(sums, kl_coef, jnp.where(age == 0, adapted(kl_coef, buffer), kl_coef))
    return loss, sums
  return loss_fn


def make_carry(config: Any) -> Optional[Callable[[], dict]]:
  """Task.make_carry: with rl.ppo_epochs x rl.num_minibatches > 1 updates per rollout
  batch, the rollout buffer (zeros: `age` 0 fills it at the next step); with an adaptive
  KL (rl.kl_target > 0), the coefficient (starting at rl.kl_coef); else None."""
  rl = config.rl
  if rl.ppo_epochs * rl.num_minibatches == 1 and rl.kl_target == 0:
    return None
  b, p, n = config.data.batch_size, config.data.seq_len, rl.max_new_tokens

  def carry():
    out = {}
    if rl.ppo_epochs * rl.num_minibatches > 1:
      f = lambda *shape: jnp.zeros(shape, jnp.float32)
      out["rollouts"] = {
          "seq": jnp.zeros((b, p + n), jnp.int32), "pad": jnp.zeros((b,), jnp.int32),
          "weight": f(b), "mask": f(b, n), "score": f(b),
          **{k: f(b, n) for k in ("logp_old", "ref", "values_old", "adv", "returns")},
          "key": jnp.zeros_like(jax.random.PRNGKey(0))}
      out["age"] = jnp.zeros((), jnp.int32)
    if rl.kl_target > 0:
      out["kl_coef"] = jnp.asarray(rl.kl_coef, jnp.float32)
    return out
  return carry


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
    make_carry=make_carry,
    lm_samples=True,  # the policy samples like any causal LM (its logits are the GPT's)
    train_flops=None,  # rollouts + update + reference: no MFU
)
