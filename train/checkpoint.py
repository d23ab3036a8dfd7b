"""Orbax checkpoints of train state + Grain iterator position + config, resumed exactly.

Orbax writes each step to a temporary directory and renames it when complete, so a crash
or a failed save mid-write leaves the previous good step in place.
"""
from __future__ import annotations

import os
from typing import Any, Optional

import grain
import jax
import orbax.checkpoint as ocp

from train.state import TrainState


class Checkpointer:
  """CheckpointManager over `<workdir>/checkpoints` (async saves, keep the last K)."""

  def __init__(self, directory: str, keep: int = 2, async_save: bool = True):
    self.directory = os.path.abspath(directory)
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=async_save)
    self.manager = ocp.CheckpointManager(
        self.directory, options=options, item_names=("state", "data", "config"))

  def latest_step(self) -> Optional[int]:
    return self.manager.latest_step()

  def save(self, step: int, state: TrainState, data_iterator: Any, config: dict,
           force: bool = False) -> bool:
    """Start a save (async); a failure leaves earlier steps untouched. data_iterator=None
    saves no data position (a converted checkpoint: a run resuming it draws data afresh)."""
    items = dict(state=ocp.args.StandardSave(state), config=ocp.args.JsonSave(config))
    if data_iterator is not None:
      items["data"] = grain.checkpoint.CheckpointSave(data_iterator)
    args = ocp.args.Composite(**items)
    return self.manager.save(step, args=args, force=force)

  def has_data_position(self, step: int) -> bool:
    """Whether `step` saved a data position for this process layout: Grain writes one
    file per process, so a run saved by a different number of processes has none."""
    name = f"process_{jax.process_index()}-of-{jax.process_count()}.json"
    return os.path.exists(os.path.join(self.directory, str(step), "data", name))

  def restore(self, abstract_state: TrainState, data_iterator: Any,
              step: Optional[int] = None) -> TrainState:
    """Restore state onto the shardings in `abstract_state`; the iterator in place
    (`data_iterator=None`: the state only)."""
    if data_iterator is None:
      return self.restore_state(abstract_state, step)
    return self._restore(step, ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state),
        data=grain.checkpoint.CheckpointRestore(data_iterator)))

  def restore_state(self, abstract_state: TrainState,
                    step: Optional[int] = None) -> TrainState:
    """Only the train state (no data iterator), to evaluate or sample from a run."""
    return self._restore(step, ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state)))

  def _restore(self, step: Optional[int], args: ocp.args.Composite) -> TrainState:
    step = self.latest_step() if step is None else step
    steps = sorted(self.manager.all_steps())
    if step not in steps:
      raise ValueError(f"no checkpoint step {step} in {self.directory}; it has steps "
                       f"{steps or '(none)'}")
    try:
      restored = self.manager.restore(step, args=args)
    except Exception as e:  # orbax raises many types; name the step and the way out
      others = [s for s in steps if s != step]
      raise ValueError(
          f"checkpoint step {step} in {self.directory} cannot be restored ({type(e).__name__}: "
          f"{e}). It may be corrupt or from a different model config. Move "
          f"{os.path.join(self.directory, str(step))} aside to resume from an earlier step "
          f"{others or '(none left)'}, or use a fresh --workdir.") from e
    return restored.state

  def wait(self) -> None:
    self.manager.wait_until_finished()

  def close(self) -> None:
    self.manager.wait_until_finished()
    self.manager.close()
