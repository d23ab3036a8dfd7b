"""MFU of the train step on random tokens: for accelerators, where data loading is not the point.

Uses the project's own model, optimizer, sharded state and jit step (train.step), with
random token batches already on the mesh, so it needs neither TFDS nor Grain on the machine.
The peak is measured on the spot (train.flops.measure_system_peak_flops, a large matmul in
the compute dtype), never a datasheet number.

GPU recipe (a ~350M GPT, bf16 compute, float32 params):
  python -m experiments.bench.synthetic_mfu --preset=gpt350m --batch_size=16 --seq_len=2048 \
      --variants=jax:none,jax:dots_saveable,xla:none
Tiny CPU check:
  python -m experiments.bench.synthetic_mfu --preset=tiny --steps=3 --variants=xla:none
Prints one JSON line per variant (tokens_per_sec, step_time_s, compile_s, peak_memory_mb, mfu).
"""
from __future__ import annotations

import json
import statistics
import time

from absl import flags
from train import cli

_PRESET = flags.DEFINE_enum("preset", "tiny", ["tiny", "gpt125m", "gpt350m"], "Model size.")
_BATCH = flags.DEFINE_integer("batch_size", 8, "Global batch (sequences).")
_SEQ = flags.DEFINE_integer("seq_len", 128, "Tokens per sequence.")
_STEPS = flags.DEFINE_integer("steps", 10, "Timed steps (median reported).")
_WARMUP = flags.DEFINE_integer("warmup", 2, "Untimed steps after compile.")
_DTYPE = flags.DEFINE_string("dtype", "bfloat16", "Compute dtype (params stay float32).")
_VARIANTS = flags.DEFINE_list(
    "variants", ["jax:none"], "attention_impl:remat pairs to measure, e.g. jax:dots_saveable.")

PRESETS = {  # d_model, layers, heads, mlp, vocab
    "tiny": (64, 2, 4, 256, 512),
    "gpt125m": (768, 12, 12, 3072, 32768),
    "gpt350m": (1024, 24, 16, 4096, 32768),
}


def make_config(preset: str, seq_len: int, batch_size: int, dtype: str, attention_impl: str,
                remat: str):
  """base config + a preset size; scanned layers keep compile time flat in depth."""
  from experiments.configs import base
  c = base.get_config()
  d, layers, heads, mlp, vocab = PRESETS[preset]
  c.model.update(d_model=d, num_layers=layers, num_heads=heads, mlp_dim=mlp, vocab_size=vocab,
                 max_len=seq_len, dtype=dtype, attention_impl=attention_impl, remat=remat,
                 scan_layers=True)
  c.data.update(seq_len=seq_len, batch_size=batch_size)
  c.train.update(steps=1000, warmup_steps=10)
  return c


def measure(config, steps: int, warmup: int) -> dict:
  """Compile and time the project's train step on random tokens."""
  import jax
  import numpy as np

  import model as model_lib
  from model import layers as layers_lib
  from train import flops as flops_lib
  from train import optimizer as optimizer_lib
  from train import partitioning
  from train import state as state_lib
  from train import step as step_lib
  from train import tasks

  model = model_lib.build(config.model)
  tx = optimizer_lib.make_optimizer(config.train)
  mesh = partitioning.make_mesh(config.mesh)
  b, t, v = config.data.batch_size, config.data.seq_len, config.model.vocab_size
  rng = np.random.default_rng(0)

  def batch():
    toks = rng.integers(0, v, (b, t + 1), dtype=np.int32)
    return partitioning.global_batch(
        {"inputs": toks[:, :-1], "targets": toks[:, 1:], "weights": np.ones((b, t), np.float32),
         "segment_ids": np.ones((b, t), np.int32),
         "positions": np.tile(np.arange(t, dtype=np.int32), (b, 1))}, mesh)

  with partitioning.mesh_context(mesh):
    batches = [batch() for _ in range(1 + warmup + steps)]
    _, shardings = state_lib.state_shardings(model, tx, t, config.seed, mesh)
    state = state_lib.create_train_state(model, tx, t, config.seed, mesh, shardings)
    loss_fn = tasks.for_config(config).make_loss_fn(config, model)
    train_fn, _ = step_lib.compile_steps(loss_fn, tx, shardings, mesh,
                                         optimizer_lib.make_schedule(config.train))
    t0 = time.perf_counter()
    compiled = train_fn.lower(state, batches[0]).compile()
    compile_s = time.perf_counter() - t0
    for bt in batches[:1 + warmup]:
      state, metrics = compiled(state, bt)
    jax.block_until_ready(metrics)
    times = []
    for bt in batches[1 + warmup:]:
      t0 = time.perf_counter()
      state, metrics = compiled(state, bt)
      jax.block_until_ready(metrics)
      times.append(time.perf_counter() - t0)
  step_time = statistics.median(times)
  tokens_per_sec = b * t / step_time
  per_token = flops_lib.flops_per_token(model.cfg, t)
  peak = flops_lib.measure_system_peak_flops(layers_lib.DTYPES[config.model.dtype])
  mem = [d.memory_stats() or {} for d in mesh.devices.flat] if jax.default_backend() != "cpu" else []
  peak_mb = max((m.get("peak_bytes_in_use", 0) for m in mem), default=0) / 2**20
  return {
      "backend": jax.default_backend(), "device": str(jax.devices()[0].device_kind),
      "params": int(sum(x.size for x in jax.tree.leaves(state.params))),
      "attention_impl": config.model.attention_impl, "remat": config.model.remat,
      "dtype": config.model.dtype, "batch_size": b, "seq_len": t, "compile_s": compile_s,
      "step_time_s": step_time, "tokens_per_sec": tokens_per_sec,
      "model_flops_per_token": per_token, "peak_flops": peak,
      "mfu": tokens_per_sec * per_token / peak, "peak_memory_mb": peak_mb,
      "loss": float(jax.device_get(metrics["loss"])),
  }


def main(argv):
  del argv
  for variant in _VARIANTS.value:
    impl, remat = variant.split(":")
    config = make_config(_PRESET.value, _SEQ.value, _BATCH.value, _DTYPE.value, impl, remat)
    print(json.dumps(measure(config, _STEPS.value, _WARMUP.value)), flush=True)


if __name__ == "__main__":
  cli.run(main)
