"""One way to time a jitted train step, shared by the benchmarks."""
from __future__ import annotations

import dataclasses
import os
import statistics
import time
from typing import Any, Callable, Optional, Sequence


@dataclasses.dataclass
class StepTimes:
  """Compile time, the first call, then per-step wall times and CPU time per step."""
  compile_s: float
  first_step_s: float
  times: list[float]
  cpu_per_step: float
  state: Any  # the state after every step
  metrics: Any  # the last step's metrics

  @property
  def median_s(self) -> float:
    return statistics.median(self.times)


def time_train_steps(train_fn: Callable, state: Any, batches: Sequence[Any],
                     warmup: int) -> StepTimes:
  """Compile train_fn(state, batch) -> (state, metrics) on batches[0], run it on that batch
  (timed as the first step), on `warmup` more (untimed), then time each remaining batch
  (blocking on the result, so the time is the step's, not its dispatch)."""
  import jax

  t0 = time.perf_counter()
  compiled = train_fn.lower(state, batches[0]).compile()
  compile_s = time.perf_counter() - t0
  t0 = time.perf_counter()
  state, metrics = compiled(state, batches[0])
  jax.block_until_ready((state, metrics))
  first_step_s = time.perf_counter() - t0
  for b in batches[1:1 + warmup]:
    state, metrics = compiled(state, b)
  jax.block_until_ready((state, metrics))
  times = []
  cpu0 = time.process_time()
  for b in batches[1 + warmup:]:
    t0 = time.perf_counter()
    state, metrics = compiled(state, b)
    jax.block_until_ready((state, metrics))
    times.append(time.perf_counter() - t0)
  cpu_per_step = (time.process_time() - cpu0) / max(len(times), 1)
  return StepTimes(compile_s, first_step_s, times, cpu_per_step, state, metrics)


def process_age_s() -> Optional[float]:
  """Seconds since this process started (Linux /proc; None where it is not there)."""
  try:
    with open("/proc/self/stat") as f:
      start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22: starttime
    with open("/proc/stat") as f:
      boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
  except (OSError, ValueError, IndexError, StopIteration):
    return None
  return time.time() - (boot + start_ticks / os.sysconf("SC_CLK_TCK"))


def run_setup() -> dict:
  """What a benchmark's figures depend on besides its flags, for its JSON: the machine
  (processor, cores, instruction set), the allocator, attnlab's code version and the
  library versions (train/provenance.py, as a run's environment.json)."""
  from train import provenance

  setup = provenance.describe()
  return {"machine": setup["processor"], "allocator": setup["allocator"],
          "code": setup["code"], "libraries": setup["libraries"]}


def peak_rss_mb() -> float:
  """This process's peak resident set in MiB (ru_maxrss: KiB on Linux, bytes on macOS)."""
  import resource
  import sys
  rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def run_torch_script(python: str, script: str, args: Sequence[str]) -> dict:
  """Run experiments/bench/<script> under `python` (an interpreter that has torch, which
  attnlab does not depend on; a subprocess, so the two libraries never share a process or
  its thread pools) and return the JSON object it prints last.

  Raises ValueError naming the fix when that interpreter cannot run it."""
  import json
  import os
  import subprocess

  path = os.path.join(os.path.dirname(os.path.abspath(__file__)), script)
  try:
    done = subprocess.run([python, path, *args], capture_output=True, text=True, check=True)
  except (OSError, subprocess.CalledProcessError) as e:
    why = (getattr(e, "stderr", "") or str(e)).strip().splitlines() or ["no output"]
    raise ValueError(f"--torch_python={python} could not run {script} "
                     f"({why[-1]}); give a Python that has torch "
                     "installed (pip install torch), or leave the flag out.") from None
  return json.loads(done.stdout.strip().splitlines()[-1])


def step_stats(times: Sequence[float], cpu_per_step: float, tokens_per_step: int) -> dict:
  """Median / min step time (ms), CPU ms per step and tokens/s of the median step."""
  step_s = statistics.median(times)
  return {"step_ms": round(step_s * 1e3, 2), "step_min_ms": round(min(times) * 1e3, 2),
          "cpu_ms_per_step": round(cpu_per_step * 1e3, 1),
          "tokens_per_sec": round(tokens_per_step / step_s, 1)}


def torch_gpt_config(config: Any, vocab_size: int, steps: int, warmup: int) -> dict:
  """torch_gpt.py's settings for the shape of `config` (a nanoGPT-shaped GPT only;
  ValueError naming what differs otherwise)."""
  m, d = config.model, config.data
  if m.family != "gpt" or m.mlp_dim != 4 * m.d_model or m.num_kv_heads not in (0, m.num_heads):
    raise ValueError("torch_gpt.py times nanoGPT's model: a gpt with mlp_dim = 4 x "
                     f"d_model and no GQA (got family={m.family!r}, d_model={m.d_model}, "
                     f"mlp_dim={m.mlp_dim}, num_kv_heads={m.num_kv_heads})")
  return {"mode": "steps", "layers": m.num_layers, "heads": m.num_heads, "d_model": m.d_model,
          "seq_len": d.seq_len, "batch": d.batch_size, "vocab": vocab_size,
          "dropout": m.dropout, "steps": steps, "warmup": warmup}


def torch_gpt_run_config(config: Any, vocab_size: int) -> dict:
  """torch_gpt.py's run mode for `config`: its shape, data file, schedule and evaluation."""
  shape = torch_gpt_config(config, vocab_size, steps=0, warmup=0)
  del shape["steps"], shape["warmup"]
  t = config.train
  return {**shape, "mode": "run", "text_file": os.path.abspath(config.data.files),
          "max_iters": t.steps, "learning_rate": t.learning_rate,
          "min_lr": t.end_learning_rate, "warmup_iters": t.warmup_steps,
          "eval_interval": t.eval_every, "weight_decay": t.weight_decay,
          "eval_iters": t.eval_batches or 200}
