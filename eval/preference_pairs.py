"""Preference pairs sampled from a policy and labelled by a reward: DPO's data.

  python -m eval.preference_pairs --policy=runs/sft --reward=runs/sst2_clf --reward_spec=prob:1 \
      --prompts=prompts.txt --num_samples=4 --keep=best_worst --out=pairs.jsonl

For each prompt (one per line of --prompts) the policy samples --num_samples continuations;
the reward (eval/rewards.py) scores prompt + continuation; --keep=best_worst writes one pair
(the highest against the lowest score, none when they tie), --keep=all every pair of
differently scored continuations. Lines are {"prompt", "chosen", "rejected",
"chosen_reward", "rejected_reward"}: data.dataset=preference_jsonl reads them.
"""
from __future__ import annotations

import json
import os

from absl import app
from absl import flags

from eval import preference_data
from train import cli

_POLICY = flags.DEFINE_string("policy", None, "Workdir of the causal LM that samples.")
_REWARD = flags.DEFINE_string("reward", None, "Workdir of the classifier or reward model.")
_REWARD_SPEC = flags.DEFINE_string("reward_spec", "prob:1",
                                   "prob:K | logit:K (a classifier) | reward (a reward model).")
_PROMPTS = flags.DEFINE_string("prompts", None, "Text file, one prompt per line.")
_OUT = flags.DEFINE_string("out", None, "The JSON-lines file written.")
_NUM_SAMPLES = flags.DEFINE_integer("num_samples", 4, "Continuations per prompt (>= 2).")
_KEEP = flags.DEFINE_enum("keep", "best_worst", preference_data.KEEP, "Which pairs of a prompt to keep.")
_MAX_NEW_TOKENS = flags.DEFINE_integer("max_new_tokens", 32, "Tokens per continuation.")
_TEMPERATURE = flags.DEFINE_float("temperature", 1.0, "Sampling temperature.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
flags.mark_flags_as_required(["policy", "reward", "prompts", "out"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from eval import rewards

  prompts = preference_data.read_prompts(_PROMPTS.value)
  sample = preference_data.policy_sampler(_POLICY.value, _MAX_NEW_TOKENS.value,
                                          _TEMPERATURE.value, _SEED.value)
  reward = rewards.from_workdir(_REWARD.value, _REWARD_SPEC.value)
  pairs = preference_data.make_pairs(prompts, sample, reward, _NUM_SAMPLES.value, _KEEP.value)
  tmp = _OUT.value + ".tmp"
  with open(tmp, "w", encoding="utf-8") as f:
    for pair in pairs:
      f.write(json.dumps(pair) + "\n")
  os.replace(tmp, _OUT.value)
  print(f"{len(pairs)} pairs from {len(prompts)} prompts x {_NUM_SAMPLES.value} samples "
        f"-> {_OUT.value}")


if __name__ == "__main__":
  cli.run(main)
