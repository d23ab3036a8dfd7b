"""Keep the best checkpoint by a validation metric (besides the latest); early stopping.

`train.best_metric` names an eval metric ("accuracy", "macro_f1", "entity_f1", "loss",
...), `train.best_mode` says whether higher or lower is better. Every eval row is
offered; an improvement saves the state into `<workdir>/checkpoints_best/` with an Orbax
CheckpointManager whose `best_fn` ranks steps by that metric and keeps one. With
`train.early_stop_patience = N > 0` training stops after N evals in a row without one.
The tracker's state lives in `checkpoints_best/selection.json`, so a resumed run keeps
its best value, its patience count, and does not train on after an early stop.
Evaluate the kept step with `python -m eval.main --workdir=... --best`.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp
from absl import logging

from train.state import TrainState

BEST_DIR = "checkpoints_best"
_STATE_FILE = "selection.json"
MODES = ("max", "min")


class ModelSelector:
  """Tracks the best eval value; a no-op when train.best_metric is empty."""

  def __init__(self, workdir: str, metric: str, mode: str = "max", patience: int = 0):
    if mode not in MODES:
      raise ValueError(f"train.best_mode must be one of {MODES}, got {mode!r}")
    if patience < 0:
      raise ValueError(f"train.early_stop_patience must be >= 0, got {patience}")
    if patience and not metric:
      raise ValueError("train.early_stop_patience needs train.best_metric (the metric "
                       "whose improvement resets the patience)")
    self.metric, self.mode, self.patience = metric, mode, patience
    self.directory = os.path.join(os.path.abspath(workdir), BEST_DIR)
    self.best_step: Optional[int] = None
    self.best_value: Optional[float] = None
    self.bad_evals = 0
    self.stopped = False
    self.manager = None
    if not metric:
      return
    options = ocp.CheckpointManagerOptions(
        max_to_keep=1, best_fn=lambda m: m[metric], best_mode=mode, create=True,
        enable_async_checkpointing=False)
    self.manager = ocp.CheckpointManager(self.directory, options=options,
                                         item_names=("state", "config"))
    path = os.path.join(self.directory, _STATE_FILE)
    if os.path.exists(path):
      with open(path) as f:
        saved = json.load(f)
      self.best_step, self.best_value = saved["best_step"], saved["best_value"]
      self.bad_evals, self.stopped = saved["bad_evals"], saved["stopped"]

  @classmethod
  def from_config(cls, workdir: str, train_config: Any) -> "ModelSelector":
    return cls(workdir, train_config.best_metric,
               train_config.best_mode,
               train_config.early_stop_patience)

  def _better(self, value: float) -> bool:
    if self.best_value is None:
      return True
    return value > self.best_value if self.mode == "max" else value < self.best_value

  def update(self, step: int, state: TrainState, row: dict, config: dict) -> bool:
    """Offer one eval row; saves on improvement. Returns True when training should stop."""
    if self.manager is None:
      return False
    if self.metric not in row:
      raise ValueError(f"train.best_metric={self.metric!r} is not an eval metric of this "
                       f"run; it logs {sorted(k for k in row if isinstance(row[k], float))}")
    value = float(row[self.metric])
    if math.isfinite(value) and self._better(value):
      if step not in self.manager.all_steps():
        self.manager.save(step, args=ocp.args.Composite(
            state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config)),
            metrics={self.metric: value}, force=True)
      self.best_step, self.best_value, self.bad_evals = step, value, 0
      logging.info("best %s %.4f at step %d", self.metric, value, step)
    else:
      self.bad_evals += 1
    self.stopped = bool(self.patience) and self.bad_evals >= self.patience
    if jax.process_index() == 0:
      with open(os.path.join(self.directory, _STATE_FILE), "w") as f:
        json.dump({"metric": self.metric, "mode": self.mode, "best_step": self.best_step,
                   "best_value": self.best_value, "bad_evals": self.bad_evals,
                   "stopped": self.stopped}, f, indent=2)
    return self.stopped

  def summary(self) -> dict:
    """best_step and best_<metric> for final.json (empty without best_metric)."""
    if self.manager is None or self.best_step is None:
      return {}
    return {"best_step": self.best_step, f"best_{self.metric}": self.best_value,
            "early_stopped": self.stopped}

  def close(self) -> None:
    if self.manager is not None:
      self.manager.wait_until_finished()
      self.manager.close()
