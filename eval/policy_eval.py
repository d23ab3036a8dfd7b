"""A policy's reward and KL to a reference on sampled responses: the library behind
eval/reward_kl.py (its module docstring describes the measurement)."""
from __future__ import annotations

import os
from typing import Any, Optional, Sequence


def reward_config(workdir: str, spec: str) -> Any:
  """The rl.* keys train/tasks/grpo.py reads to score rollouts with a trained run."""
  import ml_collections

  return ml_collections.ConfigDict(
      {"rl": {"reward": "workdir", "reward_workdir": workdir, "reward_spec": spec}})


def mean_and_se(values: Any) -> tuple[float, float]:
  """Mean of values (per prompt, per seed) and its standard error (0 for one value)."""
  import numpy as np

  x = np.asarray(values, np.float64)
  se = float(np.std(x, ddof=1) / np.sqrt(len(x))) if len(x) > 1 else 0.0
  return float(np.mean(x)), se


def evaluate(policy: str, reference: str, rewards: dict[str, tuple[str, str]],
             prompts: Sequence[str], *, samples: int, prompt_len: int, max_new_tokens: int,
             temperature: float, batch: int, seed: int, step: Optional[int] = None,
             num_examples: int = 3) -> dict:
  """The frontier point (module docstring). rewards: name -> (workdir, spec), e.g.
  {"reward": (gold, "prob:1")}; each name becomes a key of the result."""
  import jax
  import jax.numpy as jnp
  import numpy as np

  from data import prompts as prompts_lib
  from eval import restore
  from eval import sampling
  from train import partitioning
  from train.tasks import grpo

  if samples < 1 or batch < 1 or max_new_tokens < 1 or prompt_len < 1:
    raise ValueError("--samples, --batch, --max_new_tokens and --prompt_len must be >= 1")
  pol = restore.restore_params(policy, step)
  ref = restore.restore_params(reference)
  exp, tok = pol.exp, pol.exp.tokenizer
  if grpo.vocabulary(ref.exp.tokenizer) != grpo.vocabulary(tok):
    raise ValueError(f"--reference={reference} has another tokenizer than --policy={policy}; "
                     "the KL compares log-probs of the same token ids: give the run the "
                     "policy started from (its init_from)")
  if prompt_len + max_new_tokens > exp.model_config.max_len:
    raise ValueError(f"--prompt_len + --max_new_tokens = {prompt_len + max_new_tokens} is "
                     f"more than the policy's max_len {exp.model_config.max_len}; shorten them")
  tokens = {k: np.int32(getattr(tok, f"{k}_id")) for k in ("eos", "bos", "pad")}
  scorers = {}
  for name, (workdir, spec) in rewards.items():
    cfg = reward_config(workdir, spec)
    scorers[name] = (grpo.workdir_reward(cfg), grpo.load_reward_params(cfg, tok))

  rollout = sampling.rollout_loop(exp.model, prompt_len, max_new_tokens, temperature)

  @jax.jit
  def run(params, ref_params, reward_params, prompt, pad, rng):
    response, _ = rollout(params, prompt, pad, rng)
    mask = grpo.response_mask(response, tokens["eos"])
    seq = jnp.concatenate([prompt, response], axis=1)
    logp = grpo.sequence_logprobs(exp.model, params, seq, pad, prompt_len)
    logq = grpo.sequence_logprobs(ref.exp.model, ref_params, seq, pad, prompt_len)
    out = {"kl": jnp.sum((logp - logq) * mask, axis=1), "response_length": jnp.sum(mask, 1)}
    for name, (fn, _) in scorers.items():
      frozen = {"tokens": tokens, "reward": reward_params[name]}
      out[name] = fn(frozen, prompt, pad, response, mask)
    return out, response, mask

  rows = [prompts_lib.encode_prompt(tok, p, prompt_len, exp.config.data.add_eos)
          for p in prompts for _ in range(samples)]
  reward_params = {name: params for name, (_, params) in scorers.items()}
  sums: dict[str, list] = {}
  examples = []
  with partitioning.mesh_context(exp.mesh, exp.rules):
    for i, start in enumerate(range(0, len(rows), batch)):
      chunk = rows[start:start + batch]
      prompt = np.stack([r for r, _ in chunk] + [chunk[0][0]] * (batch - len(chunk)))
      pad = np.array([p for _, p in chunk] + [chunk[0][1]] * (batch - len(chunk)), np.int32)
      rng = jax.random.fold_in(jax.random.PRNGKey(seed), i)
      out, response, mask = jax.device_get(
          run(pol.params, ref.params, reward_params, prompt, pad, rng))
      for key, value in out.items():
        sums.setdefault(key, []).extend(np.asarray(value[:len(chunk)], np.float64))
      for r in range(min(len(chunk), num_examples - len(examples))):
        ids = response[r][(mask[r] > 0) & (response[r] != tokens["eos"])]
        examples.append(prompts[(start + r) // samples] + tok.decode(ids.tolist()))
  result = {"policy": os.path.abspath(policy), "step": pol.step,
            "reference": os.path.abspath(reference), "prompts": len(prompts),
            "samples": samples}
  for key, values in sums.items():
    per_prompt = np.asarray(values).reshape(len(prompts), samples).mean(axis=1)
    result[key], se = mean_and_se(per_prompt)
    if key != "response_length":
      result[f"{key}_se"] = se
  result["examples"] = examples
  return result
