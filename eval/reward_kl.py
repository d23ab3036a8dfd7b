"""A policy's point on the reward-vs-KL frontier: the mean reward of its samples and their
KL from a reference policy (Rafailov et al. 2023, section 6.1; Gao et al. 2022).

  python -m eval.reward_kl --policy=runs/dpo --reference=runs/sft --reward=runs/gold \
      --reward_spec=prob:1 --prompts=prompts_eval.txt --samples=4 [--proxy=runs/rm] \
      [--step=100] [--out=point.json]

Every prompt (one per line) is continued --samples times by the policy's KV-cache sampler
(the RL tasks' rollout loop: the prompt's last --prompt_len tokens, left-padded;
--max_new_tokens tokens at --temperature, cut after the first EOS). Each response is
scored in graph on the policy's token ids, as the RL tasks score rollouts
(train/tasks/grpo.py), by the reward run (and the --proxy run, e.g. a reward model, for
over-optimisation curves), and its KL is the summed log-ratio log pi(y|x) - log ref(y|x)
over its tokens: an unbiased estimate of KL(pi || ref) per response, 0 for the reference
itself. Prints one JSON line: the means and their standard errors over prompts, the mean
response length and a few example texts. Any causal LM run works as the policy
(causal_lm, dpo, grpo, ppo); all runs must share the policy's tokenizer.
"""
from __future__ import annotations

import json
import os
from typing import Any, Optional, Sequence

from absl import app
from absl import flags

from train import cli

_POLICY = flags.DEFINE_string("policy", None, "Workdir of the policy that samples.")
_STEP = flags.DEFINE_integer("step", None, "The policy's checkpoint step (default: latest).")
_REFERENCE = flags.DEFINE_string("reference", None, "Workdir of the reference policy.")
_REWARD = flags.DEFINE_string("reward", None, "Workdir of the (gold) reward run.")
_REWARD_SPEC = flags.DEFINE_string("reward_spec", "prob:1", "See eval/rewards.py.")
_PROXY = flags.DEFINE_string("proxy", None, "Workdir of a second reward, e.g. a reward model.")
_PROXY_SPEC = flags.DEFINE_string("proxy_spec", "reward", "See eval/rewards.py.")
_PROMPTS = flags.DEFINE_string("prompts", None, "Text file, one prompt per line.")
_SAMPLES = flags.DEFINE_integer("samples", 4, "Continuations per prompt.")
_PROMPT_LEN = flags.DEFINE_integer("prompt_len", 16, "Prompt tokens kept (the last ones).")
_MAX_NEW_TOKENS = flags.DEFINE_integer("max_new_tokens", 32, "Tokens per continuation.")
_TEMPERATURE = flags.DEFINE_float("temperature", 1.0, "Sampling temperature.")
_BATCH = flags.DEFINE_integer("batch", 64, "Rows sampled and scored at once.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
_OUT = flags.DEFINE_string("out", None, "Also write the JSON object to this file.")
flags.mark_flags_as_required(["policy", "reference", "reward", "prompts"])


def reward_config(workdir: str, spec: str) -> Any:
  """The rl.* keys train/tasks/grpo.py reads to score rollouts with a trained run."""
  import ml_collections

  return ml_collections.ConfigDict(
      {"rl": {"reward": "workdir", "reward_workdir": workdir, "reward_spec": spec}})


def mean_and_se(per_prompt: Any) -> tuple[float, float]:
  """Mean of per-prompt values and its standard error (0 for one prompt)."""
  import numpy as np

  x = np.asarray(per_prompt, np.float64)
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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from eval import preference_data

  rewards = {"reward": (_REWARD.value, _REWARD_SPEC.value)}
  if _PROXY.value:
    rewards["proxy_reward"] = (_PROXY.value, _PROXY_SPEC.value)
  result = evaluate(
      _POLICY.value, _REFERENCE.value, rewards, preference_data.read_prompts(_PROMPTS.value),
      samples=_SAMPLES.value, prompt_len=_PROMPT_LEN.value,
      max_new_tokens=_MAX_NEW_TOKENS.value, temperature=_TEMPERATURE.value,
      batch=_BATCH.value, seed=_SEED.value, step=_STEP.value)
  line = json.dumps(result)
  if _OUT.value:
    tmp = _OUT.value + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
      f.write(line + "\n")
    os.replace(tmp, _OUT.value)
  print(line)


if __name__ == "__main__":
  cli.run(main)
