"""The task registry: config.objective -> its Task (train/tasks/base.py).

Every objective is one module here; nothing outside this package branches on the
objective's name. Adding one: a module defining TASK, its line below, a config and a test.
"""
from __future__ import annotations

from typing import Any

from train.tasks import (causal_lm, chat_sft, classification, dpo, electra, grpo, mlm,
                         mlm_nsp, ppo, prefix_lm, reward_model, seq2seq, sop,
                         span_corruption, token_classification)
from train.tasks.base import Task

_TASKS: dict[str, Task] = {m.TASK.name: m.TASK for m in (
    causal_lm, prefix_lm, mlm, mlm_nsp, sop, electra, seq2seq, span_corruption,
    classification, token_classification, chat_sft, reward_model, dpo, grpo, ppo)}


def names() -> tuple[str, ...]:
  return tuple(_TASKS)


def get(name: str) -> Task:
  if name not in _TASKS:
    raise ValueError(f"unknown objective={name!r}; choose one of {', '.join(_TASKS)}")
  return _TASKS[name]


def for_config(config: Any) -> Task:
  """config.objective's task, checked against config.model.family."""
  task = get(config.objective)
  task.check_family(config.model.family)
  return task


__all__ = ["Task", "for_config", "get", "names"]
