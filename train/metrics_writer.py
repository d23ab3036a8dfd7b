"""Per-step scalars to `<workdir>/metrics.jsonl` and TensorBoard (tensorboardX, no TF).

metrics.jsonl is one history: a run starts by cutting it back to the step it resumes from
(an atomic rewrite), so no step is ever logged twice, and a partial last line left by a
kill mid-write is dropped instead of breaking the next run.
"""
from __future__ import annotations

import json
import os
from typing import Iterable

import jax

from train import workdir as workdir_lib


def read_rows(path: str) -> list[dict]:
  """The rows of a metrics.jsonl; unparsable lines (a write cut short by a kill) skipped."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return _parse(f)


def _parse(lines: Iterable[str]) -> list[dict]:
  rows = []
  for line in lines:
    try:
      row = json.loads(line)
    except ValueError:
      continue
    if isinstance(row, dict) and "step" in row and "split" in row:
      rows.append(row)
  return rows


class MetricsWriter:
  """Appends {"step", "split", **metrics} lines; only process 0 writes.

  start_step: the step the run starts from (0 fresh, else the restored checkpoint's):
  rows after it, and a final_eval at it, belong to a run that did not get further than
  that checkpoint and are removed before anything is appended.
  """

  def __init__(self, workdir: str, start_step: int):
    self.enabled = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._tb = None
    if self.enabled:
      self._truncate_after(start_step)
      from tensorboardX import SummaryWriter
      self._tb = SummaryWriter(os.path.join(workdir, "tb"))

  def write(self, step: int, split: str, metrics: dict) -> None:
    if not self.enabled:
      return
    clean = {k: float(v) for k, v in metrics.items()}
    with open(self.path, "a") as f:
      f.write(json.dumps({"step": int(step), "split": split, **clean}) + "\n")
    for k, v in clean.items():
      self._tb.add_scalar(f"{split}/{k}", v, step)
    self._tb.flush()

  def _truncate_after(self, step: int) -> None:
    if not os.path.exists(self.path):
      return
    with open(self.path) as f:
      original = f.read()
    keep = [r for r in _parse(original.splitlines())
            if r["step"] < step or (r["step"] == step and r["split"] != "final_eval")]
    text = "".join(json.dumps(r) + "\n" for r in keep)
    if text != original:
      workdir_lib.atomic_write(self.path, text)

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
