"""Synthetic sequence-to-sequence tasks as a TFDS dataset: reverse, sort, copy, addition.

Records are {"source": str, "target": str}. reverse/sort/copy draw strings of
`min_len..max_len` lowercase letters; addition draws two numbers of 1..max_len digits
("123+45" -> "168"). Each split is generated from its own seed derived from `seed`, so
the validation and test sets are fixed for a seed while the train split can be as large
as wanted (`num_train`; a train example may repeat in validation only by chance, which
is negligible for all but the shortest lengths).
"""
from collections.abc import Iterator

import numpy as np
import tensorflow_datasets as tfds

from data.builders.common import HashedConfig, LocalBuilder

TASKS = ("reverse", "sort", "copy", "addition")
_LETTERS = np.array(list("abcdefghijklmnopqrstuvwxyz"))
_SPLITS = ("train", "validation", "test")


def make_example(task: str, rng: np.random.Generator, min_len: int,
                 max_len: int) -> tuple[str, str]:
  """One (source, target) pair of `task`."""
  if task == "addition":
    a, b = (int("".join(map(str, [rng.integers(1, 10)] + list(
        rng.integers(0, 10, size=int(rng.integers(min_len, max_len + 1)) - 1)))))
            for _ in range(2))
    return f"{a}+{b}", str(a + b)
  chars = _LETTERS[rng.integers(0, len(_LETTERS), size=int(rng.integers(min_len, max_len + 1)))]
  source = "".join(chars)
  if task == "reverse":
    return source, source[::-1]
  if task == "sort":
    return source, "".join(sorted(source))
  return source, source


def check_config(cfg) -> None:
  """data.task, min_len, max_len, num_train, num_eval (data.dataset=synthetic), before any
  example is generated (train/experiment.py validate, through the seq2seq tasks)."""
  check_task(cfg.task, cfg.min_len, cfg.max_len, {"train": cfg.num_train, "eval": cfg.num_eval})


def check_task(task: str, min_len: int, max_len: int, sizes: dict) -> None:
  if task not in TASKS:
    raise ValueError(f"unknown data.task={task!r}; choose one of {', '.join(TASKS)}")
  if not 1 <= min_len <= max_len:
    raise ValueError(f"need 1 <= data.min_len <= data.max_len, got {min_len}, {max_len}")
  for split, n in sizes.items():
    if n <= 0:
      raise ValueError(f"data.num_{split}={n}: every split needs at least one example")


class SyntheticConfig(HashedConfig):
  """A task + lengths + sizes + seed; the name is a hash of them."""

  def __init__(self, *, task: str, min_len: int, max_len: int, num_train: int,
               num_eval: int, seed: int):
    sizes = {"train": num_train, "validation": num_eval, "test": num_eval}
    check_task(task, min_len, max_len, sizes)
    spec = dict(task=task, min_len=min_len, max_len=max_len, sizes=sizes, seed=seed)
    super().__init__(spec, prefix=f"{task}_", digits=16)
    self.spec = spec


class Synthetic(LocalBuilder):
  """Generated (source, target) string pairs; train/validation/test from separate seeds."""

  BUILDER_CONFIG_CLASS = SyntheticConfig

  FEATURES = {"source": tfds.features.Text(), "target": tfds.features.Text()}

  def _split_generators(self, dl_manager):
    del dl_manager  # Nothing to download.
    return {split: self._generate_examples(split) for split in _SPLITS}

  def _generate_examples(self, split: str) -> Iterator[tuple[int, dict]]:
    s = self.builder_config.spec
    rng = np.random.default_rng([s["seed"], _SPLITS.index(split)])
    for i in range(s["sizes"][split]):
      source, target = make_example(s["task"], rng, s["min_len"], s["max_len"])
      yield i, {"source": source, "target": target}


def synthetic_builder(cfg, data_dir: str) -> Synthetic:
  """The builder for config.data's task, lengths, sizes and seed."""
  return Synthetic(config=SyntheticConfig(
      task=cfg.task, min_len=cfg.min_len,
      max_len=cfg.max_len, num_train=cfg.num_train,
      num_eval=cfg.num_eval, seed=cfg.data_seed), data_dir=data_dir)
