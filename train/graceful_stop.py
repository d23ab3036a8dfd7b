"""SIGTERM/SIGINT stop a run cleanly: finish the step, save, leave; a second signal exits now.

Preemptible machines and cluster schedulers end jobs with SIGTERM, so a signal is a normal
end of a run, not a crash: the loop saves a checkpoint (data position included) at the
step it reached and raises `Stopped`, which the entry point turns into exit code 128+signal.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Iterator, Optional

import numpy as np

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(Exception):
  """The run stopped on a signal: after saving `step`, or (None) outside training steps."""

  def __init__(self, step: Optional[int], signum: int):
    name = signal.Signals(signum).name
    super().__init__(f"stopped by {name} at step {step}, saved" if step is not None else
                     f"stopped by {name} outside a training step; the newest finished "
                     "checkpoint (if any) is kept")
    self.step = step
    self.signum = signum

  @property
  def exit_code(self) -> int:
    return 128 + self.signum


class StopOnSignal:
  """While entered, SIGTERM/SIGINT raise Stopped at once, except inside `training()`: there
  they request a stop that `requested()` reports after the step (all processes agree: one
  process's signal stops every process at the same step)."""

  def __init__(self):
    self.signum: Optional[int] = None
    self._previous = {}
    self._deferred = False

  @contextlib.contextmanager
  def training(self) -> Iterator[None]:
    """Signals only set the flag while this is entered (the loop saves, then stops)."""
    self._deferred = True
    try:
      yield
    finally:
      self._deferred = False

  def __enter__(self) -> "StopOnSignal":
    if threading.current_thread() is threading.main_thread():  # handlers live there only
      for s in SIGNALS:
        self._previous[s] = signal.signal(s, self._handle)
    return self

  def __exit__(self, *exc) -> None:
    for s, handler in self._previous.items():
      signal.signal(s, handler)
    self._previous = {}

  def _handle(self, signum: int, frame) -> None:
    del frame
    if self.signum is not None:  # the second signal: no more waiting
      print(f"\nattnlab: second {signal.Signals(signum).name}: exiting now without saving "
            "(the last finished checkpoint is kept)", file=sys.stderr, flush=True)
      os._exit(128 + signum)
    self.signum = signum
    if not self._deferred:
      raise Stopped(None, signum)
    print(f"\nattnlab: {signal.Signals(signum).name}: finishing this step and saving a "
          "checkpoint (send it again to exit at once)", file=sys.stderr, flush=True)

  def requested(self) -> bool:
    import jax  # here, not at import: entry points import this before XLA_FLAGS apply
    from jax.experimental import multihost_utils

    local = self.signum is not None
    if jax.process_count() == 1:
      return local
    signums = multihost_utils.process_allgather(np.int32(self.signum or 0))
    if not local and signums.max() > 0:
      self.signum = int(signums.max())
    return bool(signums.max() > 0)
