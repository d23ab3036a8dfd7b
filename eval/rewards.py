"""Reward functions read from trained workdirs: a classifier's class probability or logit,
or a reward model's scalar, scored on prompt + response texts.

  scorer = rewards.from_workdir("runs/sst2_classifier", "prob:1")  # P(positive)
  scorer = rewards.from_workdir("runs/rm", "reward")                 # reward_model's r(x, y)
  scores = scorer(prompts, responses)                                # float32 [N]

A classifier reads the whole text prompt + response as one sentence (its own [CLS] ...
[SEP] encoding, data/finetune.py); a reward model reads the rows it was trained on
(data/preferences.py). Scoring runs jit-compiled in batches of the run's data.batch_size.
"""
from __future__ import annotations

import re
from typing import Any, Callable, Sequence

import jax
import numpy as np

RewardFn = Callable[[Sequence[str], Sequence[str]], np.ndarray]
KINDS = ("prob", "logit", "reward")


def parse_spec(spec: str, task: Any, num_classes: int) -> tuple[str, int]:
  """'prob:K' / 'logit:K' (a classifier's class K) or 'reward' (a reward model's scalar),
  checked against what the run's task outputs (Task.reward_output) -> (kind, class)."""
  match = re.fullmatch(r"(prob|logit):(\d+)|(reward)", spec)
  if match is None:
    raise ValueError(f"unknown reward {spec!r}; use prob:K or logit:K (a classifier's "
                     "class K) or reward (a reward model's scalar)")
  kind = match.group(1) or match.group(3)
  wants = "scalar" if kind == "reward" else "classes"
  if task.reward_output != wants:
    fix = {"scalar": "use reward", "classes": "use prob:K or logit:K",
           None: "give a classification or reward_model run"}[task.reward_output]
    raise ValueError(f"reward {spec!r} reads {'a reward model' if kind == 'reward' else 'a classifier'}"
                     f", but the workdir trained objective={task.name!r}; {fix}")
  k = int(match.group(2) or 0)
  if kind != "reward" and not 0 <= k < num_classes:
    raise ValueError(f"reward {spec!r}: class {k} is not one of the run's "
                     f"{num_classes} classes (0..{num_classes - 1})")
  return kind, k


def from_workdir(workdir: str, spec: str) -> RewardFn:
  """The reward `spec` (parse_spec) of the trained run in `workdir` as a function."""
  from data import finetune
  from data import preferences
  from eval import restore
  from train import partitioning

  restored = restore.restore_params(workdir)
  exp = restored.exp
  kind, k = parse_spec(spec, exp.task, exp.config.task.num_classes)
  seq_len, batch = exp.config.data.seq_len, exp.config.data.batch_size
  apply = jax.jit(lambda p, x: exp.model.apply({"params": p}, x, deterministic=True))

  def encode(prompt: str, response: str) -> np.ndarray:
    if kind == "reward":
      return preferences.encode_response(exp.tokenizer, prompt, response, seq_len)[0]
    return finetune.encode_sentence(exp.tokenizer, prompt + response, seq_len)

  def score(prompts: Sequence[str], responses: Sequence[str]) -> np.ndarray:
    if len(prompts) != len(responses):
      raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    rows = np.stack([encode(p, r) for p, r in zip(prompts, responses)]) if prompts else (
        np.zeros((0, seq_len), np.int32))
    out = []
    with partitioning.mesh_context(exp.mesh, exp.rules):
      for start in range(0, len(rows), batch):
        chunk = rows[start:start + batch]
        padded = np.pad(chunk, ((0, batch - len(chunk)), (0, 0)))  # one compiled shape
        logits = np.asarray(jax.device_get(apply(restored.params, padded)))[:len(chunk)]
        if kind == "prob":
          logits = jax.nn.softmax(logits, axis=-1)
        out.append(np.asarray(logits[:, k], np.float32))
    return np.concatenate(out) if out else np.zeros((0,), np.float32)
  return score
