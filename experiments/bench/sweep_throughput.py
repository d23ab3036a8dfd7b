"""Runs/hour of one K-run sweep, packed (train/packed.py) vs one process per run.

  python -m experiments.bench.sweep_throughput [--config=experiments/configs/gpt_tiny.py] \
      [--learning_rates=1e-3,3e-3,1e-2,3e-2] [--seeds=3] [--steps=100] [--parallel=2] \
      [--packed_parallel=N] [--order=packed,separate] [--workdir=DIR] \
      [--set='{"train.warmup_steps": 10}']

Writes a sweep (the config over the learning rates x seeds, no mid-run evaluation, no
samples) and runs it twice back to back with `python -m experiments.sweep`: once as today
(one process per run, --parallel at once), once with --packed (one process per group).
Both share the prepared dataset (prepared before either is timed); each run still trains
its own tokenizer in the separate mode, as a sweep does. The wall clock of each includes
start-up, tokenizer, compile, training, the final evaluation and the report. Prints a
short table, then one JSON line: runs, seconds and runs/hour of each, the speed-up, and the
machine's load average before and after.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

from experiments import sweep_data
from experiments import sweep_spec
from experiments.sweeps import budget
from train import cli

_CONFIG = flags.DEFINE_string("config", "experiments/configs/gpt_tiny.py",
                              "Base config file of the sweep.")
_LRS = flags.DEFINE_list("learning_rates", ["1e-3", "3e-3", "1e-2", "3e-2"],
                         "train.learning_rate of each arm.")
_SEEDS = flags.DEFINE_integer("seeds", 3, "Seeds per arm.")
_STEPS = flags.DEFINE_integer("steps", 100, "train.steps of every run.")
_PARALLEL = flags.DEFINE_integer("parallel", 2, "Processes at once in the separate mode.")
_PACKED_PARALLEL = flags.DEFINE_integer(
    "packed_parallel", 0, "Processes at once in the packed mode (0: --parallel). On one GPU, "
    "1 compiles the group's step once instead of once per process.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Where both sweeps go; default: a temp dir.")
_SET = flags.DEFINE_string("set", "{}", "More config overrides of every run, as JSON.")
_ORDER = flags.DEFINE_enum("order", "separate,packed",
                           ["separate,packed", "packed,separate", "packed", "separate"],
                           "Which mode runs first (or the one mode to run: no speed-up).")


def sweep_definition(config: str, learning_rates: list[float], steps: int,
                     extra: dict) -> dict:
  """The benchmark's sweep: one arm per learning rate, one log row and no evaluation
  before the end, no checkpoint before the end, no samples; training windows shuffled in
  budget.RESULTS_SHUFFLE_CHUNK chunks (its recorded figures' order; each run of a packed
  group holds a chunk)."""
  return {"base": config, "axes": {"train.learning_rate": learning_rates},
          "overrides": {"train.steps": steps, "train.log_every": max(1, steps // 4),
                        "train.eval_every": steps, "train.checkpoint_every": steps,
                        "train.warmup_steps": min(10, steps // 10), "train.progress": False,
                        "sample.num_samples": 0,
                        "data.shuffle_buffer": budget.RESULTS_SHUFFLE_CHUNK, **extra}}


def _run_sweep(sweep_file: str, workdir: str, seeds: int, parallel: int,
               packed: bool) -> dict:
  argv = [sys.executable, "-m", "experiments.sweep", f"--sweep={sweep_file}",
          f"--workdir={workdir}", f"--seeds={seeds}", f"--parallel={parallel}"]
  if packed:
    argv.append("--packed")
  start = time.perf_counter()
  proc = subprocess.run(argv, cwd=sweep_spec.REPO_ROOT, capture_output=True, text=True)
  seconds = time.perf_counter() - start
  done = sum(os.path.exists(os.path.join(workdir, d, "final.json"))
             for d in os.listdir(workdir) if os.path.isdir(os.path.join(workdir, d)))
  if proc.returncode != 0:
    print(proc.stdout[-3000:], proc.stderr[-3000:], file=sys.stderr)
  return {"seconds": seconds, "finished": done, "returncode": proc.returncode}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  root = _WORKDIR.value or tempfile.mkdtemp(prefix="sweep_throughput_")
  os.makedirs(root, exist_ok=True)
  definition = sweep_definition(_CONFIG.value, [float(x) for x in _LRS.value], _STEPS.value,
                                json.loads(_SET.value))
  sweep_file = os.path.join(root, "sweep_def.py")
  with open(sweep_file, "w") as f:
    f.write(f"def get_sweep():\n  return {definition!r}\n")
  sweep = sweep_spec.load_sweep(sweep_file)
  sweep_data.prepare(sweep)  # the dataset, once, before either mode is timed
  runs = len(sweep_spec.expand(sweep, _SEEDS.value))
  load_before = os.getloadavg()
  results = {}
  parallel = {"separate": _PARALLEL.value, "packed": _PACKED_PARALLEL.value or _PARALLEL.value}
  for mode in _ORDER.value.split(","):
    results[mode] = _run_sweep(sweep_file, os.path.join(root, mode), _SEEDS.value,
                               parallel[mode], packed=mode == "packed")
    print(f"{mode} done: {results[mode]}", flush=True)  # kept if a later mode is cut off
  load_after = os.getloadavg()
  row = {"config": _CONFIG.value, "runs": runs, "steps": _STEPS.value,
         "parallel": parallel["separate"], "packed_parallel": parallel["packed"],
         "cpus": os.cpu_count(), "workdir": root}
  for mode, r in results.items():
    row[f"{mode}_seconds"] = round(r["seconds"], 1)
    row[f"{mode}_finished"] = r["finished"]
    row[f"{mode}_runs_per_hour"] = round(3600 * r["finished"] / r["seconds"], 1)
  if len(results) == 2:
    row["speedup"] = round(results["separate"]["seconds"] / results["packed"]["seconds"], 2)
  row["loadavg_before"] = [round(x, 2) for x in load_before]
  row["loadavg_after"] = [round(x, 2) for x in load_after]
  for mode in results:
    print(f"{mode:9s} {row[f'{mode}_seconds']:8.1f} s  {row[f'{mode}_finished']}/{runs} "
          f"runs  {row[f'{mode}_runs_per_hour']:8.1f} runs/hour")
  print(f"speed-up {row.get('speedup', '-')}x (load average before {row['loadavg_before']}, "
        f"after {row['loadavg_after']})")
  print(json.dumps(row))


if __name__ == "__main__":
  cli.run(main)
