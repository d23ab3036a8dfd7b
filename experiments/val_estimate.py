"""How far a nanoGPT-style validation estimate strays from the whole-split loss.

  python -m experiments.val_estimate --workdir=runs/shakespeare_char [--batches=20] \
      [--batch_size=12] [--estimates=200]

nanoGPT reports `estimate_loss()`: the mean loss of `eval_iters` batches of windows drawn
at random offsets of the validation stream (its CPU shakespeare_char command sets
eval_iters=20, batch 12, block 64). attnlab's final.json scores every validation token
once. This restores a finished run and draws `estimates` such estimates (seeds 0..N-1) with
the same params, so a gap between the two programs' numbers can be set against the spread
of the estimator itself. Prints one JSON object.
"""
from __future__ import annotations

import json
import os

from absl import flags

from train import cli

_WORKDIR = flags.DEFINE_string("workdir", None, "A finished causal-LM run's workdir.")
_BATCHES = flags.DEFINE_integer("batches", 20, "Batches per estimate (nanoGPT's eval_iters).")
_BATCH_SIZE = flags.DEFINE_integer("batch_size", 12, "Windows per batch.")
_ESTIMATES = flags.DEFINE_integer("estimates", 200, "Estimates drawn (seeds 0..N-1).")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  del argv
  import jax
  import jax.numpy as jnp
  import numpy as np
  import optax

  from data import grain_ops
  from data import sources
  from eval import restore

  restored = restore.restore_params(_WORKDIR.value)
  exp, params = restored.exp, restored.params
  cfg = exp.config.data
  split = cfg.eval_split
  tokenize = grain_ops.Tokenize(exp.tokenizer, sources.text_key(cfg), add_eos=False)
  source = sources.get_source(cfg, split)
  stream = np.concatenate([tokenize.map(source[i]) for i in range(len(source))])
  length = cfg.seq_len
  stream_j = jnp.asarray(stream)

  @jax.jit
  def batch_loss(starts_B):
    rows = stream_j[starts_B[:, None] + jnp.arange(length + 1)[None]]
    logits = exp.model.apply({"params": params}, rows[:, :-1])
    return optax.softmax_cross_entropy_with_integer_labels(logits, rows[:, 1:]).mean()

  estimates = []
  for seed in range(_ESTIMATES.value):
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(stream) - length, size=(_BATCHES.value, _BATCH_SIZE.value))
    estimates.append(float(np.mean([batch_loss(jnp.asarray(s)) for s in starts])))
  estimates = np.asarray(estimates)
  final_path = os.path.join(_WORKDIR.value, "final.json")
  whole = json.load(open(final_path))["loss"] if os.path.exists(final_path) else None
  print(json.dumps({
      "workdir": _WORKDIR.value, "step": restored.step, "split": split,
      "whole_split_loss": whole, "estimate_batches": _BATCHES.value,
      "estimate_batch_size": _BATCH_SIZE.value, "seq_len": length,
      "estimates": len(estimates), "estimate_mean": float(estimates.mean()),
      "estimate_std": float(estimates.std(ddof=1)),
      "estimate_p05": float(np.percentile(estimates, 5)),
      "estimate_p95": float(np.percentile(estimates, 95)),
      "estimate_min": float(estimates.min()), "estimate_max": float(estimates.max())}))


if __name__ == "__main__":
  cli.run(main)
