"""Many runs in one step: K runs of one shape trained together over a leading run axis
(jax.vmap; on CPU with the run axis off the mesh, lax.map: see _Group).

  python -m train.packed --config=CONFIG.py \
      --runs='[{"workdir": "/tmp/a", "overrides": {"seed": 0, "train.learning_rate": 1e-3}},
               {"workdir": "/tmp/b", "overrides": {"seed": 1, "train.learning_rate": 3e-3}}]'

(`--runs=@group.json` reads the same list from a file; `--config.<key>=<value>` overrides
apply to every run.) The runs of a group may differ only in `seed` and the optimizer
numbers of `optimizer.PACKABLE_KEYS` (not in whether grad_clip, momentum or weight_decay is
0): everything else (model, data, schedule shape, budget) is one config, so the group
shares one tokenizer, one data preparation and ONE jit-compiled step whose params,
optimizer state, RNG (and LSTM carry) have a leading run axis. Each run has its own seed
(init, dropout, data order: its own Grain iterator) and its own hyperparameters, passed to
the step as [K] arrays and built into its optimizer chain inside the step.

Each run writes a standalone workdir: config.json, tokenizer/ (a copy), metrics.jsonl
rows, checkpoints of its own unstacked state and data position (restorable alone, by
`eval.main --workdir=<run>` or by `train.main`, which resumes it on its own), final.json.
Rerunning the same group resumes it exactly; runs that already have final.json are left
out. A run whose loss goes non-finite is reported on stderr and masked: no more rows,
checkpoints or final.json for it, while the others go on.

The run axis goes on the mesh's `data` axis when the group size is a multiple of it (each
device trains whole runs; activation constraints keep `batch` on `fsdp`), else it is
replicated and each run's batch is split over `data` as in a single run.
Not packable yet (refused with the reason): init_from, train.plateau_factor,
train.early_stop_patience, train.restart_data_order, several processes.
"""
from __future__ import annotations

import contextlib
import copy
import dataclasses
import hashlib
import itertools
import json
import math
import os
import shutil
import sys
from typing import Any, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import traverse_util
from jax.sharding import NamedSharding, PartitionSpec as P
from tqdm import tqdm

from eval import end_of_run
from eval import evaluate as evaluate_lib
from train import checkpoint as checkpoint_lib
from train import experiment as experiment_lib
from train import graceful_stop
from train import loop
from train import model_selection
from train import optimizer as optimizer_lib
from train import partitioning
from train import provenance
from train import state as state_lib
from train import step as step_lib
from train import task_objectives
from train import workdir as workdir_lib
from train.metrics_writer import MetricsWriter

PACKABLE_KEYS = optimizer_lib.PACKABLE_KEYS
RUN_AXIS = "data"  # the mesh axis the run axis goes on when the group size allows
_UNSET = "<not set>"
# Structural facts of the packable numbers: the optimizer chain's shape depends on them.
_STRUCTURE = (("grad_clip", "clipping on"), ("momentum", "momentum on"),
              ("weight_decay", "weight decay on"))


def packing_key(config: ml_collections.ConfigDict) -> dict[str, Any]:
  """What runs of one packed group share: the flat config without seed and the packable
  train.* numbers, plus whether grad_clip, momentum and weight_decay are > 0."""
  flat = traverse_util.flatten_dict(config.to_dict(), sep=".")
  packable = {f"train.{k}" for k in PACKABLE_KEYS} | {"seed"}
  key = {k: v for k, v in flat.items() if k not in packable}
  for name, what in _STRUCTURE:
    key[f"train.{name} > 0 ({what})"] = bool(config.train[name] > 0)
  return key


def group_id(config: ml_collections.ConfigDict) -> str:
  """A short stable name of a config's packing key (runs with equal ids pack together)."""
  text = json.dumps(packing_key(config), sort_keys=True, default=str)
  return hashlib.sha1(text.encode()).hexdigest()[:10]


def check_packable(configs: list[ml_collections.ConfigDict]) -> None:
  """ValueError naming the first key in which a run's config differs from run 0's
  beyond seed and PACKABLE_KEYS; also refuses what a packed group cannot train yet."""
  first = packing_key(configs[0])
  for i, config in enumerate(configs[1:], 1):
    key = packing_key(config)
    for k in sorted(set(first) | set(key)):
      if first.get(k, _UNSET) != key.get(k, _UNSET):
        raise ValueError(
            f"run {i} cannot be packed with run 0: {k} is {key.get(k, _UNSET)!r} there "
            f"and {first.get(k, _UNSET)!r} in run 0. The runs of a packed group may differ "
            f"only in seed and train.{{{','.join(PACKABLE_KEYS)}}} (and not in whether "
            "grad_clip, momentum or weight_decay is 0); train the others as another group")
  c = configs[0]
  for unsupported, key, value in (
      (bool(c.init_from), "init_from", c.init_from),
      (c.train.plateau_factor > 0, "train.plateau_factor", c.train.plateau_factor),
      (c.train.early_stop_patience > 0, "train.early_stop_patience",
       c.train.early_stop_patience),
      (c.train.restart_data_order, "train.restart_data_order", c.train.restart_data_order)):
    if unsupported:
      raise ValueError(f"{key}={value!r} is not supported in a packed group yet; train "
                       "these runs one by one with python -m train.main")


def train_group(configs: list[ml_collections.ConfigDict], workdirs: list[str],
                stop_after: Optional[int] = None) -> list[Optional[dict]]:
  """Train the runs (configs[i] into workdirs[i]) as one packed group; their reports.

  Each report is the run's final.json (also for a run finished before: it is left out of
  the group), or None for a run that diverged (masked) or when stop_after (leave after
  that step with checkpoints, as a preempted job would) ended the group early. Runs whose
  checkpoints are at different steps (one resumed alone, one that diverged earlier) train
  as sub-groups one after another, each resumed exactly.
  """
  if not configs or len(configs) != len(workdirs):
    raise ValueError(f"a packed group needs one workdir per config; got {len(configs)} "
                     f"configs and {len(workdirs)} workdirs")
  workdirs = [os.path.abspath(w) for w in workdirs]
  if len(set(workdirs)) != len(workdirs):
    raise ValueError(f"the runs of a packed group need distinct workdirs; got {workdirs}")
  if jax.process_count() > 1:
    raise ValueError("a packed group runs in one process; train multi-host runs one by one")
  for config in configs:
    experiment_lib.validate(config)  # before any workdir is created or locked
    end_of_run.check_config(config)
  check_packable(configs)
  with contextlib.ExitStack() as stack:
    for w in workdirs:
      os.makedirs(w, exist_ok=True)
      stack.enter_context(workdir_lib.WorkdirLock(w))
    stop = stack.enter_context(graceful_stop.StopOnSignal())
    ckpts = [stack.enter_context(contextlib.closing(checkpoint_lib.Checkpointer(
        os.path.join(w, "checkpoints"), keep=c.train.keep_checkpoints)))
        for c, w in zip(configs, workdirs)]
    try:
      return _train_resumable(configs, workdirs, ckpts, stop, stop_after)
    except Exception as e:  # ENOSPC in a checkpoint, metrics.jsonl, tb/, ...
      if not checkpoint_lib.is_disk_full(e):
        raise
      raise checkpoint_lib.DiskFullError(os.path.join(workdirs[0], "checkpoints")) from None


def _train_resumable(configs, workdirs, ckpts, stop, stop_after) -> list[Optional[dict]]:
  """Leave finished runs out; train the rest in sub-groups of equal resume step."""
  configs = [loop._resumed_config(c, w, ck) for c, w, ck in zip(configs, workdirs, ckpts)]
  reports: list[Optional[dict]] = [None] * len(configs)
  by_step: dict[Optional[int], list[int]] = {}
  for r, (config, w, ckpt) in enumerate(zip(configs, workdirs, ckpts)):
    latest = ckpt.latest_step()
    report = None if latest is None else loop._finished_report(w, latest)
    if report is not None and (config.train.epochs > 0 or latest >= config.train.steps):
      workdir_lib.warn(f"{w} already finished at step {latest}; left out of the group")
      reports[r] = report
      continue
    by_step.setdefault(latest, []).append(r)
  for latest in sorted(by_step, key=lambda s: -1 if s is None else s):
    idx = by_step[latest]
    out = _train_packed([configs[r] for r in idx], [workdirs[r] for r in idx],
                        [ckpts[r] for r in idx], stop, stop_after)
    for r, report in zip(idx, out):
      reports[r] = report
  return reports


def _copy_tokenizer(source: str, workdir: str) -> None:
  """workdir/tokenizer/ as a copy of source's (atomic: copy beside it, then rename)."""
  target = os.path.join(workdir, "tokenizer")
  if os.path.isdir(target) or os.path.abspath(source) == os.path.abspath(workdir):
    return
  tmp = f"{target}.tmp-{os.getpid()}"
  shutil.rmtree(tmp, ignore_errors=True)
  shutil.copytree(os.path.join(source, "tokenizer"), tmp)
  os.replace(tmp, target)


def _run_config(shared: ml_collections.ConfigDict,
                own: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The resolved config of one run: the group's (vocab size, steps from epochs, ...) with
  the run's own seed and packable numbers."""
  config = copy.deepcopy(shared)
  config.seed = own.seed
  for key in PACKABLE_KEYS:
    config.train[key] = own.train[key]
  return config


def _mesh_layout(exp: experiment_lib.Experiment, runs: int) -> tuple[Optional[str], tuple]:
  """(mesh axis of the run axis or None, the logical axis rules of the packed step).

  With the run axis on `data`, a run's activations may not use `data` too: the rules of the
  step drop it (batch stays on `fsdp`), and vmap adds it to every constraint's run axis."""
  size = exp.mesh.shape[RUN_AXIS]
  specs = [s.spec for s in jax.tree.leaves(exp.shardings)]
  uses_axis = any(RUN_AXIS == a or (isinstance(a, tuple) and RUN_AXIS in a)
                  for spec in specs for a in spec)
  if size == 1 or runs % size or uses_axis:
    return None, exp.rules
  def drop(axes):
    kept = tuple(a for a in ((axes,) if isinstance(axes, str) else (axes or ()))
                 if a != RUN_AXIS)
    return kept[0] if len(kept) == 1 else (kept or None)
  return RUN_AXIS, tuple((name, drop(axes)) for name, axes in exp.rules)


def _batch_axes(run_axis: Optional[str]) -> tuple:
  return tuple(a for a in ("data", "fsdp") if a != run_axis)


class _Group:
  """The stacked state of a group and the jitted functions over it."""

  def __init__(self, exp: experiment_lib.Experiment, run_configs: list, run_axis):
    self.exp, self.runs, self.run_axis = exp, len(run_configs), run_axis
    mesh = exp.mesh
    self.shardings = jax.tree.map(
        lambda s: NamedSharding(mesh, P(run_axis, *s.spec)), exp.shardings)
    self.batch_sharding = NamedSharding(mesh, P(run_axis, _batch_axes(run_axis)))
    runs_sharding = NamedSharding(mesh, P(run_axis))
    self.values = jax.device_put(
        {k: np.asarray([c.train[k] for c in run_configs], np.float32) for k in PACKABLE_KEYS},
        runs_sharding)
    t, seq_len, per_epoch = exp.config.train, exp.config.data.seq_len, exp.steps_per_epoch
    # XLA:CPU runs a vmapped step ~1.7x slower than the same runs' unbatched programs one
    # after another (gpt_tiny eval step, 6 runs: 11.8 s vs 7.0 s); on CPU, with the run
    # axis not on the mesh, the runs go through lax.map: each run's program as it is alone,
    # still one compile and one dispatch a step. Accelerators and a run axis on the mesh
    # vmap.
    self.mapped = run_axis is None and jax.default_backend() == "cpu"

    def one_run(state, batch, values):
      tx = optimizer_lib.make_optimizer(t, per_epoch, seq_len, values)
      schedule = optimizer_lib.make_schedule(t, per_epoch, values)
      return step_lib.train_step(state, batch, loss_fn=exp.loss_fn, tx=tx, schedule=schedule)

    options = step_lib.compiler_options(mesh, t.xla_cpu_scheduler)  # as compile_steps
    self.train = jax.jit(
        self._over_runs(one_run),
        in_shardings=(self.shardings, self.batch_sharding, runs_sharding),
        out_shardings=(self.shardings, partitioning.replicated(mesh)), donate_argnums=(0,),
        compiler_options=options)
    eval_one = lambda params, batch: step_lib.eval_step(params, batch, loss_fn=exp.loss_fn)
    self._eval_step = jax.jit(
        self._over_runs(eval_one),
        in_shardings=(self.shardings.params, self.batch_sharding),
        out_shardings=partitioning.replicated(mesh), compiler_options=options)
    seeds = jax.device_put(np.asarray([c.seed for c in run_configs], np.int32),
                           runs_sharding)
    # each run's state as state_lib.create_train_state makes it from its seed, all in one
    # compiled call (the optimizer state's init reads no hyperparameter value)
    init_one = lambda seed: state_lib._init_fn(  # noqa: E731
        exp.model, exp.tx, exp.config.data.seq_len, seed,
        exp.carry_fn)()
    # lax.map, not vmap: each run's init is the unbatched one. Batched, the LSTM's
    # orthogonal init (a LAPACK QR) hung XLA:CPU (jax 0.10.2): lstm_tiny groups of 2 and 36
    # runs waited forever in their first step with no CPU in use.
    self.init = lambda: jax.jit(lambda s: jax.lax.map(init_one, s),
                                out_shardings=self.shardings)(seeds)
    self.stack = jax.jit(lambda *states: jax.tree.map(lambda *x: jnp.stack(x), *states),
                         out_shardings=self.shardings)
    self._unstack = jax.jit(lambda s, r: jax.tree.map(lambda x: x[r], s),
                            out_shardings=exp.shardings)

  def _over_runs(self, fn):
    """fn of one run -> fn of the stacked runs (leading run axis in and out)."""
    if self.mapped:
      return lambda *args: jax.lax.map(lambda one: fn(*one), args)
    return jax.vmap(fn, spmd_axis_name=self.run_axis)

  def unstack(self, state: state_lib.TrainState, r: int) -> state_lib.TrainState:
    """Run r's own state, on the shardings of a single run (checkpoint, evaluation)."""
    return self._unstack(state, jnp.int32(r))

  def evaluate(self, state: state_lib.TrainState, exps: list, alive: list[bool],
               max_batches: int = 0) -> list[Optional[dict]]:
    """Each live run's metrics of one pass over the eval split (as evaluate_lib.evaluate
    gives for the run alone: its own eval data, seed included), all runs in one stacked
    eval step per batch; None for masked runs."""
    config = self.exp.config
    split = config.data.eval_split
    iters = [iter(self.exp.task.make_dataset(
        e.config.data, self.exp.tokenizer, split, seed=e.config.seed, process_index=0,
        process_count=1, train=False, task_cfg=e.config.task)) for e in exps]
    totals = [{"weight": 0.0} for _ in exps]
    collected: list[dict] = [{} for _ in exps]
    for i in itertools.count():
      if max_batches and i == max_batches:
        break
      local = [next(it, None) for it in iters]
      if all(b is None for b in local):
        break
      if any(b is None for b in local):
        raise ValueError(f"the runs' {split!r} splits have different numbers of batches; "
                         "this objective's evaluation cannot be packed")
      if i == 0:
        self.exp.task.check_batch(local[0])
      sums = jax.device_get(self._eval_step(state.params, self.batch(local)))
      for r in range(len(exps)):
        for k, v in sums.items():
          if k.startswith(task_objectives.PRED_PREFIX):
            collected[r].setdefault(k, []).append(np.asarray(v[r]))
          else:
            totals[r][k] = totals[r].get(k, 0.0) + np.asarray(v[r], np.float64)
    out: list[Optional[dict]] = []
    for r, e in enumerate(exps):
      if not alive[r]:
        out.append(None)
        continue
      if totals[r]["weight"] == 0:
        raise ValueError(f"split {split!r} of data.dataset={config.data.dataset!r} gave no "
                         "tokens to evaluate; is it empty or shorter than one sequence?")
      preds = {k: np.concatenate(v) for k, v in collected[r].items()}
      out.append(evaluate_lib.summarize(e, totals[r], preds,
                                        split if max_batches == 0 else None))
    return out

  def batch(self, local: list[dict]) -> dict:
    """The runs' batches stacked into [runs, batch, ...] arrays on the mesh."""
    stacked = {k: np.stack([np.asarray(b[k]) for b in local]) for k in local[0]}
    return jax.device_put(stacked, self.batch_sharding)


def _run_slice(metrics: dict, r: int) -> dict:
  return {k: v[r] for k, v in metrics.items()}


def _diverged(name: str, workdir: str, loss: float, step: int,
              last_saved: Optional[int]) -> None:
  print(f"attnlab: packed run {name} ({workdir}): training loss became {loss} by step "
        f"{step}; it is masked out of the group (no more rows, checkpoints or final.json; "
        f"its last good checkpoint is step {last_saved}). The other runs go on. Lower its "
        "train.learning_rate, keep train.grad_clip > 0 or add warmup.",
        file=sys.stderr, flush=True)


def _train_packed(configs, workdirs, ckpts, stop: graceful_stop.StopOnSignal,
                  stop_after: Optional[int]) -> list[Optional[dict]]:
  """Train runs whose checkpoints (if any) are at one step, as one packed group."""
  runs = len(configs)
  names = [os.path.basename(w) for w in workdirs]
  has_tokenizer = [w for w in workdirs if os.path.isdir(os.path.join(w, "tokenizer"))]
  source = has_tokenizer[0] if has_tokenizer else workdirs[0]
  first = workdirs.index(source)
  exp = experiment_lib.build(configs[first], source)  # tokenizer trained (or loaded) once
  if exp.frozen_fn is not None:
    raise ValueError(f"objective={exp.config.objective!r} keeps frozen trees in its state; "
                     "it is not supported in a packed group yet (train its runs one by one)")
  for w in workdirs:
    _copy_tokenizer(source, w)
  run_configs = [_run_config(exp.config, c) for c in configs]
  config, t = exp.config, exp.config.train
  per_epoch = exp.steps_per_epoch
  exps = [dataclasses.replace(
      exp, config=rc, workdir=w,
      tx=optimizer_lib.make_optimizer(rc.train, per_epoch, rc.data.seq_len),
      schedule=optimizer_lib.make_schedule(rc.train, per_epoch))
      for rc, w in zip(run_configs, workdirs)]
  iters = [iter(exp.task.make_dataset(
      rc.data, exp.tokenizer, rc.data.train_split, seed=rc.seed, process_index=0,
      process_count=1, train=True, task_cfg=rc.task)) for rc in run_configs]
  run_axis, step_rules = _mesh_layout(exp, runs)
  group = _Group(exp, run_configs, run_axis)
  _, eval_fn = step_lib.compile_steps(exp.loss_fn, exp.tx, exp.shardings, exp.mesh,
                                      cpu_scheduler=t.xla_cpu_scheduler)
  latest = ckpts[0].latest_step()
  states = []
  if latest is not None:
    for ckpt, it, w in zip(ckpts, iters, workdirs):
      if not ckpt.has_data_position(latest):
        raise ValueError(f"checkpoint step {latest} in {ckpt.directory} has no data "
                         "position; a packed group resumes only exactly (train it alone with "
                         "python -m train.main and train.restart_data_order=True)")
      state, step = ckpt.restore_newest(exp.abstract_state, it)
      if step != latest:
        raise ValueError(f"{w}: step {latest} could not be restored (step {step} was); "
                         "rerun to resume the group's runs from their steps")
      states.append(state)
  for rc, w in zip(run_configs, workdirs):
    experiment_lib.save_config(rc, w)  # only once the states exist
    provenance.record(w, latest or 0)
  with partitioning.mesh_context(exp.mesh, step_rules):
    state = group.init() if latest is None else group.stack(*states)
  states = None
  param_count = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(exp.abstract_state.params))
  writers = [MetricsWriter(w, latest or 0) for w in workdirs]
  selectors = [model_selection.ModelSelector.from_config(w, rc.train)
               for rc, w in zip(run_configs, workdirs)]
  start = latest or 0
  loop._note(f"packed group of {runs} runs ({', '.join(names)}): {param_count:,} params "
             f"each; run axis {'on mesh axis ' + run_axis if run_axis else 'replicated'}, "
             f"mesh {dict(exp.mesh.shape)}")
  epoch_of = lambda done: {}  # noqa: E731
  if per_epoch:
    epoch_of = lambda done: {"epoch": done / per_epoch}  # noqa: E731
  tokens_per_step = config.data.batch_size * config.data.seq_len  # per run
  mfu_per_token = loop.mfu_scale(exp)
  alive = [True] * runs
  last_saved = [latest] * runs
  pending: list[dict] = []

  def evaluate(state, max_batches: int) -> list[Optional[dict]]:
    """The live runs' evaluations: in one stacked pass, or (data.contiguous: the LSTM
    carry runs across eval batches) one run after another."""
    if not config.data.contiguous:
      return group.evaluate(state, exps, alive, max_batches)
    with partitioning.mesh_context(exp.mesh, exp.rules):
      return [evaluate_lib.evaluate(exps[r], group.unstack(state, r).params, eval_fn,
                                    max_batches) if alive[r] else None for r in range(runs)]

  def mask(r: int, loss: float, step: int) -> None:
    _diverged(names[r], workdirs[r], loss, step, last_saved[r])
    alive[r] = False
    writers[r].close()

  bar = tqdm(total=t.steps, initial=start, disable=not t.progress, desc=f"train x{runs}",
             dynamic_ncols=True)
  throughput = loop.Throughput(tokens_per_step, start)  # each run's
  try:
    with partitioning.mesh_context(exp.mesh, step_rules), stop.training():
      for step in range(start, t.steps):
        local = [next(it) for it in iters]
        if step == start:
          exp.task.check_batch(local[0])
        state, metrics = group.train(state, group.batch(local), group.values)
        pending.append(metrics)
        done = step + 1
        if done % t.log_every == 0 or done == t.steps:
          host = jax.device_get(pending)
          pending = []
          speed = throughput.tokens_per_sec(done)
          for r in (r for r in range(runs) if alive[r]):
            row = loop._mean_of([_run_slice(m, r) for m in host], exp.task.summarize)
            if not math.isfinite(row["loss"]):
              mask(r, row["loss"], done)
              continue
            row["tokens_per_sec"] = speed
            if mfu_per_token is not None:
              row["mfu"] = speed * mfu_per_token
            writers[r].write(done, "train", {**row, **epoch_of(done)})
          live = [r for r in range(runs) if alive[r]]
          if live:
            bar.set_postfix(loss=f"{np.mean([host[-1]['loss'][r] for r in live]):.3f}",
                            tok_s=f"{speed * runs:,.0f}")
        if done % t.eval_every == 0 and done != t.steps:
          with throughput.paused(state):
            rows = evaluate(state, t.eval_batches)
            for r in (r for r in range(runs) if alive[r]):
              writers[r].write(done, "eval", {**rows[r], **epoch_of(done)})
              selectors[r].update(done, group.unstack(state, r), rows[r],
                                  run_configs[r].to_dict())
        stopping = done == stop_after or stop.requested()
        if done % t.checkpoint_every == 0 or done == t.steps or stopping:
          with throughput.paused(state):
            if pending:  # never save a state whose loss went bad since the last log
              losses = jax.device_get(pending[-1]["loss"])
              for r in (r for r in range(runs) if alive[r] and not np.isfinite(losses[r])):
                mask(r, float(losses[r]), done)
            for r in (r for r in range(runs) if alive[r]):
              ckpts[r].save(done, group.unstack(state, r), iters[r], run_configs[r].to_dict())
              last_saved[r] = done
        bar.update(1)
        if stopping or not any(alive):
          break
  finally:  # finish (or fail) the pending async saves before leaving
    bar.close()
    for ckpt in ckpts:
      ckpt.wait()
  end = int(jax.device_get(state.step)[0])
  stopped = end < t.steps and (stop.signum is not None or stop_after is not None)
  if stopped or not any(alive):
    for r in range(runs):
      if alive[r]:
        writers[r].close()
      selectors[r].close()
    if stopped and stop.signum is not None:
      raise graceful_stop.Stopped(end, stop.signum)
    return [None] * runs
  reports: list[Optional[dict]] = [None] * runs
  with partitioning.mesh_context(exp.mesh, step_rules):
    finals = evaluate(state, t.final_eval_batches)
  with partitioning.mesh_context(exp.mesh, exp.rules):
    for r in range(runs):
      if alive[r]:
        reports[r] = loop.finish_run(exps[r], group.unstack(state, r), finals[r],
                                     workdirs[r], writers[r], selectors[r], end,
                                     epoch_of(end))
      else:
        selectors[r].close()
  return reports


def load_runs(text: str) -> list[dict]:
  """--runs: a JSON list of {"workdir": str, "overrides": {dotted key: value}}, or
  @PATH of a file holding it."""
  if text.startswith("@"):
    with open(text[1:]) as f:
      text = f.read()
  try:
    runs = json.loads(text)
  except ValueError as e:
    raise ValueError(f"--runs is not JSON ({e}); give a list of "
                     '{"workdir": ..., "overrides": {...}} objects or @file.json') from None
  if (not isinstance(runs, list) or not runs
      or not all(isinstance(r, dict) and isinstance(r.get("workdir"), str) for r in runs)):
    raise ValueError('--runs must be a non-empty JSON list of {"workdir": ..., '
                     '"overrides": {...}} objects')
  for r in runs:
    unknown = sorted(set(r) - {"workdir", "overrides"})
    if unknown:
      raise ValueError(f"--runs entry {r['workdir']!r} has unknown fields {unknown}")
  return runs


def run_configs(config: ml_collections.ConfigDict,
                runs: list[dict]) -> list[ml_collections.ConfigDict]:
  """config with each run's overrides applied (ValueError naming a key the config lacks)."""
  keys = set(traverse_util.flatten_dict(config.to_dict(), sep="."))
  out = []
  for r in runs:
    c = copy.deepcopy(config)
    for key, value in r.get("overrides", {}).items():
      problem = None if key in keys else "no such key"
      if problem is None:
        try:
          c.update_from_flattened_dict({key: value})
        except (KeyError, AttributeError, TypeError) as e:
          problem = f"{type(e).__name__}: {e}"
      if problem is not None:
        raise ValueError(f"--runs entry {r['workdir']!r}: cannot set {key}={value!r} "
                         f"({problem}); keys are those of experiments/configs/base.py")
    out.append(c)
  return out


def _cli() -> None:
  from absl import app
  from absl import flags
  from absl import logging
  from ml_collections import config_flags

  from train import cli

  config_flag = config_flags.DEFINE_config_file(
      "config", None, "Config file (experiments/configs/*.py); --config.<key>=<value> "
      "overrides apply to every run.", lock_config=True)
  runs_flag = flags.DEFINE_string(
      "runs", None, 'JSON list of {"workdir": DIR, "overrides": {"seed": 0, '
      '"train.learning_rate": 0.001, ...}} (or @file.json): one entry per run.')
  flags.mark_flags_as_required(["config", "runs"])

  def main(argv):
    if len(argv) > 1:
      raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    if not flags.FLAGS["verbosity"].present:
      logging.set_verbosity(logging.ERROR)
    runs = load_runs(runs_flag.value)
    configs = run_configs(config_flag.value, runs)
    workdirs = [os.path.abspath(r["workdir"]) for r in runs]
    reports = train_group(configs, workdirs)
    for w, report in zip(workdirs, reports):
      if report is None:
        print(f"{w}: diverged, no final.json")
        continue
      scores = ", ".join(f"{k} {v:.4f}" for k, v in report.items()
                         if isinstance(v, float) and k not in ("tokens", "params"))
      print(f"{w}: {report['split']} {scores}")
    return 1 if any(r is None for r in reports) else 0

  cli.run(main)


if __name__ == "__main__":
  _cli()
