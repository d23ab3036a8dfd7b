"""Preference pairs from sampled continuations (eval/preference_pairs.py) and best-of-N
(eval/best_of_n.py), with stand-in samplers and rewards; eval/rewards.py's spec checks."""
import math

import numpy as np
import pytest

from eval import preference_data
from eval import rewards
from train import tasks


def test_best_worst_keeps_one_pair_and_all_keeps_every_ordered_pair():
  pairs = preference_data.pairs_of("p", ["a", "b", "c"], [0.2, 0.9, 0.5], "best_worst")
  assert pairs == [{"prompt": "p", "chosen": "b", "rejected": "a",
                    "chosen_reward": 0.9, "rejected_reward": 0.2}]
  every = preference_data.pairs_of("p", ["a", "b", "c"], [0.2, 0.9, 0.5], "all")
  assert [(x["chosen"], x["rejected"]) for x in every] == [("b", "c"), ("b", "a"), ("c", "a")]
  assert preference_data.pairs_of("p", ["a", "b"], [0.5, 0.5], "best_worst") == []  # a tie
  assert preference_data.pairs_of("p", ["", "b"], [0.1, 0.5], "all") == []  # empty reply


def _stand_ins():
  """A sampler that cycles through replies and a reward that counts the letter 'o'."""
  replies = iter(["oh", "no", "ooo", "x", "so", "too", "o", "yo"] * 10)
  sample = lambda prompts: [next(replies) for _ in prompts]
  reward = lambda prompts, responses: np.array([r.count("o") for r in responses], np.float32)
  return sample, reward


def test_make_pairs_scores_each_prompts_own_samples():
  sample, reward = _stand_ins()
  pairs = preference_data.make_pairs(["p1", "p2"], sample, reward, 4, "best_worst")
  assert [(x["prompt"], x["chosen"], x["rejected"]) for x in pairs] == [
      ("p1", "ooo", "x"), ("p2", "too", "so")]
  with pytest.raises(ValueError, match="at least 2 continuations"):
    preference_data.make_pairs(["p"], sample, reward, 1, "all")


def test_best_of_n_rises_with_n_and_reports_the_analytic_kl():
  sample, reward = _stand_ins()
  rows = preference_data.best_of_n(["p1", "p2"], sample, reward, [1, 2, 4], gold=reward)
  assert [r["n"] for r in rows] == [1, 2, 4]
  assert [r["reward"] for r in rows] == [1.0, 1.5, 2.5]  # p1: oh,no,ooo,x  p2: so,too,o,yo
  assert rows[0]["kl"] == 0.0 and rows[2]["kl"] == pytest.approx(math.log(4) - 0.75)
  assert all(r["gold_reward"] == r["reward"] for r in rows)


@pytest.mark.parametrize("spec,objective,match", [
    ("prob", "classification", "unknown reward 'prob'"),
    ("prob:2", "classification", "class 2 is not one of the run's 2 classes"),
    ("reward", "classification", "reads a reward model, but the workdir trained "
                                 "objective='classification'; use prob:K"),
    ("logit:0", "reward_model", "reads a classifier, but .*; use reward"),
    ("prob:0", "causal_lm", "give a classification or reward_model run"),
])
def test_reward_specs_are_checked_against_the_run(spec, objective, match):
  with pytest.raises(ValueError, match=match):
    rewards.parse_spec(spec, tasks.get(objective), 2)
  assert rewards.parse_spec("prob:1", tasks.get("classification"), 2) == ("prob", 1)
