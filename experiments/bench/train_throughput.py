"""Train-step throughput of a config: compile time, step time, tokens/s, memory, MFU.

  python -m experiments.bench.train_throughput \
      --config=experiments/configs/gpt_shakespeare_char.py [--config.x=y] \
      [--steps=20] [--warmup=3] [--workdir=DIR] [--torch_python=PATH --rounds=3]

Builds everything with the project's own pieces (train.experiment.build, the jit step of
train.step.compile_steps, the Grain pipeline), so the number measured is the number a
training run gets. Batches are fetched and placed on the mesh before timing, so the step
time is pure compute. Prints a short table, then one JSON object as the last stdout line.

"overheads_s" times, after the steps, what a whole run spends besides them: start-up
(process start to the experiment built: imports, tokenizer, data; taken in the first
round, the process's first call), creating the state (its compile included), the eval
step's compile with one batch, one pass over the whole eval split, and the task's
end-of-run outputs (samples.txt of an LM, compile included; absent when the config writes
none). `--overheads=false` skips them.

--torch_python names an interpreter that has torch (not an attnlab dependency): nanoGPT's
recipe at the config's shape (experiments/bench/torch_gpt.py: layers, heads, width, batch,
block, vocabulary, dropout) then runs in that interpreter after each attnlab round, for
--rounds rounds, and the JSON gains "torch" (its medians over all rounds, peak RSS) and
"ratio" (attnlab / torch tokens/s and peak RSS), taken in one run on one machine.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import tempfile
import time
from typing import Any, Optional

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from experiments.bench import timing
from train import cli

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Config file (experiments/configs/*.py).", lock_config=True)
_STEPS = flags.DEFINE_integer("steps", 20, "Timed steps (median is reported).")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed steps after the compile.")
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Where the tokenizer/config go; default: a temporary directory.")
_TORCH_PYTHON = flags.DEFINE_string(
    "torch_python", None, "A Python with torch installed: also time nanoGPT's recipe.")
_ROUNDS = flags.DEFINE_integer("rounds", 1, "Alternating rounds of attnlab (and torch).")
_OVERHEADS = flags.DEFINE_bool("overheads", True, "Also time a run's start-up, state "
                               "creation, evaluation and samples (first round).")
flags.mark_flags_as_required(["config"])


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
              name: str = "", overheads: bool = False) -> dict:
  """Compile and time the train step of `config`; returns the result row (see module doc).
  overheads: also time the rest of a run (the row's "overheads_s")."""
  import jax  # after flag parsing, so XLA_FLAGS set by the caller apply
  import numpy as np

  from model import layers
  from train import experiment as experiment_lib
  from train import flops as flops_lib
  from train import partitioning
  from train import state as state_lib
  from train import step as step_lib

  if steps < 1 or warmup < 0:
    raise ValueError(f"need --steps >= 1 and --warmup >= 0, got {steps} and {warmup}")
  exp = experiment_lib.build(config, workdir)
  startup_s = timing.process_age_s()  # a start-up only on a process's first call
  config = exp.config
  ds = exp.task.make_dataset(  # the task's batches, as train/loop.py reads them
      config.data, exp.tokenizer, config.data.train_split, seed=config.seed,
      process_index=jax.process_index(), process_count=jax.process_count(), train=True,
      task_cfg=config.task)
  it = iter(ds)
  n_batches = 1 + warmup + steps
  with partitioning.mesh_context(exp.mesh, exp.rules):
    # Prefetch every batch onto the mesh first: data time stays out of the step time.
    batches = [partitioning.global_batch(next(it), exp.mesh) for _ in range(n_batches)]
    jax.block_until_ready(batches)
    t0 = time.perf_counter()
    state = state_lib.create_train_state(exp.model, exp.tx, config.data.seq_len, config.seed,
                                         exp.mesh, exp.shardings, exp.rules, exp.carry_fn,
                                         exp.frozen_fn)
    jax.block_until_ready(state)
    init_s = time.perf_counter() - t0
    train_fn, eval_fn = step_lib.compile_steps(exp.loss_fn, exp.tx, exp.shardings, exp.mesh,
                                               exp.schedule, config.train.xla_cpu_scheduler)
    timed = timing.time_train_steps(train_fn, state, batches, warmup)
  compile_s, first_step_s, times = timed.compile_s, timed.first_step_s, timed.times
  cpu_per_step, metrics = timed.cpu_per_step, timed.metrics
  loss = float(jax.device_get(metrics["loss"]))

  devices = list(exp.mesh.devices.flat)
  backend = jax.default_backend()
  step_time = statistics.median(times)
  tokens_per_step = config.data.batch_size * config.data.seq_len
  tokens_per_sec = tokens_per_step / step_time
  model_flops = exp.task.flops_per_token(config, exp.model_config)
  if model_flops is None:
    raise ValueError(f"objective={config.objective!r} has no FLOPs count (train/tasks: "
                     "train_flops); benchmark a causal LM or an encoder objective")
  peak_flops = flops_lib.measure_system_peak_flops(layers.DTYPES[config.model.dtype])
  host_rss_mb = timing.peak_rss_mb()  # the steps' peak, before the overheads run
  device_mb = _device_peak_mb(devices) if backend != "cpu" else None
  extra = {}
  if overheads:
    extra["overheads_s"] = run_overheads(exp, timed.state.params, eval_fn, workdir,
                                         startup_s, init_s)
  return {
      "config": name,
      "times": times,
      "backend": backend,
      "devices": len(devices),
      "params": int(sum(np.prod(x.shape) for x in jax.tree.leaves(state.params))),
      "vocab_size": exp.model_config.vocab_size,
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
      **extra,
  }


def run_overheads(exp: Any, params: Any, eval_fn: Any, workdir: str,
                  startup_s: Optional[float], init_s: float) -> dict:
  """Seconds a whole run spends besides its steps (see the module doc)."""
  from eval import end_of_run
  from eval import evaluate as evaluate_lib

  out = {"init": init_s}
  if startup_s is not None:
    out["startup"] = startup_s
  t0 = time.perf_counter()
  evaluate_lib.evaluate(exp, params, eval_fn, 1)
  out["eval_compile"] = time.perf_counter() - t0
  t0 = time.perf_counter()
  evaluate_lib.evaluate(exp, params, eval_fn, 0)
  out["eval_whole_split"] = time.perf_counter() - t0
  if exp.config.sample.num_samples > 0 and exp.task.lm_samples:
    t0 = time.perf_counter()
    end_of_run.write_outputs(exp, params, workdir)
    out["samples"] = time.perf_counter() - t0
  return {k: round(v, 3) for k, v in out.items()}


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
  if "overheads_s" in row:
    lines.append("overheads        " + ", ".join(f"{k} {v:.2f} s"
                                                 for k, v in row["overheads_s"].items()))
  return "\n".join(lines)


def report(row: dict) -> None:
  """The table, then the JSON row as the LAST stdout line (for scripts and sweeps)."""
  print(format_table(row))
  bad = [k for k in ("tokens_per_sec", "step_time_s", "compile_s", "peak_memory_mb", "mfu")
         if not (isinstance(row[k], float) and math.isfinite(row[k]))]
  if bad:
    logging.warning("non-finite benchmark values: %s", bad)
  print(json.dumps(row, sort_keys=True), flush=True)


def _merged(rows: list[dict], tokens_per_step: int) -> dict:
  """One row for several rounds: the median over every timed step of every round."""
  times = [t for row in rows for t in row["times"]]
  cpu = statistics.mean(row["cpu_per_step"] for row in rows)
  return {**timing.step_stats(times, cpu, tokens_per_step), "rounds": len(rows),
          "peak_rss_mb": round(max(row["peak_rss_mb"] for row in rows), 1)}


def compare_with_torch(config: Any, workdir: str, name: str, python: str, rounds: int,
                       steps: int, warmup: int, overheads: bool = False) -> dict:
  """attnlab's row of the last round (with the first round's overheads_s), with
  "attnlab" / "torch" medians over all rounds (alternating, attnlab first) and their
  ratios."""
  ours, theirs = [], []
  for i in range(rounds):
    row = benchmark(config, workdir, steps, warmup, name, overheads=overheads and i == 0)
    ours.append({**row, "cpu_per_step": row["cpu_time_per_step_s"],
                 "peak_rss_mb": row["host_peak_rss_mb"]})
    try:
      theirs.append(timing.run_torch_script(
          python, "torch_gpt.py",
          [json.dumps(timing.torch_gpt_config(config, row["vocab_size"], steps, warmup))]))
    except ValueError as e:
      raise app.UsageError(str(e))
    print(f"round {len(ours)}: attnlab {row['step_time_s'] * 1e3:.1f} ms/step, torch "
          f"{statistics.median(theirs[-1]['times']) * 1e3:.1f} ms/step", flush=True)
  tokens = row["tokens_per_step"]
  a, t = _merged(ours, tokens), _merged(theirs, tokens)
  t.update(torch=theirs[-1]["torch"], threads=theirs[-1]["threads"])
  first = {k: ours[0][k] for k in ("overheads_s",) if k in ours[0]}
  return {**row, **first, "attnlab": a, "torch": t,
          "ratio": {"tokens_per_sec": round(a["tokens_per_sec"] / t["tokens_per_sec"], 3),
                    "peak_rss": round(a["peak_rss_mb"] / t["peak_rss_mb"], 3)}}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.ERROR)
  name = os.path.splitext(os.path.basename(
      config_flags.get_config_filename(flags.FLAGS["config"])))[0]
  load_before = os.getloadavg()[0]

  def measure(workdir: str) -> dict:
    if _TORCH_PYTHON.value:
      return compare_with_torch(_CONFIG.value, workdir, name, _TORCH_PYTHON.value,
                                _ROUNDS.value, _STEPS.value, _WARMUP.value, _OVERHEADS.value)
    return benchmark(_CONFIG.value, workdir, _STEPS.value, _WARMUP.value, name,
                     _OVERHEADS.value)

  if _WORKDIR.value:
    row = measure(os.path.abspath(_WORKDIR.value))
  else:
    with tempfile.TemporaryDirectory(prefix="attnlab_bench_") as workdir:
      row = measure(workdir)
  row.update(load_avg_before=load_before, load_avg_after=os.getloadavg()[0],
             **timing.run_setup())
  report(row)


if __name__ == "__main__":
  cli.run(main)
