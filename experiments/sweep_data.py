"""Prepare a sweep's datasets once, before its runs start in parallel.

Runs of a sweep share the TFDS data_dir; two processes preparing the same dataset at once
would race, so the sweep prepares each distinct data config first, in its own process.
"""
from __future__ import annotations

import importlib.util
from typing import Any

import ml_collections

from experiments import sweep_spec


def load_config(path: str) -> ml_collections.ConfigDict:
  """get_config() of a config file, as train.main's --config loads it."""
  spec = importlib.util.spec_from_file_location("_sweep_base_config", path)
  if spec is None or spec.loader is None:
    raise ValueError(f"cannot load config file {path}")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def data_configs(sweep: sweep_spec.Sweep) -> list[ml_collections.ConfigDict]:
  """The distinct config.data of the sweep's arms (most sweeps have exactly one)."""
  out: dict[str, Any] = {}
  for _, values in sweep_spec.arms(sweep):
    config = load_config(sweep_spec.base_path(sweep))
    data_values = {k: v for k, v in {**sweep.overrides, **values}.items()
                   if k.startswith("data.")}
    config.update_from_flattened_dict(data_values)
    out.setdefault(config.data.to_json(sort_keys=True), config.data)
  return list(out.values())


def prepare(sweep: sweep_spec.Sweep) -> None:
  """Prepare (or find prepared) the train and eval splits every arm reads."""
  import data as data_lib  # heavy (TFDS): only when a sweep actually runs

  for cfg in data_configs(sweep):
    for split in (cfg.train_split, cfg.eval_split):
      data_lib.get_source(cfg, split)
