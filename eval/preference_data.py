"""Sampled continuations turned into preference data: pairs labelled by a reward (DPO's
data, eval/preference_pairs.py) and best-of-N selection (eval/best_of_n.py).

A sampler maps a list of prompts to one continuation each (`policy_sampler` reads a causal
LM workdir); a reward maps (prompts, continuations) to scores (eval/rewards.py).
"""
from __future__ import annotations

import itertools
import math
import os
from typing import Callable, Optional, Sequence

import numpy as np

KEEP = ("best_worst", "all")
Sampler = Callable[[Sequence[str]], list[str]]
Reward = Callable[[Sequence[str], Sequence[str]], np.ndarray]


def read_prompts(path: str) -> list[str]:
  """The non-empty lines of a prompts file (each without its newline)."""
  if not os.path.exists(path):
    raise ValueError(f"--prompts={path} does not exist; give a text file with one prompt "
                     "per line")
  with open(path, encoding="utf-8") as f:
    prompts = [line.rstrip("\n") for line in f if line.strip()]
  if not prompts:
    raise ValueError(f"--prompts={path} has no prompts (one per line)")
  return prompts


def policy_sampler(workdir: str, max_new_tokens: int, temperature: float,
                   seed: int) -> Sampler:
  """The policy run's continuations of a list of prompts (one row each, KV-cache decode)."""
  import jax

  from eval import restore
  from eval import sampling
  from train import partitioning

  restored = restore.restore_params(workdir)
  exp = restored.exp
  tok = exp.tokenizer

  def sample(prompts: Sequence[str]) -> list[str]:
    with partitioning.mesh_context(exp.mesh):
      outs = sampling.generate(
          exp.model, restored.params, [sampling.prompt_ids(exp, p) for p in prompts],
          max_new_tokens=max_new_tokens, max_len=exp.model_config.max_len,
          rng=jax.random.PRNGKey(seed), temperature=temperature, eos_id=tok.eos_id)
    return [tok.decode(o) for o in outs]
  return sample


def pairs_of(prompt: str, responses: Sequence[str], scores: Sequence[float],
             keep: str) -> list[dict]:
  """A prompt's pairs (module docstring) from its scored continuations."""
  if keep not in KEEP:
    raise ValueError(f"unknown keep={keep!r}; choose one of {', '.join(KEEP)}")
  scored = list(zip(scores, responses))
  if keep == "best_worst":  # among ties, the first sample
    candidates = [(scored[int(np.argmax(scores))], scored[int(np.argmin(scores))])]
  else:
    candidates = list(itertools.combinations(sorted(scored, key=lambda sr: -sr[0]), 2))
  return [{"prompt": prompt, "chosen": hi[1], "rejected": lo[1],
           "chosen_reward": float(hi[0]), "rejected_reward": float(lo[0])}
          for hi, lo in candidates if hi[0] > lo[0] and hi[1] and lo[1]]


def make_pairs(prompts: Sequence[str], sample: Sampler,
               reward: Reward,
               num_samples: int, keep: str) -> list[dict]:
  """sample(prompts) -> one continuation per prompt (called num_samples times on the
  repeated list); reward(prompts, continuations) -> scores."""
  if num_samples < 2:
    raise ValueError(f"num_samples={num_samples}: a pair needs at least 2 continuations")
  repeated = [p for p in prompts for _ in range(num_samples)]
  responses = sample(repeated)
  scores = reward(repeated, responses)
  out = []
  for i, prompt in enumerate(prompts):
    rows = slice(i * num_samples, (i + 1) * num_samples)
    out += pairs_of(prompt, responses[rows], scores[rows], keep)
  return out


def kl_best_of_n(n: int) -> float:
  """KL(best-of-n || policy) in nats: log n - (n - 1) / n."""
  return math.log(n) - (n - 1) / n


def best_of_n(prompts: Sequence[str], sample: Sampler,
              reward: Reward, ns: Sequence[int], gold: Optional[Reward] = None) -> list[dict]:
  """One row per n: mean reward (and gold reward) of each prompt's best of its first n
  samples. The max(ns) samples per prompt are drawn once and shared by every n."""
  if not ns or min(ns) < 1:
    raise ValueError(f"every n must be >= 1, got {list(ns)}")
  most = max(ns)
  repeated = [p for p in prompts for _ in range(most)]
  responses = sample(repeated)
  scores = np.asarray(reward(repeated, responses)).reshape(len(prompts), most)
  gold_scores = (np.asarray(gold(repeated, responses)).reshape(len(prompts), most)
                 if gold is not None else None)
  rows = []
  for n in sorted(set(ns)):
    best = np.argmax(scores[:, :n], axis=1)  # the first sample among ties
    row = {"n": n, "kl": kl_best_of_n(n),
           "reward": float(np.mean(scores[np.arange(len(prompts)), best]))}
    if gold_scores is not None:
      row["gold_reward"] = float(np.mean(gold_scores[np.arange(len(prompts)), best]))
    rows.append(row)
  return rows
