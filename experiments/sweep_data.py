"""Prepare a sweep's datasets once, before its runs start in parallel.

Runs of a sweep share the TFDS data_dir; two processes preparing the same dataset at once
would race, so the sweep prepares each distinct data config first, in its own process.
"""
from __future__ import annotations

import importlib.util
import os
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


def _data_config(path: str, values: dict[str, Any]) -> ml_collections.ConfigDict:
  config = load_config(path)
  config.update_from_flattened_dict({k: v for k, v in values.items() if k.startswith("data.")})
  return config.data


def data_configs(sweep: sweep_spec.Sweep) -> list[ml_collections.ConfigDict]:
  """The distinct config.data of the sweep's arms and of their `then` stage (most sweeps
  have exactly one)."""
  out: dict[str, Any] = {}
  for name, values in sweep_spec.arms(sweep):
    configs = [_data_config(sweep_spec.base_path(sweep), {**sweep.overrides, **values})]
    if sweep.then:
      run = sweep_spec.Run(name=name, arm=name, seed=0, arm_values=values)
      stage = sweep_spec.then_overrides(sweep, run, "")
      configs.append(_data_config(os.path.join(sweep_spec.REPO_ROOT, sweep.then["base"]), stage))
    for data in configs:
      out.setdefault(data.to_json(sort_keys=True), data)
  return list(out.values())


def prepare(sweep: sweep_spec.Sweep) -> None:
  """Prepare (or find prepared) the train and eval splits every arm reads."""
  import data as data_lib  # heavy (TFDS): only when a sweep actually runs

  for cfg in data_configs(sweep):
    for split in (cfg.train_split, cfg.eval_split):
      data_lib.get_source(cfg, split)
