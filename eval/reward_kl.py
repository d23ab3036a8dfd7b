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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from eval import policy_eval
  from eval import preference_data
  from train import workdir

  rewards = {"reward": (_REWARD.value, _REWARD_SPEC.value)}
  if _PROXY.value:
    rewards["proxy_reward"] = (_PROXY.value, _PROXY_SPEC.value)
  result = policy_eval.evaluate(
      _POLICY.value, _REFERENCE.value, rewards, preference_data.read_prompts(_PROMPTS.value),
      samples=_SAMPLES.value, prompt_len=_PROMPT_LEN.value,
      max_new_tokens=_MAX_NEW_TOKENS.value, temperature=_TEMPERATURE.value,
      batch=_BATCH.value, seed=_SEED.value, step=_STEP.value)
  line = json.dumps(result)
  if _OUT.value:
    workdir.atomic_write(_OUT.value, line + "\n")
  print(line)


if __name__ == "__main__":
  cli.run(main)
