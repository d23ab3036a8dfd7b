"""What keeps a workdir consistent: one run at a time, atomic rewrites, resumable configs.

- `WorkdirLock`: an exclusive `fcntl.flock` on `<workdir>/.lock`, held by process 0 for
  the whole run. The kernel drops it when the holder dies (kill -9 included), so a stale
  lock is taken over by the next run; a live holder is named (pid, host, start time).
- `atomic_write`: write a temporary file beside the target, fsync, rename over it.
- `resume_config`: a resumed run may change only keys that leave the saved state valid.
"""
from __future__ import annotations

import datetime
import fcntl
import json
import os
import socket
import sys
import tempfile

import jax
import ml_collections
from absl import logging
from flax import traverse_util

LOCK_NAME = ".lock"
_UNSET = "<not set>"

# Keys a resumed run may change: they set the budget, cadence, reporting or where data
# lives, not the meaning of the saved params, optimizer state, RNG or data position.
# A prefix ending in "." covers a whole group.
RESUMABLE_KEYS = (
    "train.steps", "train.epochs", "train.log_every", "train.eval_every",
    "train.eval_every_epochs", "train.eval_batches", "train.final_eval_batches",
    "train.checkpoint_every", "train.keep_checkpoints", "train.progress",
    "train.restart_data_order", "train.xla_cpu_scheduler", "data.data_dir", "init_from",
    "mesh.", "sample.",
)


def warn(message: str) -> None:
  """A warning the user must see: stderr on process 0 (absl's log level may hide it)."""
  logging.warning(message)
  if jax.process_index() == 0:
    print(f"attnlab: warning: {message}", file=sys.stderr, flush=True)


def atomic_write(path: str, text: str) -> None:
  """Replace `path` with `text` so a reader (or a crash) sees the old file or the new one."""
  directory = os.path.dirname(os.path.abspath(path))
  fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
  try:
    with os.fdopen(fd, "w") as f:
      f.write(text)
      f.flush()
      os.fsync(f.fileno())
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.unlink(tmp)
    raise


class WorkdirLock:
  """Hold `<workdir>/.lock` for a run (process 0 only); ValueError if another run holds it."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LOCK_NAME)
    self._file = None

  def __enter__(self) -> "WorkdirLock":
    if jax.process_index() != 0:
      return self
    os.makedirs(os.path.dirname(self.path), exist_ok=True)
    f = open(self.path, "a+")
    try:
      fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
      f.seek(0)
      holder = _describe(f.read())
      f.close()
      raise ValueError(
          f"workdir {os.path.dirname(self.path)} is in use by another run ({holder}); wait "
          "for it to finish, stop it (SIGTERM saves a checkpoint), or use another --workdir"
      ) from None
    f.seek(0)
    stale = f.read().strip()
    if stale:
      warn(f"took over the lock of a run that ended without releasing it "
           f"({_describe(stale)})")
    f.seek(0)
    f.truncate()
    f.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                        "started": datetime.datetime.now().isoformat(timespec="seconds")}))
    f.flush()
    self._file = f
    return self

  def __exit__(self, *exc) -> None:
    if self._file is not None:
      self._file.seek(0)
      self._file.truncate()  # released cleanly: the next run finds nothing stale
      fcntl.flock(self._file, fcntl.LOCK_UN)
      self._file.close()
      self._file = None


def _describe(holder: str) -> str:
  try:
    h = json.loads(holder)
    return f"pid {h['pid']} on {h['host']}, started {h['started']}"
  except (ValueError, KeyError, TypeError):
    return "holder unknown"


def _flat(config: ml_collections.ConfigDict) -> dict[str, object]:
  return traverse_util.flatten_dict(config.to_dict(), sep=".")


def _resumable(key: str) -> bool:
  return any(key == k or (k.endswith(".") and key.startswith(k)) for k in RESUMABLE_KEYS)


def resume_config(config: ml_collections.ConfigDict, saved: ml_collections.ConfigDict,
                  workdir: str) -> ml_collections.ConfigDict:
  """`config` for resuming a run saved with `saved`: ValueError naming every changed key
  that would invalidate the checkpoint; resumable changes are kept and reported.

  model.vocab_size=0 ("follow the tokenizer") matches the saved, resolved size, and so does
  train.steps (train.eval_every) under an unchanged train.epochs (eval_every_epochs) > 0.
  """
  new, old = _flat(config), _flat(saved)
  if not new.get("model.vocab_size"):
    new["model.vocab_size"] = old.get("model.vocab_size")
  for key, derived_from in (("train.steps", "train.epochs"),
                            ("train.eval_every", "train.eval_every_epochs")):
    if new.get(derived_from, 0) > 0 and new.get(derived_from) == old.get(derived_from):
      new[key] = old.get(key)  # resolved from the epochs (train/epochs.py)
  changed = sorted(k for k in set(new) | set(old) if new.get(k, _UNSET) != old.get(k, _UNSET))
  # A key only one side has comes from another attnlab version: reported, not blocking.
  blocking = [k for k in changed if k in new and k in old and not _resumable(k)]
  if blocking:
    lines = [f"  {k}: saved {old[k]!r}, now {new[k]!r}" for k in blocking]
    raise ValueError(
        f"{workdir} holds a checkpoint of a different config; {len(blocking)} key(s) "
        "differ:\n" + "\n".join(lines) + "\nResume with the saved values, or start a fresh "
        f"run in another --workdir (add --config.init_from={workdir} to start from its "
        "params).")
  for k in changed:
    warn(f"resuming with {k}={new.get(k, _UNSET)!r} (saved: {old.get(k, _UNSET)!r})")
  config = ml_collections.ConfigDict(config.to_dict())
  config.model.vocab_size = new["model.vocab_size"]
  return config
