"""One GRPO iteration's time, split into generation, scoring and the update.

  python -m experiments.bench.rl_iteration --config=experiments/configs/grpo_tiny.py \
      [--steps=5] [--warmup=1] [--reps=5] [--workdir=DIR] [--config.x=y]

Builds the run as train.main would (tokenizer, prompts pipeline, frozen reference; with no
init_from the policy is the config's random init: speed does not depend on training) and
times, on the same params and the first batch of rollouts:
- generate: the rollout loop the train step runs (eval/sampling.rollout_loop: N = prompts x
  rl.group_size rows, rl.max_new_tokens sampled tokens each, KV cache), jit-compiled alone;
- reference: `eval/decode_speed` (the cached decode of experiments/bench/generate.py) at the
  same model, rows, prompt length and new tokens; the rollout loop should run at >= 80 % of it;
- score: the policy and reference log-probs of the rollouts and their reward (the loss's
  forward without generation);
- step: the whole jit train step (median of --steps after --warmup); update = step -
  generate - score (the backward and the optimizer).
With no data.train_files, a few Python-like prompts are written to the workdir (and with no
init_from the tokenizer is trained on them, so a token reward counts "e"). Prints a
table, then one JSON object as the last stdout line (with the load average: the 2 cores
may be shared).
"""
from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from typing import Any, Callable

from absl import app
from absl import flags
from absl import logging

from experiments.bench import timing
from experiments.bench import train_throughput  # noqa: F401 (--config, --steps, --warmup, --workdir)
from train import cli

_REPS = flags.DEFINE_integer("reps", 5, "Timed calls of each phase (median is reported).")
FLAGS = flags.FLAGS

PROMPTS = ("def ", "class ", "import ", "for ", "if ", "return ", "with ", "while ")


def median_seconds(fn: Callable[[], Any], reps: int) -> float:
  """Median wall time of fn() over reps calls after one untimed (compiling) call."""
  import jax
  jax.block_until_ready(fn())
  times = []
  for _ in range(reps):
    start = time.perf_counter()
    jax.block_until_ready(fn())
    times.append(time.perf_counter() - start)
  return statistics.median(times)


def benchmark(config: Any, workdir: str, steps: int, warmup: int, reps: int) -> dict:
  """The phases' times and the rollout loop's tokens/s (see module docstring)."""
  import jax
  import jax.numpy as jnp

  from eval import decode_speed
  from eval import sampling
  from train import experiment as experiment_lib
  from train import partitioning
  from train import state as state_lib
  from train import step as step_lib
  from train import tasks
  from train.tasks import grpo

  if tasks.get(config.objective) is not grpo.TASK:  # it reads GRPO's rollouts and scoring
    raise ValueError(f"objective={config.objective!r}: this benchmark times a grpo step; "
                     "give an objective=grpo config (experiments/configs/grpo_tiny.py)")
  config = config.copy_and_resolve_references()
  if not config.data.train_files:
    path = os.path.join(workdir, "prompts.txt")
    with open(path, "w") as f:
      f.write("\n".join(PROMPTS) + "\n")
    config.data.train_files = config.data.validation_files = path
    if not config.init_from and config.rl.reward.startswith("token:"):
      config.rl.reward = "token:e"  # one piece of a tokenizer trained on PROMPTS
  exp = experiment_lib.build(config, workdir)
  config, rl = exp.config, exp.config.rl
  ds = exp.task.make_dataset(config.data, exp.tokenizer, config.data.train_split,
                             seed=config.seed, train=True, task_cfg=config.task)
  it = iter(ds)
  with partitioning.mesh_context(exp.mesh, exp.rules):
    batches = [partitioning.global_batch(next(it), exp.mesh) for _ in range(1 + warmup + steps)]
    state = state_lib.create_train_state(exp.model, exp.tx, config.data.seq_len, config.seed,
                                         exp.mesh, exp.shardings, exp.rules,
                                         frozen_fn=exp.frozen_fn)
    train_fn, _ = step_lib.compile_steps(exp.loss_fn, exp.tx, exp.shardings, exp.mesh,
                                         exp.schedule)
    params, frozen, batch = state.params, state.frozen, batches[0]
    p, g, m = config.data.seq_len, rl.group_size, rl.max_new_tokens
    prompt = jnp.repeat(batch["prompt"], g, axis=0)
    pad = jnp.repeat(batch["prompt_pad"][:, 0], g)
    rows = prompt.shape[0]
    rollout = jax.jit(sampling.rollout_loop(exp.model, p, m, rl.temperature))
    rng = jax.random.PRNGKey(0)
    generate_s = median_seconds(lambda: rollout(params, prompt, pad, rng), reps)
    response = rollout(params, prompt, pad, rng)[0]
    reward_fn = grpo.make_reward_fn(config)

    @jax.jit
    def score(params, frozen):
      mask = grpo.response_mask(response, frozen["tokens"]["eos"])
      seq = jnp.concatenate([prompt, response], axis=1)
      logp, ref = grpo.policy_and_reference(exp.model, params, frozen["reference"], seq, pad, p)
      return logp, ref, reward_fn(frozen, prompt, pad, response, mask)
    score_s = median_seconds(lambda: score(params, frozen), reps)
    reference_tps, _ = decode_speed.decode_tokens_per_sec(
        exp.model, jax.device_get(params), batch=rows, prompt_len=p, new_tokens=m,
        max_len=p + m, vocab_size=exp.model_config.vocab_size)
    timed = timing.time_train_steps(train_fn, state, batches, warmup)
  step_s = statistics.median(timed.times)
  update_s = step_s - generate_s - score_s
  rollout_tps = rows * m / generate_s
  return {
      "config": config.objective, "rows": rows, "prompt_len": p, "new_tokens": m,
      "params": int(sum(x.size for x in jax.tree.leaves(params))),
      "rollout_tokens_per_sec": rollout_tps, "reference_decode_tokens_per_sec": reference_tps,
      "rollout_vs_reference": rollout_tps / reference_tps,
      "generate_s": generate_s, "score_s": score_s, "step_s": step_s,
      "update_s": update_s,
      "generate_fraction": generate_s / step_s, "score_fraction": score_s / step_s,
      "update_fraction": update_s / step_s,
      "compile_s": timed.compile_s, "steps": steps, "host_peak_rss_mb": timing.peak_rss_mb(),
  }


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  if not flags.FLAGS["verbosity"].present:
    logging.set_verbosity(logging.ERROR)
  load_before = os.getloadavg()[0]
  with tempfile.TemporaryDirectory(prefix="attnlab_rl_bench_") as tmp:
    row = benchmark(FLAGS.config, os.path.abspath(FLAGS.workdir or tmp), FLAGS.steps,
                    FLAGS.warmup, _REPS.value)
  row.update(load_avg_before=load_before, load_avg_after=os.getloadavg()[0])
  print(f"rollouts   {row['rows']} rows x {row['new_tokens']} tokens after {row['prompt_len']}: "
        f"{row['rollout_tokens_per_sec']:,.0f} tokens/s = {row['rollout_vs_reference']:.2f}x "
        f"the cached decode's {row['reference_decode_tokens_per_sec']:,.0f}")
  print(f"step       {row['step_s'] * 1e3:.0f} ms: generate {row['generate_fraction']:.0%}, "
        f"score {row['score_fraction']:.0%}, update {row['update_fraction']:.0%}; "
        f"peak RSS {row['host_peak_rss_mb']:,.0f} MiB")
  print(json.dumps(row, sort_keys=True), flush=True)


if __name__ == "__main__":
  cli.run(main)
