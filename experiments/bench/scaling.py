"""Train-step throughput per mesh layout: data / FSDP / tensor / FSDP x tensor.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 python -m experiments.bench.scaling \
      --config=experiments/configs/gpt_shakespeare_char.py \
      --config.data.batch_size=16 --config.model.vocab_size=128 [--steps=10] [--warmup=2] \
      [--layouts=data,fsdp,tensor,fsdp_tensor]

Each layout runs train_throughput.benchmark (the project's own jit step, shardings and
data), so compile time, median step time, tokens/s, peak memory and MFU mean what they
mean there. `state_mib_per_device` is the params + optimizer state one device holds (what
FSDP and tensor parallelism shrink). Host RSS is a process high-water mark, so on CPU it
only grows across layouts; on GPU/TPU the device peak is reported. Layouts, for N devices:
data (N, 1, 1), fsdp (1, N, 1), tensor (N/2, 1, 2), fsdp_tensor (1, N/2, 2). Every sharded
dimension must divide its mesh axes (the error names the param): with tensor=2 a char
vocab needs model.vocab_size padded (e.g. 128). Prints a table, then one JSON line.

On simulated CPU devices all "devices" share the same cores, so the table measures the
sharding's overhead (collectives, resharding), not speedup.

GPU/TPU recipe (same script, real devices, bf16 compute, float32 params):
  python -m experiments.bench.scaling --config=experiments/configs/<350M GPT>.py \
      --config.model.dtype=bfloat16 --config.model.attention_impl=cudnn \
      --config.model.remat=dots_saveable --config.data.batch_size=<multiple of devices> \
      --steps=20 --warmup=3
Leave XLA_FLAGS unset there (jax sees the real devices). MFU is against the measured peak
of the local device (train.flops.measure_system_peak_flops), never a datasheet number.
Multi-host: run the same command on every host after jax.distributed.initialize.
"""
from __future__ import annotations

import json
import os
import tempfile

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from experiments.bench import train_throughput  # defines --config, --steps, --warmup, --workdir
from train import cli

LAYOUTS = ("data", "fsdp", "tensor", "fsdp_tensor")
_LAYOUTS = flags.DEFINE_list("layouts", list(LAYOUTS), f"Mesh layouts to time: {LAYOUTS}.")
FLAGS = flags.FLAGS


def layout_mesh(layout: str, num_devices: int) -> tuple[int, int, int]:
  """(data, fsdp, tensor) of a named layout over `num_devices`."""
  shapes = {"data": (num_devices, 1, 1), "fsdp": (1, num_devices, 1),
            "tensor": (num_devices // 2, 1, 2), "fsdp_tensor": (1, num_devices // 2, 2)}
  if layout not in shapes:
    raise ValueError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)}")
  return shapes[layout]


def state_mib_per_device(config, workdir: str) -> float:
  """MiB of params + optimizer state on one device under the config's mesh."""
  import numpy as np
  import jax
  from train import experiment as experiment_lib

  exp = experiment_lib.build(config, workdir)
  return sum(np.prod(x.sharding.shard_shape(x.shape)) * x.dtype.itemsize
             for x in jax.tree.leaves(exp.abstract_state)) / 2**20


def run(config, workdir: str, layouts: list[str], steps: int, warmup: int,
        name: str = "") -> list[dict]:
  """One train_throughput row per layout, plus its mesh and per-device state size."""
  import jax

  rows = []
  for layout in layouts:
    c = config.copy_and_resolve_references()
    c.mesh.data, c.mesh.fsdp, c.mesh.tensor = layout_mesh(layout, jax.device_count())
    row = train_throughput.benchmark(c, workdir, steps, warmup, name)
    row.update(layout=layout, mesh=[c.mesh.data, c.mesh.fsdp, c.mesh.tensor],
               state_mib_per_device=state_mib_per_device(c, workdir))
    rows.append(row)
  return rows


def format_table(rows: list[dict]) -> str:
  head = (f"{'layout':<12} {'mesh d/f/t':<11} {'compile s':>9} {'step ms':>9} {'tokens/s':>10} "
          f"{'MFU %':>7} {'state MiB/dev':>13} {'peak MiB':>9} {'loss':>7}")
  lines = [head, "-" * len(head)]
  for r in rows:
    lines.append(
        f"{r['layout']:<12} {'/'.join(map(str, r['mesh'])):<11} {r['compile_s']:>9.2f} "
        f"{r['step_time_s'] * 1e3:>9.2f} {r['tokens_per_sec']:>10,.0f} {r['mfu'] * 100:>7.2f} "
        f"{r['state_mib_per_device']:>13.3f} {r['peak_memory_mb']:>9,.0f} "
        f"{r['final_loss']:>7.4f}")
  return "\n".join(lines)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not FLAGS["verbosity"].present:
    logging.set_verbosity(logging.ERROR)
  name = os.path.splitext(os.path.basename(
      config_flags.get_config_filename(FLAGS["config"])))[0]
  with tempfile.TemporaryDirectory(prefix="attnlab_scaling_") as tmp:
    workdir = os.path.abspath(FLAGS.workdir) if FLAGS.workdir else tmp
    rows = run(FLAGS.config, workdir, _LAYOUTS.value, FLAGS.steps, FLAGS.warmup, name)
  print(format_table(rows))
  print(json.dumps({"benchmark": "scaling", "config": name, "rows": rows}, sort_keys=True),
        flush=True)


if __name__ == "__main__":
  cli.run(main)
