"""Helpers shared by the scaling tests: run the real jit train step for a few steps."""
import jax

import data as data_lib
from train import experiment
from train import partitioning
from train import state as state_lib
from train import step as step_lib


def mesh_config(config, data: int, fsdp: int = 1, tensor: int = 1):
  """A copy of `config` on mesh (data, fsdp, tensor), vocab padded to split over tensor."""
  c = config.copy_and_resolve_references()
  c.mesh.data, c.mesh.fsdp, c.mesh.tensor = data, fsdp, tensor
  c.model.vocab_size = 64  # the char vocab (33) does not split over tensor=2
  return c


def run_steps(config, workdir: str, steps: int, batches=None, params=None):
  """(experiment, final state, per-step losses) of `steps` real train steps, from the
  config's init or from `params` (host arrays, fresh optimizer state)."""
  exp = experiment.build(config, workdir)
  if batches is None:
    it = iter(data_lib.make_lm_dataset(exp.config.data, exp.tokenizer,
                                       exp.config.data.train_split, seed=config.seed,
                                       train=True))
    batches = [next(it) for _ in range(steps)]
  state = state_lib.create_train_state(exp.model, exp.tx, config.data.seq_len, config.seed,
                                       exp.mesh, exp.shardings, exp.rules)
  if params is not None:
    state = jax.device_put(state.replace(params=params, opt_state=exp.tx.init(params)),
                           exp.shardings)
  train_fn, _ = step_lib.compile_steps(exp.loss_fn, exp.tx, exp.shardings, exp.mesh,
                                       exp.schedule, config.train.xla_cpu_scheduler)
  losses = []
  with partitioning.mesh_context(exp.mesh, exp.rules):
    for batch in batches[:steps]:
      state, metrics = train_fn(state, partitioning.global_batch(batch, exp.mesh))
      losses.append(float(jax.device_get(metrics["loss"])))
  return exp, state, losses


def multihost_config(corpus: str, data_dir: str):
  """6 steps, a checkpoint every 3; enough validation text for 2 processes to split."""
  from tests import tiny
  c = tiny.tiny_config(corpus, data_dir, steps=6, eval_every=100, checkpoint_every=3,
                       eval_batches=1)
  c.data.val_fraction = 0.25
  c.sample.num_samples = 0
  c.mesh.data = -1  # every device of every process
  return c


def step_temp_bytes(config, workdir: str) -> int:
  """XLA's temp buffer size (per device) of the compiled train step of `config`."""
  return compiled_step(config, workdir).memory_analysis().temp_size_in_bytes


def compiled_step(config, workdir: str):
  """The compiled train step of `config`, lowered on the experiment's abstract state (the
  program the loop compiles, without an init)."""
  exp = experiment.build(config, workdir)
  it = iter(data_lib.make_lm_dataset(exp.config.data, exp.tokenizer,
                                     exp.config.data.train_split, seed=config.seed, train=True))
  train_fn, _ = step_lib.compile_steps(exp.loss_fn, exp.tx, exp.shardings, exp.mesh,
                                       exp.schedule, config.train.xla_cpu_scheduler)
  with partitioning.mesh_context(exp.mesh, exp.rules):
    compiled = train_fn.lower(exp.abstract_state,
                              partitioning.global_batch(next(it), exp.mesh)).compile()
  return compiled
