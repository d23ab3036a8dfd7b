"""What experiments/sentiment.py runs, without its command line: the methods and their arms,
the proxy reward models, step budgets, where each stage writes, and the prompts."""
from __future__ import annotations

import os
import random
from typing import Any, Sequence

FINAL = "final.json"  # launch.FINAL: a stage is finished once its directory has it
GOLD_SPEC = "prob:1"  # the classifier's P(positive)
RM_STEPS = 300  # the proxy reward models, on the best-vs-worst pairs
# Proxy reward models (Gao et al. 2022 vary the proxy's data): name -> training pairs used
# (the first N of pairs_train.jsonl; 0: all of them).
PROXIES = {"rm": 0, "rm_small": 128}
OVEROPT_STEPS, OVEROPT_EVERY = 400, 25  # PPO updates against the proxy; points every 25
RL_STEPS = 200  # PPO: 50 rollout batches of 32 x 4 epochs; GRPO: 200 of 8 prompts x 4
DPO_STEPS = 300  # 16 pairs a step: ~2.6 epochs of the best-vs-worst pairs
METHODS: dict[str, dict[str, Any]] = {
    "ppo": {"base": "experiments/configs/ppo_tiny.py",
            "axes": {"rl.kl_coef": [0.005, 0.02, 0.1]}},
    "grpo": {"base": "experiments/configs/grpo_tiny.py",
             "axes": {"rl.kl_coef": [0.01, 0.04, 0.2]},
             "overrides": {"train.learning_rate": 3e-4, "train.end_learning_rate": 3e-5}},
    "dpo": {"base": "experiments/configs/dpo_tiny.py",
            "axes": {"preference.beta": [0.05, 0.1, 0.5]},
            "overrides": {"data.seq_len": 48}},  # prompt + response <= 36 tokens
}



def paths(workdir: str) -> dict[str, str]:
  """Where each stage writes inside the experiment's directory."""
  j = lambda *p: os.path.join(workdir, *p)
  return {"sft": j("sft"), "gold": j("gold"), "prompts_train": j("prompts_train.txt"),
          "prompts_eval": j("prompts_eval.txt"), "pairs_train": j("pairs_train.jsonl"),
          "pairs_eval": j("pairs_eval.jsonl"), "bon": j("best_of_n.jsonl"),
          "reference_point": j("reference_point", "final.json")}


def proxy_paths(workdir: str, proxy: str) -> dict[str, str]:
  """Where a proxy reward model's stages write: the run, its pairs, best-of-N with it
  choosing, the PPO sweep against it and the reference's point with its score."""
  suffix = proxy[len("rm"):]  # "" for the main proxy, "_small"
  j = lambda *p: os.path.join(workdir, *p)
  return {"rm": j(proxy), "pairs": j(f"pairs_train{suffix}.jsonl"),
          "bon": j(f"best_of_n_{proxy}.jsonl"), "overopt": j(f"overopt{suffix}"),
          "reference": j(f"overopt{suffix}_reference", "final.json")}


def read_sentences(tsv: str) -> list[str]:
  """The `sentence` column of a GLUE TSV file (header first)."""
  from data import labelled_files

  return [row["text"] for row in labelled_files.read_glue_tsv(tsv, "sentence", "label")]


def make_prompts(sentences: Sequence[str], words: int, count: int, seed: int,
                 min_words: int = 0) -> list[str]:
  """Up to `count` distinct prompts, each the first `words` words of a sentence that starts
  with a letter (not a treebank fragment like ", the") and has at least
  max(min_words, words + 1) words (so a continuation exists), in a seeded order."""
  need = max(min_words, words + 1)
  prefixes = sorted({" ".join(s.split()[:words]) for s in sentences
                     if len(s.split()) >= need and s[:1].isalpha()})
  random.Random(seed).shuffle(prefixes)
  return prefixes[:count]
