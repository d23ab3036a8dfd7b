"""Everything a config builds (tokenizer, model, mesh, optimizer, shardings), in one place.

Training, evaluation and generation all start here, so a workdir is always read back the
same way it was written: `config.json` + `tokenizer/` + `checkpoints/`.
"""
from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
from typing import Any, Callable, Optional

import flax.linen as nn
import jax
import ml_collections
import optax
from jax.experimental import multihost_utils
from jax.sharding import Mesh

import data as data_lib
from experiments.configs import base as config_schema
import model as model_lib
from model import rnn
from model.layers import check
from train import epochs as epochs_lib
from train import objectives
from train import optimizer as optimizer_lib
from train import partitioning
from train import state as state_lib
from train import step as step_lib
from train import tasks as tasks_lib
from train import workdir as workdir_lib


@dataclasses.dataclass
class Experiment:
  """The pieces of a run that do not change while it trains."""
  config: ml_collections.ConfigDict
  workdir: str
  tokenizer: Any
  model: nn.Module
  model_config: model_lib.ModelConfig
  mesh: Mesh
  rules: tuple  # logical -> mesh axis table (partitioning.axis_rules(config.mesh.rules))
  tx: optax.GradientTransformation
  schedule: Callable
  task: tasks_lib.Task  # config.objective's: dataset, batch keys, end-of-run reports
  loss_fn: objectives.LossFn
  abstract_state: state_lib.TrainState
  shardings: state_lib.TrainState
  # train.epochs > 0 (train/epochs.py): the train split's tokens and the steps of one pass
  # (config.train.steps is then epochs x steps_per_epoch); 0 when the budget is in steps.
  epoch_tokens: int = 0
  steps_per_epoch: int = 0
  # params -> the task's frozen trees (Task.make_frozen(config, tokenizer)); None: none.
  frozen_fn: Optional[state_lib.FrozenFn] = None
  # () -> the state's initial carry (carry_fn(config, model config)); None: none.
  carry_fn: Optional[state_lib.CarryFn] = None


# Counts in config.train that the loop reads: key, least value, what the value means.
_LOOP_COUNTS = (
    ("steps", 1, "it is the number of batches to train on"),
    ("log_every", 1, "it is the steps between logged train metrics"),
    ("eval_every", 1, "it is the steps between evaluations"),
    ("checkpoint_every", 1, "it is the steps between checkpoints"),
    ("keep_checkpoints", 1, "a rerun resumes from the latest kept checkpoint"),
    ("eval_batches", 0, "0 evaluates the whole eval split"),
    ("final_eval_batches", 0, "0 evaluates the whole eval split"),
)


def validate(config: ml_collections.ConfigDict) -> None:
  """Check every value that can be checked before data is prepared or anything compiles.

  The first bad value raises ValueError("<key>=<value> <problem>; <fix>"); build() calls
  this before it trains a tokenizer or prepares data.
  """
  m = copy.deepcopy(config.model)
  m.vocab_size = m.vocab_size or 1
  if m.family not in model_lib.FAMILIES:
    raise ValueError(f"unknown model.family={m.family!r}; choose one of "
                     f"{', '.join(model_lib.FAMILIES)}")
  task = tasks_lib.for_config(config)  # the objective, and the family it trains
  check_owned_keys(config)
  _check_report_keys(config)
  model = task.wrap(model_lib.build(m), config)  # model.* (and task.*) keys; no init
  task.make_loss_fn(config, model)  # the loss's train.* keys
  for key, least, meaning in _LOOP_COUNTS:
    check(config.train[key] >= least, f"train.{key}", config.train[key],
          f"must be an integer >= {least}", meaning)
  check(config.train.xla_cpu_scheduler in step_lib.CPU_SCHEDULERS, "train.xla_cpu_scheduler",
        config.train.xla_cpu_scheduler, "is not a scheduler",
        f"choose one of {', '.join(step_lib.CPU_SCHEDULERS)}")
  check(0 <= config.train.peak_flops < math.inf, "train.peak_flops", config.train.peak_flops,
        "must be a finite number >= 0", "0 measures the peak at start-up")
  check(0 <= config.train.epochs < math.inf, "train.epochs", config.train.epochs,
        "must be a finite number >= 0", "0 gives the budget in train.steps")
  check(config.train.eval_every_epochs == 0 or (
      config.train.epochs > 0 and 0 < config.train.eval_every_epochs < math.inf),
        "train.eval_every_epochs", config.train.eval_every_epochs,
        "must be 0, or > 0 with a budget in train.epochs", "0 evaluates every train.eval_every")
  # the optimizer's train.* keys (those that need the steps per epoch: in build)
  optimizer_lib.make_optimizer(config.train, seq_len=config.data.seq_len)
  data_lib.check_config(config.data, jax.process_count())
  task.check_data_config(config.data)
  check(not config.data.contiguous or config.model.family == "lstm", "data.contiguous",
        config.data.contiguous, f"carries an LSTM's state; model.family is "
        f"{config.model.family!r}", "set it False (or model.family='lstm')")
  check(not (config.data.contiguous and config.data.random_windows), "data.contiguous",
        config.data.contiguous, "and data.random_windows both pick the train windows",
        "set one of them False")
  if config.data.seq_len > config.model.max_len:
    raise ValueError(
        f"data.seq_len={config.data.seq_len} is longer than model.max_len="
        f"{config.model.max_len}; raise model.max_len or lower data.seq_len")
  mesh = partitioning.make_mesh(config.mesh)
  partitioning.axis_rules(config.mesh.rules)
  partitioning.batch_size_per_step_check(config.data.batch_size, mesh)


def check_owned_keys(config: ml_collections.ConfigDict) -> None:
  """A key one family or objective owns (base.py's OWNERS) keeps its default elsewhere:
  ValueError naming the key, its owners and the fix."""
  defaults = config_schema.get_config()
  for key, (selector, owners) in config_schema.OWNERS.items():
    if _in_use(config, key):
      continue
    chosen = config[selector]
    section, _, name = key.partition(".")
    keys = [f"{section}.{k}" for k in defaults[section]] if not name else [key]
    for k in keys:
      value, default = _lookup(config, k), _lookup(defaults, k)
      if value == default:
        continue
      names = (", ".join(owners[:-1]) + " and " if len(owners) > 1 else "") + owners[-1]
      if selector == config_schema.FAMILY:
        whose = f"the {names} famil{'ies' if len(owners) > 1 else 'y'}"
        fix = f"train a model of that family ({selector}={owners[0]}, ...)"
      elif selector == config_schema.OBJECTIVE:
        whose = f"the {names} objective{'s' if len(owners) > 1 else ''}"
        fix = f"set {selector}={owners[0]}" if len(owners) == 1 else f"set {selector} to one"
      else:
        whose = f"{selector}={' or '.join(owners)}"
        fix = f"set {selector}={owners[0]}"
      raise ValueError(
          f"{k}={value!r} is for {whose} only ({selector}={chosen!r} here); drop the "
          f"override to keep its default {default!r}, or {fix}")


def _check_report_keys(config: ml_collections.ConfigDict) -> None:
  """decode.* (encoder_decoder family) and chat.* (chat_sft objective): read after
  training (final report, eval.chat), checked before it."""
  if _in_use(config, "decode"):
    d = config.decode
    for key, least, meaning in (
        ("beam_size", 1, "1 decodes greedily"), ("batch_size", 1, "examples decoded at once"),
        ("max_len", 0, "0 means data.max_target_len"),
        ("max_examples", 0, "0 decodes the whole split"),
        ("num_samples", 0, "0 writes no example outputs")):
      check(d[key] >= least, f"decode.{key}", d[key],
            f"must be an integer >= {least} (encoder_decoder decoding)", meaning)
    check(d.alpha >= 0, "decode.alpha", d.alpha, "must be >= 0 (encoder_decoder decoding)",
          "0 disables the length penalty")
  if _in_use(config, "chat"):
    ch = config.chat
    check(ch.max_new_tokens >= 1, "chat.max_new_tokens", ch.max_new_tokens,
          "must be an integer >= 1 (chat_sft replies)", "it is the reply budget in tokens")
    check(ch.temperature >= 0, "chat.temperature", ch.temperature,
          "must be >= 0 (chat_sft replies)", "0 is greedy")
    check(0 < ch.top_p <= 1, "chat.top_p", ch.top_p, "must be in (0, 1] (chat_sft replies)",
          "1 is off")
    check(ch.repetition_penalty > 0, "chat.repetition_penalty", ch.repetition_penalty,
          "must be > 0 (chat_sft replies)", "1 is off")


def _in_use(config: ml_collections.ConfigDict, key: str) -> bool:
  """Whether this config's family/objective owns `key` (base.py's OWNERS)."""
  selector, owners = config_schema.OWNERS[key]
  return config[selector] in owners


def _lookup(config: ml_collections.ConfigDict, key: str) -> Any:
  section, name = key.split(".", 1)
  return config[section][name]


def save_config(config: ml_collections.ConfigDict, workdir: str) -> None:
  """Write (atomically) the resolved config.json; a run does it once its state exists."""
  if jax.process_index() == 0:
    workdir_lib.atomic_write(os.path.join(workdir, "config.json"),
                             config.to_json_best_effort(indent=2, sort_keys=True))


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The resolved config a run saved in its workdir (keys it lacks: base.py's defaults)."""
  path = os.path.join(workdir, "config.json")
  if not os.path.exists(path):
    raise ValueError(f"{workdir} has no config.json: not an attnlab workdir (train into it "
                     "first with python -m train.main --workdir=...)")
  with open(path) as f:
    return config_schema.complete(json.load(f))  # keys added since: their defaults


def _process_0_first(fn: Callable[[], Any]) -> Any:
  """Run fn on process 0, then on the rest: first use writes files (TFDS prepare, tokenizer)
  that concurrent processes would race on; later calls only read them."""
  if jax.process_count() == 1:
    return fn()
  if jax.process_index() == 0:
    out = fn()
  multihost_utils.sync_global_devices("attnlab: process 0 prepared data and tokenizer")
  return out if jax.process_index() == 0 else fn()


def build(config: ml_collections.ConfigDict, workdir: str,
          tokenizer: Optional[Any] = None) -> Experiment:
  """Validate, get the tokenizer (trained once, then reloaded), build model/optimizer/mesh.

  Fills config.model.vocab_size from the tokenizer when it is 0 (exp.config); writes no
  config.json (the caller does, once a state was restored or created).
  """
  validate(config)
  os.makedirs(workdir, exist_ok=True)
  def encodes_eval(tok: Any) -> None:  # before a char tokenizer is saved: eval must fit it
    data_lib.check_encodable(config.data, tok, config.data.eval_split)

  if tokenizer is None:
    tokenizer = _process_0_first(lambda: data_lib.build_tokenizer(
        config.data, workdir,
        lambda: data_lib.iter_texts(config.data, config.data.train_split), encodes_eval))
  else:
    encodes_eval(tokenizer)
  _process_0_first(lambda: [data_lib.get_source(config.data, split) for split in
                            (config.data.train_split, config.data.eval_split)])
  config = copy.deepcopy(config)
  epoch_tokens = per_epoch = 0
  if config.train.epochs > 0:  # the budget in epochs replaces train.steps (resolved here)
    epoch_tokens = epochs_lib.split_tokens(config.data, tokenizer, config.data.train_split)
    per_epoch = epochs_lib.steps_per_epoch(epoch_tokens, config.data)
    steps = epochs_lib.total_steps(config.train.epochs, per_epoch)
    if config.train.steps not in (steps, config_schema.get_config().train.steps):
      workdir_lib.warn(f"train.epochs={config.train.epochs:g} sets the budget: "
                       f"{steps:,} steps replace train.steps={config.train.steps:,}")
    config.train.steps = steps
    if config.train.eval_every_epochs > 0:
      config.train.eval_every = max(1, round(config.train.eval_every_epochs * per_epoch))
  if not config.model.vocab_size:
    config.model.vocab_size = tokenizer.vocab_size
  elif config.model.vocab_size < tokenizer.vocab_size:
    raise ValueError(f"model.vocab_size={config.model.vocab_size} is smaller than the "
                     f"tokenizer's {tokenizer.vocab_size}; set it to 0 to follow the tokenizer")
  task = tasks_lib.get(config.objective)
  model = task.wrap(model_lib.build(config.model), config)  # + fine-tuning head
  mesh = partitioning.make_mesh(config.mesh)
  rules = partitioning.axis_rules(config.mesh.rules)
  tx = optimizer_lib.make_optimizer(config.train, per_epoch, config.data.seq_len)
  frozen_fn = task.make_frozen(config, tokenizer) if task.make_frozen is not None else None
  carry = carry_fn(config, model.cfg)
  abstract, shardings = state_lib.state_shardings(
      model, tx, config.data.seq_len, config.seed, mesh, rules, carry, frozen_fn)
  return Experiment(
      config=config, workdir=workdir, tokenizer=tokenizer, model=model,
      model_config=model.cfg, mesh=mesh, rules=rules, tx=tx,
      schedule=optimizer_lib.make_schedule(config.train, per_epoch), task=task,
      loss_fn=task.make_loss_fn(config, model), abstract_state=abstract,
      shardings=shardings, epoch_tokens=epoch_tokens, steps_per_epoch=per_epoch,
      frozen_fn=frozen_fn, carry_fn=carry)


def carry_fn(config: ml_collections.ConfigDict,
             model_config: Any) -> Optional[state_lib.CarryFn]:
  """The state's initial carry (None: it carries none): a stateful run's recurrent state
  (data.contiguous: one per batch row) or the task's own (Task.make_carry)."""
  if config.data.contiguous:
    rows = config.data.batch_size
    return lambda: rnn.zero_carry(model_config, rows)
  task = tasks_lib.get(config.objective)
  return task.make_carry(config) if task.make_carry is not None else None


def from_workdir(workdir: str) -> Experiment:
  """Rebuild a trained run's experiment from its workdir (config + saved tokenizer)."""
  config = load_config(workdir)
  tokenizer = data_lib.load_tokenizer(os.path.join(workdir, "tokenizer"))
  return build(config, workdir, tokenizer=tokenizer)
