"""The training loop: data -> jit step -> metrics, eval, checkpoints, final report.

Rerunning with the same workdir resumes from the latest checkpoint (state, RNG and data
position), so an interrupted run and an uninterrupted one log the same numbers.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from typing import Callable, Optional

import jax
import ml_collections
import numpy as np
from absl import logging
from tqdm import tqdm

from eval import end_of_run
from eval import evaluate as evaluate_lib
from eval import plots
from model import layers as model_layers
from train import checkpoint as checkpoint_lib
from train import experiment as experiment_lib
from train import flops as flops_lib
from train import graceful_stop
from train import init_from as init_from_lib
from train import model_selection
from train import optimizer as optimizer_lib
from train import partitioning
from train import provenance
from train import state as state_lib
from train import step as step_lib
from train import workdir as workdir_lib
from train.metrics_writer import MetricsWriter


_STEP_MEANS = ("loss", "grad_norm", "learning_rate")  # per-step values, not sums


class Throughput:
  """Tokens/s of the training steps since the last reading: time spent inside `paused()`
  (evaluations, checkpoint saves) is left out, so a row after an evaluation reads the
  same speed as the others."""

  def __init__(self, tokens_per_step: int, step: int):
    self.tokens_per_step, self._step, self._start = tokens_per_step, step, time.perf_counter()

  @contextlib.contextmanager
  def paused(self, state: object):
    """Leave out what runs inside, after the steps dispatched before it finish (`state`)."""
    jax.block_until_ready(state)
    start = time.perf_counter()
    try:
      yield
    finally:
      self._start += time.perf_counter() - start

  def tokens_per_sec(self, done: int) -> float:
    """Per second since the last reading (or the start), `done` steps in; starts anew."""
    now = time.perf_counter()
    rate = self.tokens_per_step * (done - self._step) / max(now - self._start, 1e-9)
    self._step, self._start = done, now
    return rate


def mfu_scale(exp: experiment_lib.Experiment) -> Optional[float]:
  """MFU per token/s: the task's training FLOPs per token over the peak (train.peak_flops,
  or measured once per machine in model.dtype); None when the task counts no FLOPs."""
  model_flops = exp.task.flops_per_token(exp.config, exp.model_config)
  if model_flops is None:
    return None
  peak = exp.config.train.peak_flops or flops_lib.system_peak_flops(
      model_layers.DTYPES[exp.config.model.dtype])
  return model_flops / peak


def _mean_of(sums_list: list[dict], summarize: Callable[[dict], dict]) -> dict:
  """Average a window of per-step metrics: token-weighted loss/accuracy, plain means else."""
  host = jax.device_get(sums_list)
  total = {k: np.sum([m[k] for m in host], axis=0) for k in host[-1] if k not in _STEP_MEANS}
  out = summarize(total)
  out.pop("tokens")
  for key in ("grad_norm", "learning_rate"):
    if key in host[-1]:
      out[key] = float(np.mean([m[key] for m in host]))
  return out


def _note(message: str) -> None:
  """A line the user should see at start (absl INFO is hidden by default): stderr, process 0."""
  logging.info(message)
  if jax.process_index() == 0:
    print(f"attnlab: {message}", file=sys.stderr, flush=True)


def _check_finite(metrics: dict, step: int, last_good: Optional[int]) -> None:
  if not math.isfinite(metrics["loss"]):
    raise FloatingPointError(
        f"training loss became {metrics['loss']} by step {step}; the last good checkpoint "
        f"(step {last_good}) is kept and no bad state was saved. Lower train.learning_rate, "
        "keep train.grad_clip > 0, or add warmup (train.warmup_steps), then rerun.")


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       stop_after: Optional[int] = None) -> Optional[dict]:
  """Train config.train.steps steps (resuming if the workdir has a checkpoint).

  The workdir is locked for the run (a second run on it gets a ValueError naming this
  one). SIGTERM/SIGINT finish the step, save and raise graceful_stop.Stopped.
  stop_after: leave after that step with a checkpoint and no final evaluation, as a
  preempted job would (the schedule still follows train.steps). Returns None then.
  A run that already finished returns its final.json and writes nothing.
  """
  experiment_lib.validate(config)  # before the workdir is created or locked
  end_of_run.check_config(config)  # sample.*
  os.makedirs(workdir, exist_ok=True)
  directory = os.path.join(workdir, "checkpoints")
  with workdir_lib.WorkdirLock(workdir), graceful_stop.StopOnSignal() as stop:
    try:
      with contextlib.closing(checkpoint_lib.Checkpointer(
          directory, keep=config.train.keep_checkpoints)) as ckpt:
        return _run(config, workdir, stop_after, stop, ckpt)
    except Exception as e:  # ENOSPC in a checkpoint, metrics.jsonl, tb/, samples...
      if not checkpoint_lib.is_disk_full(e):
        raise
      raise checkpoint_lib.DiskFullError(directory) from None


def _resumed_config(config: ml_collections.ConfigDict, workdir: str,
                    ckpt: checkpoint_lib.Checkpointer) -> ml_collections.ConfigDict:
  """The config to resume with (checked against the saved one), or `config` if fresh."""
  latest = ckpt.latest_step()
  if latest is None:
    return config
  if os.path.exists(os.path.join(workdir, "config.json")):
    saved = experiment_lib.load_config(workdir)
  else:
    saved = ckpt.saved_config(latest)
  return workdir_lib.resume_config(config, saved, workdir)


def _data_seed(config: ml_collections.ConfigDict, ckpt: checkpoint_lib.Checkpointer,
               latest: Optional[int]) -> tuple[int, bool]:
  """(seed of the data order, whether to restore the saved data position)."""
  if latest is None or ckpt.has_data_position(latest):
    return config.seed, True
  if not config.train.restart_data_order:
    raise ValueError(
        f"checkpoint step {latest} in {ckpt.directory} has no data position for "
        f"{jax.process_count()} process(es) ({ckpt.data_position_file(latest)}): it was saved "
        "by a different number of processes, or that file was lost. Resuming would replay "
        "other batches than an uninterrupted run. Set --config.train.restart_data_order=True "
        "to restore params, optimizer and RNG exactly and draw a fresh data order.")
  workdir_lib.warn(f"step {latest} has no data position for this process layout: the train "
                   "state restores exactly; the data stream restarts in a new order "
                   "(train.restart_data_order=True)")
  return int(np.random.SeedSequence([config.seed, latest]).generate_state(1)[0] >> 1), False


def _finished_report(workdir: str, step: int) -> Optional[dict]:
  path = os.path.join(workdir, "final.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    report = json.load(f)
  return report if report.get("step") == step else None


def _run(config: ml_collections.ConfigDict, workdir: str, stop_after: Optional[int],
         stop: graceful_stop.StopOnSignal,
         ckpt: checkpoint_lib.Checkpointer) -> Optional[dict]:
  config = init_from_lib.prepare_workdir(config, workdir)  # tokenizer settings of init_from
  config = _resumed_config(config, workdir, ckpt)
  exp = experiment_lib.build(config, workdir)
  config, t = exp.config, exp.config.train
  data_seed, data_position = _data_seed(config, ckpt, ckpt.latest_step())
  train_ds = exp.task.make_dataset(
      config.data, exp.tokenizer, config.data.train_split, seed=data_seed,
      process_index=jax.process_index(), process_count=jax.process_count(), train=True,
      task_cfg=config.task)
  train_iter = iter(train_ds)
  selector = model_selection.ModelSelector.from_config(workdir, t)  # best checkpoint
  train_fn, eval_fn = step_lib.compile_steps(exp.loss_fn, exp.tx, exp.shardings, exp.mesh,
                                             exp.schedule, t.xla_cpu_scheduler)
  plateau_fn = (step_lib.compile_plateau_update(t, exp.shardings, exp.mesh)
                if t.plateau_factor > 0 else None)
  latest = None
  if ckpt.latest_step() is not None:
    state, latest = ckpt.restore_newest(exp.abstract_state,
                                        train_iter if data_position else None)
    logging.info("resumed from step %d in %s", latest, ckpt.directory)
    report = _finished_report(workdir, latest)
    if report is not None and (latest >= t.steps or selector.stopped):
      workdir_lib.warn(f"{workdir} already finished at step {latest}; nothing to do (raise "
                       "train.steps to continue it)")
      return report
  else:
    state = state_lib.create_train_state(exp.model, exp.tx, config.data.seq_len,
                                         config.seed, exp.mesh, exp.shardings, exp.rules,
                                         exp.carry_fn, exp.frozen_fn)
    state = init_from_lib.load_into(exp, state)  # pretrained params when init_from is set
    state = state_lib.refresh_frozen(state, exp.frozen_fn, exp.shardings)  # from them
  experiment_lib.save_config(config, workdir)  # only once the state exists
  writer = MetricsWriter(workdir, latest or 0)
  start = int(jax.device_get(state.step))
  provenance.record(workdir, start)  # code, libraries, machine of this start
  logging.info("model: %s params; mesh %s", f"{state.param_count:,}", dict(exp.mesh.shape))
  epoch_of = lambda done: {}  # train.epochs: rows of metrics.jsonl get the epoch reached
  if exp.steps_per_epoch:
    epoch_of = lambda done: {"epoch": done / exp.steps_per_epoch}
    _note(f"epoch = {exp.steps_per_epoch:,} steps, {exp.epoch_tokens:,} tokens (the "
          f"{config.data.train_split!r} split's tokens - 1 // (data.batch_size "
          f"{config.data.batch_size} x data.seq_len {config.data.seq_len})); "
          f"train.epochs={t.epochs:g} = {t.steps:,} steps (train.steps)")

  tokens_per_step = config.data.batch_size * config.data.seq_len
  mfu_per_token = mfu_scale(exp)
  pending: list[dict] = []
  last_saved = latest
  early_stop = False
  bar = tqdm(total=t.steps, initial=start, disable=not t.progress or jax.process_index() != 0,
             desc="train", dynamic_ncols=True)
  throughput = Throughput(tokens_per_step, start)
  try:
    with partitioning.mesh_context(exp.mesh, exp.rules), stop.training():
      for step in range(start, start if selector.stopped else t.steps):  # early-stopped
        local = next(train_iter)
        if step == start:  # where data meets the loss: the task's batch keys, once
          exp.task.check_batch(local)
        batch = partitioning.global_batch(local, exp.mesh)
        state, metrics = train_fn(state, batch)
        pending.append(metrics)
        done = step + 1
        if done % t.log_every == 0 or done == t.steps:
          row = _mean_of(pending, exp.task.summarize)
          pending = []
          _check_finite(row, done, last_saved)
          row["tokens_per_sec"] = throughput.tokens_per_sec(done)
          if mfu_per_token is not None:
            row["mfu"] = row["tokens_per_sec"] * mfu_per_token
          writer.write(done, "train", {**row, **epoch_of(done)})
          bar.set_postfix(loss=f"{row['loss']:.3f}", tok_s=f"{row['tokens_per_sec']:,.0f}")
        if done % t.eval_every == 0 and done != t.steps:
          with throughput.paused(state):
            row = evaluate_lib.evaluate(exp, state.params, eval_fn, t.eval_batches,
                                       frozen=state.frozen)
            if plateau_fn is not None:  # before the checkpoint below: a resume is exact
              state = plateau_fn(state, row["loss"])
              row["lr_scale"] = float(jax.device_get(optimizer_lib.lr_scale(state.opt_state)))
            writer.write(done, "eval", {**row, **epoch_of(done)})
            early_stop = selector.update(done, state, row, config.to_dict())
        signalled = stop.requested()
        stopping = done == stop_after or early_stop or signalled
        if done % t.checkpoint_every == 0 or done == t.steps or stopping:
          with throughput.paused(state):
            if pending:  # never save a state whose loss went bad since the last log
              _check_finite(_mean_of(pending[-1:], exp.task.summarize), done, last_saved)
            ckpt.save(done, state, train_iter, config.to_dict())
          last_saved = done
        bar.update(1)
        if stopping:
          break
  finally:  # finish (or fail) the pending async save before leaving
    bar.close()
    ckpt.close()
  if stop.signum is not None and last_saved == int(jax.device_get(state.step)) < t.steps:
    writer.close()
    selector.close()
    raise graceful_stop.Stopped(last_saved, stop.signum)
  if stop_after is not None and stop_after < t.steps:
    writer.close()
    selector.close()
    return None

  end = int(jax.device_get(state.step))  # t.steps, or where early stopping left off
  final = evaluate_lib.evaluate(exp, state.params, eval_fn, t.final_eval_batches,
                                frozen=state.frozen)
  return finish_run(exp, state, final, workdir, writer, selector, end, epoch_of(end))


def finish_run(exp: experiment_lib.Experiment, state: state_lib.TrainState, final: dict,
               workdir: str, writer: MetricsWriter, selector: model_selection.ModelSelector,
               end: int, extra: dict) -> dict:
  """The end of a finished run (train/loop.py's, and each run's of train/packed.py): its
  final evaluation `final` (the whole split, or train.final_eval_batches) as the final_eval
  row (+ `extra`, e.g. the epoch) with the task's end-of-run metrics, final.json, loss.png
  and the task's outputs (samples.txt). Returns final.json's report."""
  config = exp.config
  # what the task reports beyond the evaluation (eval/end_of_run.py), e.g. BLEU
  final.update(end_of_run.final_metrics(exp, state.params, config.data.eval_split,
                                        config.train.steps))
  writer.write(end, "final_eval", {**final, **extra})
  writer.close()
  selector.update(end, state, final, config.to_dict())
  selector.close()
  final.update(end_of_run.report_metrics(exp, state.params))  # final.json only
  report = {"step": end, "split": config.data.eval_split, **final,
            "params": state.param_count,
            "non_embedding_params": state.non_embedding_param_count, **selector.summary()}
  if jax.process_index() == 0:
    with open(os.path.join(workdir, "final.json"), "w") as f:
      json.dump(report, f, indent=2)
    plots.plot_loss_curve(os.path.join(workdir, "metrics.jsonl"),
                          os.path.join(workdir, "loss.png"))
  end_of_run.write_outputs(exp, state.params, workdir)  # e.g. samples.txt
  return report
