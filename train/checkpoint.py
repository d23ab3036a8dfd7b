"""Orbax checkpoints of train state + Grain iterator position + config, resumed exactly.

Orbax writes each step to a temporary directory and renames it when complete, so a crash,
a full disk or a failed save mid-write leaves the previous good steps in place. A newest
step that cannot be restored is moved to `<workdir>/checkpoints.unrestorable/` once an
older step restored (so the failure was that step's, not the config's).
"""
from __future__ import annotations

import contextlib
import errno
import dataclasses
import os
import shutil
import time
from typing import Any, Optional

import grain
import jax
import ml_collections
import orbax.checkpoint as ocp

from experiments.configs import base as config_schema
from train import workdir as workdir_lib
from train.state import TrainState


def _as_saved(state: TrainState) -> dict:
  """The state as checkpointed: its fields, those that are None left out, so a field added
  later (the LSTM carry) leaves every older checkpoint restorable."""
  return {f.name: getattr(state, f.name) for f in dataclasses.fields(state)
          if getattr(state, f.name) is not None}


class Checkpointer:
  """CheckpointManager over `<workdir>/checkpoints` (async saves, keep the last K)."""

  def __init__(self, directory: str, keep: int = 2, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=async_save,
        cleanup_tmp_directories=True)  # leftovers of a save cut short
    self.manager = ocp.CheckpointManager(
        self.directory, options=options, item_names=("state", "data", "config"))
    self._closed = False

  def latest_step(self) -> Optional[int]:
    return self.manager.latest_step()

  def save(self, step: int, state: TrainState, data_iterator: Any, config: dict,
           force: bool = False) -> bool:
    """Start a save (async); a failure leaves earlier steps untouched. data_iterator=None
    saves no data position (a converted checkpoint: a run resuming it draws data afresh)."""
    items = dict(state=ocp.args.StandardSave(_as_saved(state)),
                 config=ocp.args.JsonSave(config))
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointSave(data_iterator)
    args = ocp.args.Composite(**items)
    return self.manager.save(step, args=args, force=force)

  def data_position_file(self, step: int) -> str:
    """Grain's file for this process at `step` (one per process and process count)."""
    name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    return os.path.join(self.directory, str(step), "data", name)

  def has_data_position(self, step: int) -> bool:
    """Whether `step` saved a data position for this process layout (a run saved by a
    different number of processes, or one whose file was lost, has none).

    This one check reads Grain's file name: Grain's handler records no Orbax metadata
    (its `metadata()` is None), and its restore opens exactly this per-process file, so
    its existence is the only answer to "can this process layout restore the position".
    """
    return os.path.exists(self.data_position_file(step))

  def saved_config(self, step: int) -> ml_collections.ConfigDict:
    """The config saved with `step` (for a workdir whose config.json was lost)."""
    restored = self.manager.restore(step, args=ocp.args.Composite(config=ocp.args.JsonRestore()))
    return config_schema.complete(restored.config)

  def restore(self, abstract_state: TrainState, data_iterator: Any,
              step: Optional[int] = None) -> TrainState:
    """Restore state onto the shardings in `abstract_state`; the iterator in place
    (`data_iterator=None`: the state only)."""
    if data_iterator is None:
      return self.restore_state(abstract_state, step)
    return self._restore(step, ocp.args.Composite(
        state=ocp.args.StandardRestore(_as_saved(abstract_state)),
        data=grain.checkpoint.CheckpointRestore(data_iterator)))

  def restore_state(self, abstract_state: TrainState,
                    step: Optional[int] = None) -> TrainState:
    """Only the train state (no data iterator), to evaluate or sample from a run."""
    return self._restore(step, ocp.args.Composite(
        state=ocp.args.StandardRestore(_as_saved(abstract_state))))

  def restore_newest(self, abstract_state: TrainState,
                     data_iterator: Any) -> tuple[TrainState, int]:
    """Restore the newest restorable step (state and, unless None, the data position).

    Steps that fail before an older one restores are moved aside with a warning; if none
    restores, ValueError naming the newest step's error (nothing is moved).
    """
    failed: list[tuple[int, Exception]] = []
    for step in sorted(self.manager.all_steps(), reverse=True):
      try:
        state = self.restore(abstract_state, data_iterator, step)
      except ValueError as e:
        failed.append((step, e))
        continue
      for bad, error in failed:
        self._move_aside(bad, error)
      if failed:
        self.manager.reload()
      return state, step
    raise failed[0][1]

  def _move_aside(self, step: int, error: Exception) -> None:
    target = os.path.join(f"{self.directory}.unrestorable", f"{step}-{int(time.time())}")
    if jax.process_index() == 0:
      os.makedirs(os.path.dirname(target), exist_ok=True)
      shutil.move(os.path.join(self.directory, str(step)), target)
    workdir_lib.warn(f"{str(error).splitlines()[0]} Resuming from an earlier step instead; "
                     f"step {step} was moved to {target}.")

  def _restore(self, step: Optional[int], args: ocp.args.Composite) -> TrainState:
    step = self.latest_step() if step is None else step
    steps = sorted(self.manager.all_steps())
    if step not in steps:
      raise ValueError(f"no checkpoint step {step} in {self.directory}; it has steps "
                       f"{steps or '(none)'}")
    try:
      restored = self.manager.restore(step, args=args)
    except Exception as e:  # orbax raises many types; name the step and the way out
      raise ValueError(
          f"checkpoint step {step} in {self.directory} cannot be restored ({type(e).__name__}: "
          f"{str(e).splitlines()[0][:300]}). It is corrupt or was saved by a different model "
          f"config. Other steps here: {[s for s in steps if s != step] or 'none'} (eval.main "
          "--step=N reads one); or use a fresh --workdir (--config.init_from reuses "
          "compatible params).") from e
    return TrainState(**restored.state)

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    """Finish (or fail) the pending save and release the manager; a second call is a no-op."""
    if self._closed:
      return
    self._closed = True
    try:
      self.wait()
    except BaseException:  # keep this error, not what closing a failed manager raises
      with contextlib.suppress(Exception):
        self.manager.close()
      raise
    self.manager.close()


def finished_steps(directory: str) -> list[int]:
  """Steps whose save completed, as Orbax lists them (the same step-name format and
  finalization check as CheckpointManager.all_steps, without opening a manager on the
  directory; an interrupted save's temporary directory is not listed)."""
  if not os.path.isdir(directory):
    return []
  return sorted(m.step for m in ocp.path.step.standard_name_format().find_all(directory))


class DiskFullError(ValueError):
  """The disk filled during a run: which checkpoints are intact and how to go on."""

  def __init__(self, directory: str):
    super().__init__(
        "disk full: a file of the run could not be written. The finished checkpoints in "
        f"{directory} "
        f"(steps {finished_steps(directory) or 'none'}) are intact. Free space and rerun the "
        "same command to resume from the newest one.")


def is_disk_full(error: BaseException) -> bool:
  """Whether ENOSPC is anywhere in the exception's chain (orbax and tensorstore wrap it)."""
  seen = set()
  while error is not None and id(error) not in seen:
    seen.add(id(error))
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
      return True
    if "No space left on device" in str(error):
      return True
    error = error.__cause__ or error.__context__
  return False
