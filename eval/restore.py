"""A trained run's params, restored from its workdir onto the run's own shardings.

eval.main and eval.generate both start here, so every reader of a workdir rebuilds the
model, tokenizer and mesh exactly as training wrote them (train.experiment.from_workdir).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any, Optional

from train import checkpoint as checkpoint_lib
from train import experiment as experiment_lib


@dataclasses.dataclass
class Restored:
  """The rebuilt experiment, the params of one checkpoint, and that checkpoint's step;
  frozen: the state's Task.make_frozen trees (None for tasks without them)."""
  exp: experiment_lib.Experiment
  params: Any
  step: int
  frozen: Any = None


def restore_params(workdir: str, step: Optional[int] = None, best: bool = False) -> Restored:
  """Params of checkpoint `step` (default: the latest) of the run in `workdir`.

  best=True reads the step kept by train.best_metric (checkpoints_best/) instead.

  The whole train state is read (one orbax item, no data iterator) onto the shardings
  the config's mesh gives, and only its params (and frozen trees) are kept.
  """
  workdir = os.path.abspath(workdir)
  train_first = ("train into it first with python -m train.main --config=... "
                 f"--workdir={workdir}")
  if not os.path.isdir(workdir):
    raise ValueError(f"workdir {workdir} does not exist; {train_first}")
  exp = experiment_lib.from_workdir(workdir)
  directory = os.path.join(workdir, "checkpoints_best" if best else "checkpoints")
  if not os.path.isdir(directory) or not os.listdir(directory):
    raise ValueError(f"{workdir} has no checkpoints yet (no {directory}); {train_first}")
  ckpt = checkpoint_lib.Checkpointer(directory, async_save=False)
  try:
    if ckpt.latest_step() is None:
      raise ValueError(f"{directory} holds no complete checkpoint (a save may have been "
                       f"interrupted); {train_first}")
    step = ckpt.latest_step() if step is None else step
    state = ckpt.restore_state(exp.abstract_state, step)
  finally:
    ckpt.close()
  return Restored(exp=exp, params=state.params, step=step, frozen=state.frozen)
