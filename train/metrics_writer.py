"""Per-step scalars to `<workdir>/metrics.jsonl` and TensorBoard (tensorboardX, no TF)."""
from __future__ import annotations

import json
import os

import jax


class MetricsWriter:
  """Appends {"step", "split", **metrics} lines; only process 0 writes."""

  def __init__(self, workdir: str):
    self.enabled = jax.process_index() == 0
    self.path = os.path.join(workdir, "metrics.jsonl")
    self._tb = None
    if self.enabled:
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

  def truncate_after(self, step: int) -> None:
    """Drop lines past `step` (a resumed run rewrites them; the log stays one history)."""
    if not (self.enabled and os.path.exists(self.path)):
      return
    with open(self.path) as f:
      keep = [l for l in f if l.strip() and json.loads(l)["step"] <= step]
    with open(self.path, "w") as f:
      f.writelines(keep)

  def close(self) -> None:
    if self._tb is not None:
      self._tb.close()
