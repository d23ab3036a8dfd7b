"""Best-of-N sampling: the no-training baseline of preference tuning.

  python -m eval.best_of_n --policy=runs/sft --reward=runs/sst2_clf --reward_spec=prob:1 \
      --prompts=prompts.txt --n=1,4,16 [--gold=runs/other_clf --gold_spec=prob:1]

For each prompt the policy samples n continuations and the reward picks the best. Prints
one JSON line per n: the chosen continuations' mean reward (and mean gold reward when a
separate --gold judge is given, as in reward over-optimisation studies) and the KL of the
best-of-n policy from the sampling one, log n - (n - 1) / n (Stiennon et al. 2020; an
upper bound, Beirami et al. 2024): the x-axis of a reward-vs-KL frontier.
"""
from __future__ import annotations

import json

from absl import app
from absl import flags

from eval import preference_data
from train import cli

_POLICY = flags.DEFINE_string("policy", None, "Workdir of the causal LM that samples.")
_REWARD = flags.DEFINE_string("reward", None, "Workdir of the reward that picks the best.")
_REWARD_SPEC = flags.DEFINE_string("reward_spec", "prob:1", "See eval/rewards.py.")
_GOLD = flags.DEFINE_string("gold", None, "Workdir of a separate judge (default: none).")
_GOLD_SPEC = flags.DEFINE_string("gold_spec", "prob:1", "See eval/rewards.py.")
_PROMPTS = flags.DEFINE_string("prompts", None, "Text file, one prompt per line.")
_N = flags.DEFINE_list("n", ["1", "4", "16"], "Sample counts to report.")
_MAX_NEW_TOKENS = flags.DEFINE_integer("max_new_tokens", 32, "Tokens per continuation.")
_TEMPERATURE = flags.DEFINE_float("temperature", 1.0, "Sampling temperature.")
_SEED = flags.DEFINE_integer("seed", 0, "Sampling seed.")
flags.mark_flags_as_required(["policy", "reward", "prompts"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  from eval import rewards

  try:
    ns = [int(n) for n in _N.value]
  except ValueError:
    raise app.UsageError(f"--n={','.join(_N.value)}: give integers, e.g. --n=1,4,16") from None
  prompts = preference_data.read_prompts(_PROMPTS.value)
  sample = preference_data.policy_sampler(_POLICY.value, _MAX_NEW_TOKENS.value,
                                          _TEMPERATURE.value, _SEED.value)
  reward = rewards.from_workdir(_REWARD.value, _REWARD_SPEC.value)
  gold = rewards.from_workdir(_GOLD.value, _GOLD_SPEC.value) if _GOLD.value else None
  for row in preference_data.best_of_n(prompts, sample, reward, ns, gold):
    print(json.dumps(row))


if __name__ == "__main__":
  cli.run(main)
