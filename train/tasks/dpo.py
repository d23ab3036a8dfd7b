"""dpo: Direct Preference Optimization (Rafailov et al. 2023) of a causal LM policy.

The policy starts from `init_from` (the supervised model) and so does its frozen reference
(Task.make_frozen: a copy of the params made when the run starts, checkpointed with the state).
With d = [log pi(chosen) - log ref(chosen)] - [log pi(rejected) - log ref(rejected)], the
response tokens' log-probabilities summed (data/preferences.py masks):
  preference.loss=sigmoid: -(1 - eps) log sigmoid(beta d) - eps log sigmoid(-beta d)
    (eps = preference.label_smoothing: 0 is DPO, > 0 conservative DPO for noisy labels);
  preference.loss=ipo: (d - 1 / (2 beta))^2 (Azar et al. 2023).
Metrics: accuracy (d > 0: the implicit reward ranks the chosen response higher), margin
(beta d), chosen_reward and rejected_reward (beta x each log-ratio). The reference's
log-probabilities are computed in the same jit step, without gradient.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from data import preferences
from model.layers import check
from train import objectives
from train.tasks.base import Task

LOSSES = ("sigmoid", "ipo")


def preference_loss(d: jax.Array, kind: str, beta: float, label_smoothing: float) -> jax.Array:
  """The per-pair loss of a log-ratio difference d (module docstring)."""
  if kind == "ipo":
    return (d - 1.0 / (2.0 * beta)) ** 2
  return (-(1.0 - label_smoothing) * jax.nn.log_sigmoid(beta * d)
          - label_smoothing * jax.nn.log_sigmoid(-beta * d))


def check_preference_config(p) -> None:
  if p.loss not in LOSSES:
    raise ValueError(f"unknown preference.loss={p.loss!r}; choose one of {', '.join(LOSSES)}")
  check(p.beta > 0, "preference.beta", p.beta, "must be > 0",
        "it scales the log-ratios (DPO paper: 0.1 to 0.5)")
  check(0 <= p.label_smoothing < 0.5, "preference.label_smoothing", p.label_smoothing,
        "must be in [0, 0.5)", "0 is DPO; conservative DPO assumes this rate of flipped labels")
  if p.loss == "ipo" and p.label_smoothing:
    raise ValueError("preference.label_smoothing is for preference.loss=sigmoid (conservative "
                     "DPO); IPO has no label smoothing: set it to 0")


def make_loss_fn(config, model):
  p = config.preference
  check_preference_config(p)

  def logprobs(params, tokens_BxT, mask_BxT, rng, deterministic):
    logits = model.apply({"params": params}, tokens_BxT[:, :-1], deterministic=deterministic,
                         rngs={"dropout": rng})
    return objectives.response_logprob(logits, tokens_BxT[:, 1:], mask_BxT[:, 1:])

  def loss_fn(params, batch, rng, deterministic: bool = False):
    tokens = jnp.concatenate([batch["chosen"], batch["rejected"]], axis=0)
    mask = jnp.concatenate([batch["chosen_mask"], batch["rejected_mask"]], axis=0)
    policy_2B = logprobs(params, tokens, mask, rng, deterministic)
    reference_2B = jax.lax.stop_gradient(
        logprobs(batch["frozen"]["reference"], tokens, mask, rng, True))
    chosen_B, rejected_B = jnp.split(policy_2B - reference_2B, 2)
    d_B = chosen_B - rejected_B
    weight_B = batch["pair_weight"][:, 0]
    loss_B = preference_loss(d_B, p.loss, p.beta, p.label_smoothing)
    sums = {"loss_sum": jnp.sum(loss_B * weight_B),
            "correct_sum": jnp.sum((d_B > 0) * weight_B),
            "margin_sum": jnp.sum(p.beta * d_B * weight_B),
            "chosen_reward_sum": jnp.sum(p.beta * chosen_B * weight_B),
            "rejected_reward_sum": jnp.sum(p.beta * rejected_B * weight_B),
            "weight": jnp.sum(weight_B)}
    return sums["loss_sum"] / jnp.maximum(sums["weight"], 1.0), sums
  return loss_fn



def reference_of(params):
  return {"reference": params}


def make_frozen(config, tokenizer):
  """Task.make_frozen: the frozen reference is the params a run starts from."""
  del config, tokenizer
  return reference_of


TASK = Task(
    name="dpo",
    families=("gpt",),
    batch_keys=("chosen", "rejected", "chosen_mask", "rejected_mask", "pair_weight"),
    make_loss_fn=make_loss_fn,
    make_dataset=preferences.make_preference_dataset,
    summarize=objectives.pair_means,
    make_frozen=make_frozen,
    lm_samples=True,  # the tuned policy samples like any causal LM
    train_flops=None,  # policy and reference over two sequences a row: no MFU
)
