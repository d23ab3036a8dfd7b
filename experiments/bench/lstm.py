"""LSTM train-step throughput (forward + backward + SGD) at Zaremba's PTB shapes.

  python -m experiments.bench.lstm [--steps=30] [--warmup=3] [--shapes=small,medium]
      [--torch_python=PATH --rounds=2]

small: 2 x 200, batch 20, unroll 20, vocab 10k (Zaremba et al. 2014 "small"); medium:
2 x 650, batch 20, unroll 35, vocab 10k. The model is model.build's LSTM (untied output
layer with a bias, uniform +-0.1 init, as the recipe), the loss the causal_lm objective's,
the update plain SGD with the gradient clipped at global norm 5: the same jit step shape
as train/step.py, on random tokens already on the device (no data time).

--torch_python names an interpreter that has torch (not an attnlab dependency): the same
model and step in PyTorch (experiments/bench/torch_lstm.py, the word_language_model
example's model without dropout) then runs in that interpreter, alternating with attnlab
shape by shape for --rounds rounds, and the JSON gains torch's medians and the ratio
attnlab/torch tokens/s taken over all rounds. Prints one JSON object as the last stdout
line; the machine's load average is in it, since the 2 cores may be shared.
"""
from __future__ import annotations

import json
import os
import statistics

from absl import app
from absl import flags

from experiments.bench import timing
from train import cli

_STEPS = flags.DEFINE_integer("steps", 30, "Timed steps per shape (median is reported).")
_WARMUP = flags.DEFINE_integer("warmup", 3, "Untimed steps after the compile.")
_SHAPES = flags.DEFINE_list("shapes", ["small", "medium"], "Shapes to time.")
_TORCH_PYTHON = flags.DEFINE_string(
    "torch_python", None, "A Python with torch installed: also time PyTorch's step.")
_ROUNDS = flags.DEFINE_integer("rounds", 1, "Alternating rounds of attnlab (and torch).")

# name -> (hidden size, layers, batch, unroll); vocabulary 10k (PTB).
SHAPES = {"small": (200, 2, 20, 20), "medium": (650, 2, 20, 35)}
VOCAB = 10_000


def _model_config(hidden: int, layers: int, unroll: int):
  from experiments.configs import base
  m = base.get_config().model
  m.family, m.vocab_size, m.d_model, m.num_layers, m.max_len = (
      "lstm", VOCAB, hidden, layers, unroll)
  m.tie_embeddings = False
  for key, value in (("output_bias", True), ("init_uniform", 0.1)):  # the recipe's, where known
    if key in m:
      m[key] = value
  return m


def benchmark(shape: str, steps: int, warmup: int) -> dict:
  """Compile and time the train step at `shape`; returns its result row."""
  import flax.linen
  import jax
  import jax.numpy as jnp
  import optax

  import model as model_lib
  from train import objectives
  from train import step as step_lib
  from train.state import TrainState

  hidden, layers, batch, unroll = SHAPES[shape]
  module = model_lib.build(_model_config(hidden, layers, unroll))
  tx = optax.chain(optax.clip_by_global_norm(5.0), optax.sgd(1.0))
  loss_fn = objectives.make_causal_lm(module, False)
  params = module.init(jax.random.key(0), jnp.zeros((batch, unroll), jnp.int32))["params"]
  params = flax.linen.meta.unbox(params)
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                     opt_state=tx.init(params), rng=jax.random.key_data(jax.random.key(1)))
  train = jax.jit(lambda s, b: step_lib.train_step(s, b, loss_fn=loss_fn, tx=tx),
                  donate_argnums=(0,))
  keys = jax.random.split(jax.random.key(2), 1 + warmup + steps)
  batches = []
  for k in keys:
    tokens = jax.random.randint(k, (batch, unroll + 1), 0, VOCAB, jnp.int32)
    batches.append({"inputs": tokens[:, :-1], "targets": tokens[:, 1:],
                    "weights": jnp.ones((batch, unroll), jnp.float32)})
  jax.block_until_ready(batches)
  timed = timing.time_train_steps(train, state, batches, warmup)
  times, metrics = timed.times, timed.metrics
  return {"shape": shape, "hidden": hidden, "layers": layers, "batch": batch,
          "unroll": unroll, "vocab": VOCAB, "compile_s": round(timed.compile_s, 2),
          **_step_stats(times, timed.cpu_per_step, batch * unroll),
          "loss": float(jax.device_get(metrics["loss"]))}


def _step_stats(times: list[float], cpu_per_step: float, tokens: int) -> dict:
  return {"times": times, **timing.step_stats(times, cpu_per_step, tokens)}


def torch_benchmark(python: str, shape: str, steps: int, warmup: int) -> dict:
  """The same shape's step in PyTorch, run by `python` (a subprocess, so the two
  libraries never share a process or its thread pools)."""
  hidden, layers, batch, unroll = SHAPES[shape]
  try:
    row = timing.run_torch_script(python, "torch_lstm.py", [
        str(x) for x in (hidden, layers, batch, unroll, VOCAB, steps, warmup)])
  except ValueError as e:
    raise app.UsageError(str(e))
  return {"shape": shape, "torch": row["torch"], "threads": row["threads"],
          "loss": row["loss"], **_step_stats(row["times"], row["cpu_per_step"], batch * unroll)}


def _print_row(name: str, row: dict) -> None:
  print(f"{name:16s} {row['step_ms']:8.2f} ms/step  {row['tokens_per_sec']:9,.0f} tokens/s "
        f"(min {row['step_min_ms']:.2f} ms, CPU {row['cpu_ms_per_step']:.0f} ms/step)",
        flush=True)


def main(argv):
  del argv
  import jax
  out = {"backend": jax.default_backend(), "steps": _STEPS.value, "rounds": _ROUNDS.value,
         "load_avg_before": os.getloadavg()[0], **timing.run_setup()}
  runs = {}  # (library, shape) -> rows, one per round
  for r in range(_ROUNDS.value):
    for shape in _SHAPES.value:
      row = benchmark(shape, _STEPS.value, _WARMUP.value)
      _print_row(f"{shape} attnlab", row)
      runs.setdefault(("attnlab", shape), []).append(row)
      if _TORCH_PYTHON.value:
        row = torch_benchmark(_TORCH_PYTHON.value, shape, _STEPS.value, _WARMUP.value)
        _print_row(f"{shape} torch", row)
        runs.setdefault(("torch", shape), []).append(row)
  for (library, shape), rows in runs.items():
    times = [t for row in rows for t in row["times"]]
    merged = {k: v for k, v in rows[-1].items() if k != "times"}
    batch, unroll = SHAPES[shape][2:]
    cpu = statistics.mean(row["cpu_ms_per_step"] for row in rows) / 1e3
    merged.update({k: v for k, v in _step_stats(times, cpu, batch * unroll).items()
                   if k != "times"})
    out[shape if library == "attnlab" else f"{shape}_torch"] = merged
  if _TORCH_PYTHON.value:
    out["ratio_tokens_per_sec"] = {
        shape: round(out[shape]["tokens_per_sec"] / out[f"{shape}_torch"]["tokens_per_sec"], 3)
        for shape in _SHAPES.value}
  out["load_avg_after"] = os.getloadavg()[0]
  print(json.dumps(out, sort_keys=True), flush=True)


if __name__ == "__main__":
  cli.run(main)
