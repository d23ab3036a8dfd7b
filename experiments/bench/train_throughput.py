"""Train-step throughput of a config: compile time, step time, tokens/s, memory, MFU.

  python -m experiments.bench.train_throughput \
      --config=experiments/configs/gpt_shakespeare_char.py [--config.x=y] \
      [--steps=20] [--warmup=3] [--workdir=DIR]

Builds everything with the project's own pieces (train.experiment.build, the jit step of
train.step.compile_steps, the Grain pipeline), so the number measured is the number a
training run gets. Batches are fetched and placed on the mesh before timing, so the step
time is pure compute. Prints a short table, then one JSON object as the last stdout line.
"""
from __future__ import annotations

import json
import math
import os
import resource
import statistics
import sys
import tempfile
from typing import Any, Optional

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from experiments.bench import timing

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file (experiments/configs/*.py).", lock_config=True)
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps (median is reported).")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed steps after the compile.")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where the tokenizer/config go; default: a temporary directory.")
flags.mark_flags_as_required(["config"])


def _host_peak_rss_mb() -> float:
  """Peak resident set of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def _device_peak_mb(devices: list) -> Optional[float]:
  """Largest peak_bytes_in_use over the devices, where the backend reports it (GPU/TPU)."""
  peaks = []
  for d in devices:
    try:
      stats = d.memory_stats()
    except Exception:  # pylint: disable=broad-except
      stats = None
    if stats and "peak_bytes_in_use" in stats:
      peaks.append(stats["peak_bytes_in_use"])
  return max(peaks) / 2**20 if peaks else None


def benchmark(config: Any, workdir: str, steps: int = 20, warmup: int = 3,
              name: str = "") -> dict:
  """Compile and time the train step of `config`; returns the result row (see module doc)."""
  import jax  # after flag parsing, so XLA_FLAGS set by the caller apply
  import numpy as np

  import data as data_lib
  from model import layers
  from train import experiment as experiment_lib
  from train import flops as flops_lib
  from train import partitioning
  from train import state as state_lib
  from train import step as step_lib

  if steps < 1 or warmup < 0:
    raise ValueError(f"need --steps >= 1 and --warmup >= 0, got {steps} and {warmup}")
  exp = experiment_lib.build(config, workdir)
  config = exp.config
  ds = data_lib.make_lm_dataset(
      config.data, exp.tokenizer, config.data.train_split, seed=config.seed,
      process_index=jax.process_index(), process_count=jax.process_count(), train=True)
  it = iter(ds)
  n_batches = 1 + warmup + steps
  with partitioning.mesh_context(exp.mesh):
    # Prefetch every batch onto the mesh first: data time stays out of the step time.
    batches = [partitioning.global_batch(next(it), exp.mesh) for _ in range(n_batches)]
    jax.block_until_ready(batches)
    state = state_lib.create_train_state(exp.model, exp.tx, config.data.seq_len, config.seed,
                                         exp.mesh, exp.shardings)
    train_fn, _ = step_lib.compile_steps(exp.loss_fn, exp.tx, exp.shardings, exp.mesh,
                                         exp.schedule)
    timed = timing.time_train_steps(train_fn, state, batches, warmup)
  compile_s, first_step_s, times = timed.compile_s, timed.first_step_s, timed.times
  cpu_per_step, metrics = timed.cpu_per_step, timed.metrics
  loss = float(jax.device_get(metrics["loss"]))

  devices = list(exp.mesh.devices.flat)
  backend = jax.default_backend()
  step_time = statistics.median(times)
  tokens_per_step = config.data.batch_size * config.data.seq_len
  tokens_per_sec = tokens_per_step / step_time
  model_flops = flops_lib.flops_per_token(exp.model_config, config.data.seq_len)
  peak_flops = flops_lib.measure_system_peak_flops(layers.DTYPES[config.model.dtype])
  host_rss_mb = _host_peak_rss_mb()
  device_mb = _device_peak_mb(devices) if backend != "cpu" else None
  return {
      "config": name,
      "backend": backend,
      "devices": len(devices),
      "params": int(sum(np.prod(x.shape) for x in jax.tree.leaves(state.params))),
      "batch_size": config.data.batch_size,
      "seq_len": config.data.seq_len,
      "tokens_per_step": tokens_per_step,
      "compile_s": compile_s,
      "first_step_s": first_step_s,
      "step_time_s": step_time,
      "step_time_min_s": min(times),
      "step_time_max_s": max(times),
      "cpu_time_per_step_s": cpu_per_step,
      "steps": steps,
      "warmup": warmup,
      "tokens_per_sec": tokens_per_sec,
      "model_flops_per_token": model_flops,
      "achieved_flops": tokens_per_sec * model_flops,
      "peak_flops": peak_flops,
      "mfu": tokens_per_sec * model_flops / peak_flops,
      "peak_memory_mb": device_mb if device_mb is not None else host_rss_mb,
      "host_peak_rss_mb": host_rss_mb,
      "device_peak_mb": device_mb,
      "final_loss": loss,
  }


def format_table(row: dict) -> str:
  """A few human-readable lines of the result row."""
  lines = [
      f"config           {row['config']}",
      f"backend/devices  {row['backend']} x{row['devices']}   params {row['params']:,}",
      f"batch            {row['batch_size']} x {row['seq_len']} = "
      f"{row['tokens_per_step']:,} tokens/step",
      f"compile          {row['compile_s']:.2f} s (lower+compile); first step "
      f"{row['first_step_s'] * 1e3:.1f} ms",
      f"step (median)    {row['step_time_s'] * 1e3:.2f} ms over {row['steps']} steps "
      f"(min {row['step_time_min_s'] * 1e3:.2f}, max {row['step_time_max_s'] * 1e3:.2f}); "
      f"CPU time {row['cpu_time_per_step_s'] * 1e3:.1f} ms/step",
      f"tokens/s         {row['tokens_per_sec']:,.0f}",
      f"model FLOPs      {row['model_flops_per_token'] / 1e6:.2f} M/token -> "
      f"{row['achieved_flops'] / 1e9:.1f} GFLOP/s of a measured "
      f"{row['peak_flops'] / 1e9:.1f} GFLOP/s peak: MFU {row['mfu'] * 100:.1f}%",
      f"peak memory      {row['peak_memory_mb']:,.0f} MiB"
      + ("" if row["device_peak_mb"] is None else
         f" (device); host RSS {row['host_peak_rss_mb']:,.0f} MiB"),
  ]
  return "\n".join(lines)


def report(row: dict) -> None:
  """The table, then the JSON row as the LAST stdout line (for scripts and sweeps)."""
  print(format_table(row))
  bad = [k for k in ("tokens_per_sec", "step_time_s", "compile_s", "peak_memory_mb", "mfu")
         if not (isinstance(row[k], float) and math.isfinite(row[k]))]
  if bad:
    logging.warning("non-finite benchmark values: %s", bad)
  print(json.dumps(row, sort_keys=True), flush=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.ERROR)
  name = os.path.splitext(os.path.basename(
      config_flags.get_config_filename(flags.FLAGS["config"])))[0]
  if _WORKDIR.value:
    report(benchmark(_CONFIG.value, os.path.abspath(_WORKDIR.value), _STEPS.value,
                     _WARMUP.value, name))
    return
  with tempfile.TemporaryDirectory(prefix="attnlab_bench_") as workdir:
    report(benchmark(_CONFIG.value, workdir, _STEPS.value, _WARMUP.value, name))


if __name__ == "__main__":
  app.run(main)
