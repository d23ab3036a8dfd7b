"""grpo: Group Relative Policy Optimization (Shao et al. 2024, DeepSeekMath) of a causal LM.

The policy starts from `init_from` (the supervised model) and so does its frozen reference
(Task.make_frozen, as DPO's: checkpointed with the state). One train step, all inside the
jit step (train/step.py), on a batch of B prompts (data/prompts.py: left-padded `prompt`
[B, P = data.seq_len], `prompt_pad` [B, 1], `prompt_weight` [B, 1]):
  1. rollouts: each prompt repeated G = rl.group_size times; rl.max_new_tokens tokens
     sampled after each with the KV-cache decode loop (eval/sampling.rollout_loop) on
     stop_gradient(params) at rl.temperature, with a key split from the loss's rng
     (fold_in(state.rng, step): a resumed run draws the same rollouts). A response ends
     at its first EOS, which it INCLUDES (mask and length), so stopping is rewarded and
     learned like any other token; the tokens sampled after it are masked out.
  2. one forward of the policy over prompt + response (positions restart at each row's
     first real token, pad slots are segment 0: the row is scored as it was sampled) gives
     per-token log-probs logp; the reference's, ref, come from the same function, without
     gradient.
  3. rewards r [B*G] (rl.reward), in graph: `token:WORD`, the fraction of the response's
     tokens (EOS included) that are WORD's one token; or `workdir`: rl.reward_spec
     (eval/rewards.parse_spec) of the run in rl.reward_workdir, whose params are a frozen
     tree loaded when the run is built (so a resume reads them from the checkpoint), on
     prompt + response re-laid in graph into that run's rows (a classifier's [bos] ids
     [eos] pad, data/finetune.encode_sentence; a reward model's prompt + response ids
     right-padded with 0, data/preferences.encode_response). The text's tokens are the
     policy's as sampled, never re-tokenized: both runs must share one tokenizer (checked;
     exact for char and byte tokenizers, while a subword tokenizer may tokenize the joined
     text differently from what was sampled). Advantages A = (r - mean_group) /
     (std_group + 1e-4), the population std of each group of G (eq. 3, outcome supervision).
  4. per token: clipped_objective(logp, stop_gradient(logp), A, rl.clip_eps) - rl.kl_coef
     x k3, k3 = exp(ref - logp) - (ref - logp) - 1 (Schulman's unbiased, positive KL
     estimator); loss = -(mean over sequences of the mean over their response tokens).
GRPO as published does one policy update per exploration stage, so the old policy is the
current one (ratio 1, the gradient is the policy gradient; clip_fraction stays 0): the
clipped objective is kept as its own function for PPO's several epochs per rollout batch,
which this task does not do. Log-probs are the policy's at temperature 1: sampling at
rl.temperature != 1 makes the rollouts off-policy, uncorrected (keep 1 for the published
setting). Neither forward uses dropout (model.dropout is ignored, as TRL turns dropout off
for RL): the ratio and the KL must compare the function that sampled.

Metrics (means over sequences): reward, kl (each response's summed logp - ref: the sampled
estimate of KL(policy || reference)), response_length (tokens, EOS included),
clip_fraction (tokens with |ratio - 1| > eps), reward_std (within groups), loss;
`tokens` counts rollouts. The eval step calls the same loss deterministically with
rng PRNGKey(0): validation prompts report the reward and KL of fresh rollouts of the
current policy (the same keys at every evaluation, so evaluations compare policies).

The frozen trees (batch["frozen"]): "reference" (the params a run starts from), "tokens":
the tokenizer's EOS, BOS and pad ids and the reward token's id (token:WORD), read from the
tokenizer when the run is built, so the loss (made from the config alone) needs no
tokenizer, and "reward" (rl.reward=workdir): the reward run's params. Rollouts do not stop
early at EOS (the decode loop runs all rl.max_new_tokens steps, the EOS id being a traced
value here); the mask cuts each response at its first EOS.
"""
from __future__ import annotations

import os
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np

from data import prompts
from eval import rewards
from eval import sampling
from model.layers import check
from train import objectives
from train.tasks.base import Task

ADVANTAGE_EPS = 1e-4  # Shao et al.: (r - mean) / std; the epsilon keeps equal groups at 0
TOKEN_PREFIX = "token:"
# (frozen trees, prompt_NxP, prompt_pad_N, response_NxM, response mask_NxM) -> rewards [N]
RewardFn = Callable[[dict, jax.Array, jax.Array, jax.Array, jax.Array], jax.Array]


def clipped_objective(logp: jax.Array, logp_old: jax.Array, adv: jax.Array,
                      eps: float) -> jax.Array:
  """PPO's per-token surrogate min(ratio A, clip(ratio, 1 - eps, 1 + eps) A), ratio =
  exp(logp - logp_old): its gradient in logp is 0 where the clip holds the ratio (ratio
  > 1 + eps with A > 0, ratio < 1 - eps with A < 0) and ratio A elsewhere."""
  ratio = jnp.exp(logp - logp_old)
  return jnp.minimum(ratio * adv, jnp.clip(ratio, 1.0 - eps, 1.0 + eps) * adv)


def group_advantages(rewards_N: jax.Array, group_size: int) -> tuple[jax.Array, jax.Array]:
  """(advantages [N], each row's group std [N]) of rewards in consecutive groups of
  group_size: (r - group mean) / (group std + ADVANTAGE_EPS); an equal group gets 0."""
  r = rewards_N.reshape(-1, group_size)
  std = jnp.std(r, axis=1, keepdims=True)
  adv = (r - jnp.mean(r, axis=1, keepdims=True)) / (std + ADVANTAGE_EPS)
  return adv.reshape(-1), jnp.broadcast_to(std, r.shape).reshape(-1)


def k3(logp: jax.Array, ref: jax.Array) -> jax.Array:
  """Schulman's KL(policy || reference) estimator per sampled token: exp(ref - logp) -
  (ref - logp) - 1 (>= 0, unbiased, 0 where the two agree)."""
  d = ref - logp
  return jnp.exp(d) - d - 1.0


def response_mask(tokens_NxM: jax.Array, eos_id: jax.Array) -> jax.Array:
  """1.0 on each response's tokens up to and including its first EOS (all if none)."""
  is_eos = (tokens_NxM == eos_id).astype(jnp.int32)
  return (jnp.cumsum(is_eos, axis=1) - is_eos == 0).astype(jnp.float32)


def token_reward(tokens_NxM: jax.Array, mask_NxM: jax.Array, token_id: jax.Array) -> jax.Array:
  """The fraction of each response's tokens (mask) that are token_id."""
  hits = jnp.sum((tokens_NxM == token_id) * mask_NxM, axis=1)
  return hits / jnp.maximum(jnp.sum(mask_NxM, axis=1), 1.0)


def reward_word(spec: str) -> str | None:
  """WORD of a `token:WORD` reward, else None."""
  return spec[len(TOKEN_PREFIX):] if spec.startswith(TOKEN_PREFIX) else None


def check_rl_config(config: Any) -> None:
  """rl.* and the lengths they need; ValueError naming the key and the fix."""
  rl = config.rl
  check(rl.group_size >= 2, "rl.group_size", rl.group_size, "must be an integer >= 2",
        "advantages compare the continuations of one prompt (DeepSeekMath: 64)")
  check(rl.max_new_tokens >= 1, "rl.max_new_tokens", rl.max_new_tokens,
        "must be an integer >= 1", "it is the tokens sampled per continuation")
  check(rl.temperature > 0, "rl.temperature", rl.temperature, "must be > 0",
        "1 samples from the policy itself")
  check(rl.kl_coef >= 0, "rl.kl_coef", rl.kl_coef, "must be >= 0",
        "it weighs the KL to the reference (DeepSeekMath: 0.04)")
  check(0 < rl.clip_eps < 1, "rl.clip_eps", rl.clip_eps, "must be in (0, 1)",
        "the ratio is clipped to 1 +- eps (PPO: 0.2)")
  word = reward_word(rl.reward)
  check(word is None or word != "", "rl.reward", rl.reward, "names no token",
        "give token:WORD with WORD one token of the tokenizer")
  check(word is not None or rl.reward == "workdir", "rl.reward", rl.reward,
        "is not a known reward", "use token:WORD or workdir (with rl.reward_workdir)")
  check(rl.reward != "workdir" or rl.reward_workdir != "", "rl.reward_workdir",
        rl.reward_workdir, "is not set, but rl.reward='workdir' reads a trained run",
        "name a classification or reward_model workdir (or use rl.reward='token:WORD')")
  longest = config.data.seq_len + rl.max_new_tokens
  check(longest <= config.model.max_len, "rl.max_new_tokens", rl.max_new_tokens,
        f"plus data.seq_len={config.data.seq_len} (the prompt) is {longest}, more than "
        f"model.max_len={config.model.max_len}", "shorten the prompt or the continuations")


def reads_prompt_lines(name: str) -> Callable[[Any], None]:
  """Task.check_data_config of an RL objective `name`: prompts from prompt_lines."""
  def check_data_config(cfg: Any) -> None:
    if cfg.dataset != "prompt_lines":
      raise ValueError(f"objective={name!r} reads prompts, one per line, from "
                       f"data.dataset='prompt_lines' (data.train_files, "
                       f"data.validation_files); got data.dataset={cfg.dataset!r}")
  return check_data_config


def text_tokens(prompt_NxP: jax.Array, pad_N: jax.Array, response_NxM: jax.Array,
                mask_NxM: jax.Array, tokens: dict) -> tuple[jax.Array, jax.Array]:
  """(ids [N, P + M], valid [N, P + M]): prompt then response, valid on the tokens of
  their texts: the prompt's real slots but a leading EOS (data/prompts.prompt_tokens adds
  it), the response up to but not including its EOS, without the pad or BOS ids it may
  have sampled (its decoded text has none: they decode to nothing)."""
  p, eos_id = prompt_NxP.shape[1], tokens["eos"]
  slots = jnp.arange(p)[None]
  prompt_valid = (slots >= pad_N[:, None]) & ~((slots == pad_N[:, None]) &
                                                (prompt_NxP == eos_id))
  response_valid = ((mask_NxM > 0) & (response_NxM != eos_id)
                    & (response_NxM != tokens["pad"]) & (response_NxM != tokens["bos"]))
  return (jnp.concatenate([prompt_NxP, response_NxM], axis=1),
          jnp.concatenate([prompt_valid, response_valid], axis=1))


def relay(ids_NxT: jax.Array, valid_NxT: jax.Array, length: int, offset: int,
          fill: int | jax.Array) -> jax.Array:
  """The valid ids packed left into rows of `length`, starting at column `offset`, cut at
  the row's end; other slots `fill`."""
  n = ids_NxT.shape[0]
  column = jnp.cumsum(valid_NxT, axis=1) - 1 + offset
  keep = valid_NxT & (column < length)
  out = jnp.full((n, length + 1), fill, ids_NxT.dtype)
  rows = jnp.arange(n)[:, None]
  return out.at[rows, jnp.where(keep, column, length)].set(ids_NxT)[:, :length]


def classifier_rows(ids_NxT: jax.Array, valid_NxT: jax.Array, seq_len: int,
                    tokens: dict) -> jax.Array:
  """data/finetune.encode_sentence's layout in graph: [bos] ids[:seq_len - 2] [eos] pad."""
  rows = relay(ids_NxT, valid_NxT, seq_len - 1, 1, tokens["pad"])
  rows = rows.at[:, 0].set(tokens["bos"])
  ends = 1 + jnp.minimum(jnp.sum(valid_NxT, axis=1), seq_len - 2)
  rows = jnp.concatenate([rows, jnp.full((rows.shape[0], 1), tokens["pad"], rows.dtype)], 1)
  return rows.at[jnp.arange(rows.shape[0]), ends].set(tokens["eos"])


def reward_model_rows(ids_NxT: jax.Array, valid_NxT: jax.Array, seq_len: int,
                      tokens: dict) -> jax.Array:
  """data/preferences.encode_response's layout in graph: prompt + response ids, cut to
  seq_len, right-padded with 0."""
  del tokens
  return relay(ids_NxT, valid_NxT, seq_len, 0, 0)


def reward_run(workdir: str, spec: str) -> tuple[Any, Any, tuple[str, int]]:
  """(the run's resolved config, its Task, eval/rewards.parse_spec of spec)."""
  from train import experiment  # not at the top: train.experiment imports the registry
  from train import tasks as tasks_lib

  cfg = experiment.load_config(workdir)
  task = tasks_lib.get(cfg.objective)
  return cfg, task, rewards.parse_spec(spec, task, cfg.task.num_classes)


def workdir_reward(config: Any) -> RewardFn:
  """rl.reward_spec of the run in rl.reward_workdir, scored on prompt + response re-laid
  in the rows that run trained on; its params are the frozen tree "reward"."""
  import model as model_lib

  cfg, task, (kind, k) = reward_run(config.rl.reward_workdir, config.rl.reward_spec)
  module = task.wrap(model_lib.build(cfg.model), cfg)
  layout = reward_model_rows if kind == "reward" else classifier_rows
  seq_len = cfg.data.seq_len

  def reward(frozen, prompt_NxP, pad_N, response_NxM, mask_NxM):
    tokens = frozen["tokens"]
    ids, valid = text_tokens(prompt_NxP, pad_N, response_NxM, mask_NxM, tokens)
    out = module.apply({"params": frozen["reward"]}, layout(ids, valid, seq_len, tokens),
                       deterministic=True).astype(jnp.float32)
    return (jax.nn.softmax(out, axis=-1) if kind == "prob" else out)[:, k]
  return reward


def make_reward_fn(config: Any) -> RewardFn:
  """rl.reward as a function of the rollouts (RewardFn), computed in graph."""
  if config.rl.reward == "workdir":
    return workdir_reward(config)

  def reward(frozen, prompt_NxP, pad_N, response_NxM, mask_NxM):
    del prompt_NxP, pad_N  # token:WORD: the token's id is a frozen tree (make_frozen)
    return token_reward(response_NxM, mask_NxM, frozen["tokens"]["reward"])
  return reward


def sequence_logprobs(model, params, seq_NxT: jax.Array, pad_N: jax.Array,
                      prompt_len: int, with_values: bool = False) -> Any:
  """Per-token log-probs [N, T - prompt_len] of the tokens after the left-padded prompt,
  from one forward over the row (positions from its first real token, pads segment 0; no
  dropout). with_values (a model with a value head, model/heads.PolicyWithValue): also
  each of those tokens' value [N, T - prompt_len], read at the position that predicts it
  (the state before the token), as (logp, values)."""
  slots = jnp.arange(seq_NxT.shape[1])[None]
  positions = jnp.maximum(slots - pad_N[:, None], 0)
  segments = (slots >= pad_N[:, None]).astype(jnp.int32)
  out = model.apply({"params": params}, seq_NxT[:, :-1], positions=positions[:, :-1],
                    segment_ids=segments[:, :-1], deterministic=True,
                    **({"with_values": True} if with_values else {}))
  logits, values = out if with_values else (out, None)
  logp = objectives.token_logprob(logits[:, prompt_len - 1:], seq_NxT[:, prompt_len:])
  return (logp, values[:, prompt_len - 1:]) if with_values else logp


def policy_and_reference(model, params, reference, seq_NxT: jax.Array, pad_N: jax.Array,
                         prompt_len: int, with_values: bool = False) -> tuple:
  """(logp, ref): the policy's per-token log-probs (with gradient) and the reference's
  (without), from ONE vmapped forward over both param trees: the same computation for
  both, so equal params give bitwise equal log-probs (a KL of exactly 0 at the start,
  where two separately compiled forwards differ by float noise). with_values: (logp, ref,
  the policy's values) (sequence_logprobs)."""
  both = jax.tree.map(lambda a, b: jnp.stack([a, jax.lax.stop_gradient(b)]), params,
                      reference)
  out = jax.vmap(lambda q: sequence_logprobs(model, q, seq_NxT, pad_N, prompt_len,
                                             with_values))(both)
  logp_2xNxM = out[0] if with_values else out
  ref = jax.lax.stop_gradient(logp_2xNxM[1])
  return (logp_2xNxM[0], ref, out[1][0]) if with_values else (logp_2xNxM[0], ref)


def make_loss_fn(config, model):
  check_rl_config(config)
  rl, p = config.rl, config.data.seq_len
  g, kl_coef, eps = rl.group_size, rl.kl_coef, rl.clip_eps
  rollout = sampling.rollout_loop(model, p, rl.max_new_tokens, rl.temperature)
  reward_fn = make_reward_fn(config)

  def loss_fn(params, batch, rng, deterministic: bool = False):
    frozen = batch["frozen"]
    prompt = jnp.repeat(batch["prompt"], g, axis=0)
    pad_N = jnp.repeat(batch["prompt_pad"][:, 0], g)
    weight_N = jnp.repeat(batch["prompt_weight"][:, 0], g)
    del deterministic  # no dropout in either forward (module docstring)
    response, _ = rollout(jax.lax.stop_gradient(params), prompt, pad_N, rng)
    mask = response_mask(response, frozen["tokens"]["eos"])
    length_N = jnp.sum(mask, axis=1)
    seq = jnp.concatenate([prompt, response], axis=1)
    logp, ref = policy_and_reference(model, params, frozen["reference"], seq, pad_N, p)
    rewards_N = jax.lax.stop_gradient(reward_fn(frozen, prompt, pad_N, response, mask))
    adv_N, std_N = group_advantages(rewards_N, g)
    logp_old = jax.lax.stop_gradient(logp)  # one update per rollout batch (module doc)
    per_token = clipped_objective(logp, logp_old, adv_N[:, None], eps) - kl_coef * k3(logp, ref)
    mean_of = lambda x: jnp.sum(x * mask, axis=1) / jnp.maximum(length_N, 1.0)
    clipped = (jnp.abs(jnp.exp(logp - logp_old) - 1.0) > eps).astype(jnp.float32)
    total = lambda x_N: jnp.sum(x_N * weight_N)
    sums = {"loss_sum": total(-mean_of(per_token)),
            "reward_sum": total(rewards_N),
            "kl_sum": total(jax.lax.stop_gradient(jnp.sum((logp - ref) * mask, axis=1))),
            "response_length_sum": total(length_N),
            "clip_fraction_sum": total(mean_of(clipped)),
            "reward_std_sum": total(std_N),
            "weight": total(jnp.ones_like(weight_N))}
    return sums["loss_sum"] / jnp.maximum(sums["weight"], 1.0), sums
  return loss_fn


def summarize(sums: dict) -> dict:
  """The means (module docstring); `tokens` (every task's count key) counts the rollouts
  they average over, as pair_means counts pairs."""
  return {**objectives.mean_metrics(sums), "tokens": float(sums["weight"])}


def reward_token(tokenizer: Any, spec: str) -> int:
  """The one token id of `token:WORD`'s WORD; ValueError when WORD is not one token."""
  word = reward_word(spec)
  ids = tokenizer.encode(word)
  if len(ids) != 1:
    raise ValueError(f"rl.reward={spec!r}: {word!r} encodes to {len(ids)} tokens {ids}, "
                     "but the toy reward counts one token; pick a WORD the tokenizer keeps "
                     "whole (a char tokenizer: one character)")
  return ids[0]


def vocabulary(tokenizer: Any) -> list[str]:
  """Every id's text: two tokenizers with equal lists encode text alike."""
  return [tokenizer.decode([i]) for i in range(tokenizer.vocab_size)]


def load_reward_params(config: Any, tokenizer: Any) -> Any:
  """The rl.reward_workdir run's params (host arrays), after checking it reads this run's
  token ids (the loss hands it the policy's tokens as they are)."""
  from data import tokenizers
  from eval import restore

  workdir = config.rl.reward_workdir
  reward_run(workdir, config.rl.reward_spec)  # the spec fits the run, before any restore
  theirs = tokenizers.load_tokenizer(os.path.join(workdir, "tokenizer"))
  if (theirs.vocab_size != tokenizer.vocab_size
      or vocabulary(theirs) != vocabulary(tokenizer)):
    raise ValueError(f"rl.reward_workdir={workdir!r} has another tokenizer than the policy "
                     f"({theirs.vocab_size} vs {tokenizer.vocab_size} ids, or other texts); "
                     "the reward reads the policy's token ids as they are: train the reward "
                     "run with init_from the policy's run (or the same tokenizer)")
  return jax.device_get(restore.restore_params(workdir).params)


def make_frozen(config: Any, tokenizer: Any) -> Callable[[Any], dict]:
  """Task.make_frozen: the reference policy, the token ids the loss reads and (reward
  workdir) the reward run's params, loaded here, once, and checkpointed with the state."""
  tokens = {k: np.int32(getattr(tokenizer, f"{k}_id")) for k in ("eos", "bos", "pad")}
  extra = {}
  if config.rl.reward == "workdir":
    extra["reward"] = load_reward_params(config, tokenizer)
  else:
    tokens["reward"] = np.int32(reward_token(tokenizer, config.rl.reward))

  def frozen(params):
    return {"reference": params, "tokens": dict(tokens), **extra}
  return frozen


TASK = Task(
    name="grpo",
    families=("gpt",),
    batch_keys=("prompt", "prompt_pad", "prompt_weight"),
    make_loss_fn=make_loss_fn,
    make_dataset=prompts.make_prompt_dataset,
    check_data_config=reads_prompt_lines("grpo"),
    summarize=summarize,
    make_frozen=make_frozen,
    lm_samples=True,  # the tuned policy samples like any causal LM
    train_flops=None,  # rollouts + update + reference: no MFU
)
